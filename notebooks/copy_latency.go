package notebooks

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
)

// Experiment 2: p50 and p99 write latency during a copy, against the number of keys in the bucket.

var (
	// copySizes are the keys per bucket swept (the image grows with them; so does a blocking copy).
	copySizes = []int{25, 50, 100, 200, 400, 800}
	// copySizeSeeds: each seed copies every bucket once, so each point pools copySizeCopies copies
	// per seed.
	copySizeSeeds = []uint64{1, 2, 3}
)

// copySizeCopies is one copy of each of the cluster's 4 buckets.
const copySizeCopies = 4

// copySample is the pooled result of one (strategy, size) point.
type copySample struct {
	strategy      kv.Strategy
	keysPerBucket int
	copies        int
	meanEntries   float64
	meanCopyMS    float64
	writeLatency  []float64
	verdicts      map[harness.Verdict]int
}

func runCopyLatencyVsSize(outDir string) error {
	type job struct {
		strategy kv.Strategy
		size     int
		seed     uint64
	}
	var jobs []job
	for _, st := range strategies {
		for _, size := range copySizes {
			for _, seed := range copySizeSeeds {
				jobs = append(jobs, job{st, size, seed})
			}
		}
	}
	type result struct {
		run copyRun
		err error
	}
	// ParallelSeeds runs the jobs by index and hands results back in order.
	indices := harness.AllSeeds.Seeds(0, len(jobs)) // job numbers 0..len(jobs)-1
	samples := map[[2]int]*copySample{}
	var firstErr error
	harness.ParallelSeeds(indices, runtime.GOMAXPROCS(0), func(i uint64) result {
		j := jobs[i]
		// The copies start once the key space is full and follow each other with room for the
		// slowest (blocking) copy of this size: about KeysPerBucket/4 chunks of 1 ms.
		copyEstimate := protocol.Duration(j.size/4+10) * protocol.Millisecond
		plan := copyPlan{Strategy: j.strategy, KeysPerBucket: j.size,
			CopySpacing: 2*copyEstimate + 20*protocol.Millisecond, Copies: copySizeCopies}
		r, err := runCopyPlan(plan, j.seed)
		return result{r, err}
	}, func(res result) {
		if res.err != nil {
			firstErr = res.err
			return
		}
		plan := res.run.Plan
		k := [2]int{int(plan.Strategy), plan.KeysPerBucket}
		s := samples[k]
		if s == nil {
			s = &copySample{strategy: plan.Strategy, keysPerBucket: plan.KeysPerBucket, verdicts: map[harness.Verdict]int{}}
			samples[k] = s
		}
		s.verdicts[res.run.Outcome.Final]++
		for _, c := range res.run.Creations {
			s.copies++
			s.meanEntries += float64(c.Entries)
			s.meanCopyMS += usToMS(c.InitializedUS - c.AnnounceSentUS)
			for _, op := range res.run.writesDuringCopy(c) {
				s.writeLatency = append(s.writeLatency, latencyMS(op))
			}
		}
	}, func() bool { return firstErr != nil })
	if firstErr != nil {
		return firstErr
	}

	p := newPlot("Write latency during a replica copy", "keys in the copied bucket (mean entries copied)", "write latency (ms)")
	useLogAxis(&p.X)
	useLogAxis(&p.Y)
	p.Legend.Left = true
	var rows [][]string
	var xs []float64 // the data's x values (log10), for the ticks and the margins
	for _, st := range strategies {
		var p50, p99 plotter.XYs
		for _, size := range copySizes {
			s := samples[[2]int{int(st), size}]
			s.meanEntries /= float64(s.copies)
			s.meanCopyMS /= float64(s.copies)
			x := s.meanEntries
			if st == strategies[0] {
				xs = append(xs, math.Log10(x))
			}
			p50 = append(p50, plotter.XY{X: x, Y: percentile(s.writeLatency, 0.5)})
			p99 = append(p99, plotter.XY{X: x, Y: percentile(s.writeLatency, 0.99)})
			rows = append(rows, []string{st.String(), fmt.Sprint(size), fmt.Sprint(s.copies), formatFloat(s.meanEntries),
				formatFloat(s.meanCopyMS), fmt.Sprint(len(s.writeLatency)), formatFloat(percentile(s.writeLatency, 0.5)),
				formatFloat(percentile(s.writeLatency, 0.99)), formatFloat(percentile(s.writeLatency, 1)),
				fmt.Sprint(s.verdicts[harness.VerdictPass]), fmt.Sprint(len(copySizeSeeds) - s.verdicts[harness.VerdictPass])})
		}
		for _, series := range []struct {
			xys    plotter.XYs
			label  string
			dashes []vg.Length
			shape  draw.GlyphDrawer
		}{{p50, "p50", nil, draw.CircleGlyph{}}, {p99, "p99", []vg.Length{vg.Points(5), vg.Points(3)}, draw.TriangleGlyph{}}} {
			l, sc, err := linePoints(logXYs(series.xys, true, true), strategyColor(st), series.dashes, series.shape)
			if err != nil {
				return err
			}
			p.Add(l, sc)
			p.Legend.Add(fmt.Sprintf("%s %s", st, series.label), l, sc)
		}
	}
	if math.IsInf(p.Y.Min, 0) {
		return fmt.Errorf("copy-latency-vs-size: no write completed during any copy")
	}
	p.Y.Min, p.Y.Max = p.Y.Min-0.15, p.Y.Max+0.15 // a little room above and below (log10 units)
	// Points stay off the axis edges, and every measured size is a labelled tick (the first one
	// included, which the 1-2-5 ticks would leave unlabelled).
	p.X.Min, p.X.Max = slices.Min(xs)-0.08, slices.Max(xs)+0.08
	var ticks []plot.Tick
	for _, x := range xs {
		ticks = append(ticks, plot.Tick{Value: x, Label: strconv.FormatFloat(math.Round(math.Pow(10, x)), 'f', 0, 64)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	if err := savePlot(outDir, "copy-latency-vs-size", p); err != nil {
		return err
	}
	return writeCSV(outDir, "copy-latency-vs-size",
		[]string{"strategy", "keys_per_bucket", "copies", "mean_entries_copied", "mean_copy_ms", "writes_during_copies",
			"write_p50_ms", "write_p99_ms", "write_max_ms", "runs_passed", "runs_failed"}, rows)
}
