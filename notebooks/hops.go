package notebooks

import (
	"fmt"
	"math"
	"runtime"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
)

// Experiment 9: how the distance between members changes a copy. The seed's question: a developer's
// machine seven network hops from the test machines, or a member one hop away inside the data
// center (sim.DataCenterTopology's two cases, and every count between). For 1 to 7 hops between
// servers (clients stay one hop from every server), state flush against blocking: how long one
// copy takes, how slow the writes made during it are, and how long the store takes to restore
// redundancy after a server crashes.

var (
	hopCounts = []int{1, 2, 3, 4, 5, 6, 7}
	hopSeeds  = []uint64{1, 2, 3, 4}
	// hopStrategies are the two correct strategies (naive is incorrect, see experiment 1).
	hopStrategies = []kv.Strategy{kv.StateFlush, kv.Blocking}
)

const (
	// hopPerHop is the propagation delay of one hop (sim.HopLatency adds up to half as much jitter).
	hopPerHop = 250 * protocol.Microsecond
	// hopKeysPerBucket sizes the bucket copied.
	hopKeysPerBucket = 100
	hopCopyAt        = protocol.Time(600 * protocol.Millisecond)
	// hopCrashAt is when server 0 crashes in the redundancy runs (it does not restart).
	hopCrashAt = protocol.Time(600 * protocol.Millisecond)
)

func hopPlan(hops int) *harness.HopPlan {
	return &harness.HopPlan{ServerHops: hops, ClientHops: 1, PerHop: hopPerHop}
}

// hopPoint is one (hops, strategy) cell, pooled over the seeds.
type hopPoint struct {
	hops              int
	strategy          kv.Strategy
	copyMS, restoreMS []float64 // per seed
	writeLatencyMS    []float64 // every write invoked during a copy
	passed, runs      int
	unrestored        int // redundancy runs that never got every bucket back to full copies
}

func runHopsExperiment(outDir string) error {
	type job struct {
		point int
		seed  uint64
	}
	var points []*hopPoint
	var jobs []job
	for _, h := range hopCounts {
		for _, st := range hopStrategies {
			points = append(points, &hopPoint{hops: h, strategy: st})
			for _, seed := range hopSeeds {
				jobs = append(jobs, job{len(points) - 1, seed})
			}
		}
	}
	type result struct {
		point             int
		copyMS, restoreMS float64
		writes            []float64
		passed            int
		restored          bool
		err               error
	}
	indices := harness.AllSeeds.Seeds(0, len(jobs)) // job numbers 0..len(jobs)-1
	var firstErr error
	harness.ParallelSeeds(indices, runtime.GOMAXPROCS(0), func(i uint64) result {
		j := jobs[i]
		pt := points[j.point]
		r := result{point: j.point}
		run, err := runCopyPlan(copyPlan{Strategy: pt.strategy, KeysPerBucket: hopKeysPerBucket, FirstCopyAt: hopCopyAt,
			CopySpacing: 200 * protocol.Millisecond, Copies: 1, Hops: hopPlan(pt.hops)}, j.seed)
		if err != nil {
			r.err = fmt.Errorf("hops %d, %s, seed %d: %w", pt.hops, pt.strategy, j.seed, err)
			return r
		}
		c := run.Creations[0]
		r.copyMS = usToMS(c.InitializedUS - c.MittOpenUS)
		for _, op := range run.writesDuringCopy(c) {
			r.writes = append(r.writes, latencyMS(op))
		}
		if run.Outcome.Final == harness.VerdictPass {
			r.passed++
		}
		r.restoreMS, r.restored, err = restoreTime(pt.hops, pt.strategy, j.seed)
		if err != nil {
			r.err = fmt.Errorf("hops %d, %s, seed %d, crash run: %w", pt.hops, pt.strategy, j.seed, err)
		}
		return r
	}, func(r result) {
		if r.err != nil {
			firstErr = r.err
			return
		}
		pt := points[r.point]
		pt.runs++
		pt.passed += r.passed
		pt.copyMS = append(pt.copyMS, r.copyMS)
		pt.writeLatencyMS = append(pt.writeLatencyMS, r.writes...)
		if r.restored {
			pt.restoreMS = append(pt.restoreMS, r.restoreMS)
		} else {
			pt.unrestored++
		}
	}, func() bool { return firstErr != nil })
	if firstErr != nil {
		return firstErr
	}
	return plotHops(outDir, points)
}

// restoreTime crashes server 0 of the hop-measured notebook cluster under load and returns how long
// the store took to have every bucket at full redundancy again, read from the trace.
func restoreTime(hops int, st kv.Strategy, seed uint64) (float64, bool, error) {
	cp := copyPlan{Strategy: st, KeysPerBucket: hopKeysPerBucket, FirstCopyAt: hopCopyAt, CopySpacing: 200 * protocol.Millisecond, Copies: 1, Hops: hopPlan(hops)}
	scn, err := cp.scenario()
	if err != nil {
		return 0, false, err
	}
	scn.Name, scn.Description = "hops-crash", fmt.Sprintf("server 0 crashes at %v, %d hops between servers", protocol.Readable(protocol.Duration(hopCrashAt)), hops)
	scn.Script = []harness.Action{{At: hopCrashAt, Kind: harness.ActionCrash, Node: 0}}
	initial, err := initialHoldings(scn)
	if err != nil {
		return 0, false, err
	}
	o, err := harness.Run(scn, seed, harness.Options{})
	if err != nil {
		return 0, false, err
	}
	copies := newCopyTimeline(scn.KV.Buckets, initial)
	crashed := false
	for i := range o.Records {
		r := &o.Records[i]
		if err := copies.apply(r); err != nil {
			return 0, false, err
		}
		if r.TimeUS < int64(hopCrashAt) {
			continue
		}
		if copies.minCopies() < scn.KV.Redundancy {
			crashed = true
		} else if crashed {
			return usToMS(r.TimeUS - int64(hopCrashAt)), true, nil
		}
	}
	return 0, false, nil
}

func plotHops(outDir string, points []*hopPoint) error {
	title := fmt.Sprintf("Distance between members: 1 to 7 hops of %v (clients 1 hop away; %d seeds)", protocol.Readable(hopPerHop), len(hopSeeds))
	copyPlot := newPlot(title, "", "copy duration (ms)")
	latencyPlot := newPlot("", "", "write p99 during the copy (ms)")
	restorePlot := newPlot("", "hops between servers", "time to restore\nredundancy (ms)")
	var rows [][]string
	for i, st := range hopStrategies {
		var copyXY, latencyXY, restoreXY plotter.XYs
		for _, pt := range points {
			if pt.strategy != st {
				continue
			}
			x := float64(pt.hops)
			copyXY = append(copyXY, plotter.XY{X: x, Y: mean(pt.copyMS)})
			latencyXY = append(latencyXY, plotter.XY{X: x, Y: percentile(pt.writeLatencyMS, 0.99)})
			if len(pt.restoreMS) > 0 {
				restoreXY = append(restoreXY, plotter.XY{X: x, Y: mean(pt.restoreMS)})
			}
			rows = append(rows, []string{fmt.Sprint(pt.hops), st.String(), fmt.Sprint(pt.runs), fmt.Sprint(pt.passed),
				formatFloat(mean(pt.copyMS)), formatFloat(percentile(pt.copyMS, 0)), formatFloat(percentile(pt.copyMS, 1)),
				fmt.Sprint(len(pt.writeLatencyMS)), formatFloat(percentile(pt.writeLatencyMS, 0.5)), formatFloat(percentile(pt.writeLatencyMS, 0.99)),
				formatFloat(mean(pt.restoreMS)), fmt.Sprint(pt.unrestored)})
		}
		for _, panel := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{copyPlot, copyXY}, {latencyPlot, latencyXY}, {restorePlot, restoreXY}} {
			if len(panel.xys) == 0 {
				continue
			}
			l, sc, err := linePoints(panel.xys, strategyColor(st), seriesDash(i*len(seriesColors)), seriesGlyph(i))
			if err != nil {
				return err
			}
			panel.p.Add(l, sc)
			if panel.p == copyPlot { // one legend, where no line runs: the copy panel's lower right
				panel.p.Legend.Add(st.String(), l, sc)
			}
		}
	}
	for _, p := range []*plot.Plot{copyPlot, latencyPlot, restorePlot} {
		p.X.Min, p.X.Max = float64(hopCounts[0])-0.3, float64(hopCounts[len(hopCounts)-1])+0.3
		p.X.Tick.Marker = stepTicks{Step: 1}
		p.Y.Min = 0
	}
	copyPlot.Legend.Top, copyPlot.Legend.Left = false, false
	copyPlot.Legend.YOffs = vg.Points(6)
	if err := saveFigure(outDir, "hops", figureWidth, 16*vg.Centimeter, stackedPanels(copyPlot, latencyPlot, restorePlot)); err != nil {
		return err
	}
	return writeCSV(outDir, "hops", []string{"server_hops", "strategy", "runs", "runs_passed", "copy_ms_mean", "copy_ms_min", "copy_ms_max",
		"writes_during_copy", "write_p50_ms", "write_p99_ms", "restore_redundancy_ms_mean", "runs_not_restored"}, rows)
}

// mean is the arithmetic mean; NaN for no values.
func mean(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, v := range values {
		sum += v
	}
	return sum / float64(len(values))
}
