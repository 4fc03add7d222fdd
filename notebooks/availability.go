package notebooks

import (
	"fmt"
	"math"
	"runtime"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/chaos"
)

// Experiment 5: availability (fraction of operations that succeed) and redundancy (initialized
// copies per bucket) over virtual time, under the chaos monkey at several kill rates.

var (
	// chaosMeanGaps are the monkey's mean times between kills; 0 runs without the monkey.
	chaosMeanGaps = []protocol.Duration{0, 500 * protocol.Millisecond, 200 * protocol.Millisecond, 100 * protocol.Millisecond, 50 * protocol.Millisecond}
	chaosSeeds    = []uint64{1, 2, 3, 4, 5, 6, 7, 8}
)

// chaosBin is the width of the time bins that availability and redundancy are averaged over.
const chaosBin = 50 * protocol.Millisecond

// chaosScenario is the notebook cluster with the chaos monkey as its only nemesis, at the given
// rate (0: no monkey). Killed servers restart empty after 150 ms; kills are at least 10 ms apart, so
// that the minimum gap does not cap the fastest rate. The workload lasts through the safety phase
// when nothing is killed.
func chaosScenario(meanGap protocol.Duration) harness.Scenario {
	scn := notebookCluster("chaos-rate", "")
	scn.Workload.OpsPerClient = opsFor(scn.SafetyPhase)
	if meanGap > 0 {
		scn.Nemeses.Monkey = &chaos.Config{
			MeanTimeBetweenKills: meanGap,
			MinGapBetweenKills:   10 * protocol.Millisecond,
			RestartAfter:         150 * protocol.Millisecond,
			Start:                protocol.Time(20 * protocol.Millisecond),
		}
	}
	scn.Description = fmt.Sprintf("notebook cluster and workload, chaos monkey only: %s", scn.Nemeses.Describe())
	return scn
}

// initialHoldings is the cluster's initial placement: the holdings of a run with no clients and no
// faults, in which nothing moves.
func initialHoldings(scn harness.Scenario) ([]linearizability.Holding, error) {
	idle := scn
	idle.Name = scn.Name + "-idle"
	idle.KV.Clients = 0
	idle.Nemeses = harness.Nemeses{}
	idle.Swarm = false
	idle.Script = nil
	idle.SafetyPhase, idle.QuiesceBudget = protocol.Millisecond, protocol.Millisecond
	o, err := harness.Run(idle, 0, harness.Options{})
	if err != nil {
		return nil, err
	}
	return o.Holdings, nil
}

// chaosSeries is one kill rate's bins, pooled over seeds.
type chaosSeries struct {
	meanGap      protocol.Duration
	okOps, ops   []int     // per bin, operations invoked in the bin that succeeded, and all of them
	copiesSum    []float64 // per bin, mean copies per bucket at the bin's midpoint, summed over seeds
	minCopiesSum []float64
	runs, kills  int
	verdicts     map[harness.Verdict]int
	// fewestCopies is the fewest initialized copies any bucket had at any sampled moment of any run.
	fewestCopies int
	// fullLoadUntilUS is, over the runs, the earliest moment a client invoked its last operation:
	// until then every client is running, after it the throughput falls because the workload
	// ends, not because the store is down, so the throughput panel stops there.
	fullLoadUntilUS int64
}

func runAvailabilityUnderChaos(outDir string) error {
	base := chaosScenario(0)
	initial, err := initialHoldings(base)
	if err != nil {
		return err
	}
	bins := int((base.SafetyPhase + base.QuiesceBudget) / chaosBin)
	type job struct {
		gap  int
		seed uint64
	}
	var jobs []job
	for g := range chaosMeanGaps {
		for _, seed := range chaosSeeds {
			jobs = append(jobs, job{g, seed})
		}
	}
	series := make([]*chaosSeries, len(chaosMeanGaps))
	for g, gap := range chaosMeanGaps {
		series[g] = &chaosSeries{meanGap: gap, okOps: make([]int, bins), ops: make([]int, bins),
			copiesSum: make([]float64, bins), minCopiesSum: make([]float64, bins), verdicts: map[harness.Verdict]int{}, fewestCopies: math.MaxInt}
	}
	type result struct {
		gap int
		o   *harness.Outcome
		err error
	}
	indices := harness.AllSeeds.Seeds(0, len(jobs)) // job numbers 0..len(jobs)-1
	var firstErr error
	harness.ParallelSeeds(indices, runtime.GOMAXPROCS(0), func(i uint64) result {
		j := jobs[i]
		o, err := harness.Run(chaosScenario(chaosMeanGaps[j.gap]), j.seed, harness.Options{})
		return result{j.gap, o, err}
	}, func(r result) {
		if r.err != nil {
			firstErr = r.err
			return
		}
		if err := series[r.gap].add(r.o, initial, bins); err != nil {
			firstErr = err
		}
	}, func() bool { return firstErr != nil })
	if firstErr != nil {
		return firstErr
	}
	return plotAvailability(outDir, base, series, bins)
}

// add pools one run into the series' bins.
func (s *chaosSeries) add(o *harness.Outcome, initial []linearizability.Holding, bins int) error {
	if s.runs == 0 {
		s.fullLoadUntilUS = math.MaxInt64
	}
	s.runs++
	s.kills += len(o.Kills)
	lastCall := map[int32]int64{}
	for i := range o.History {
		op := &o.History[i]
		lastCall[op.Client] = max(lastCall[op.Client], op.CallUS)
	}
	for _, at := range lastCall {
		s.fullLoadUntilUS = min(s.fullLoadUntilUS, at)
	}
	s.verdicts[o.Final]++
	for i := range o.History {
		op := &o.History[i]
		b := int(op.CallUS / int64(chaosBin))
		if b >= bins {
			continue
		}
		s.ops[b]++
		if op.Status == linearizability.StatusOK {
			s.okOps[b]++
		}
	}
	copies := newCopyTimeline(o.Drawn.KV.Buckets, initial)
	next := 0 // the bin whose midpoint comes next
	sample := func(upToUS int64) {
		for ; next < bins && int64(next)*int64(chaosBin)+int64(chaosBin)/2 <= upToUS; next++ {
			s.copiesSum[next] += copies.meanCopies()
			s.minCopiesSum[next] += float64(copies.minCopies())
			s.fewestCopies = min(s.fewestCopies, copies.minCopies())
		}
	}
	for i := range o.Records {
		r := &o.Records[i]
		sample(r.TimeUS - 1) // midpoints before this record see the state before it
		if err := copies.apply(r); err != nil {
			return err
		}
	}
	sample(math.MaxInt64)
	return nil
}

func (s *chaosSeries) label() string {
	if s.meanGap == 0 {
		return "no kills"
	}
	return fmt.Sprintf("1 kill / %d ms", s.meanGap/protocol.Millisecond)
}

func plotAvailability(outDir string, base harness.Scenario, series []*chaosSeries, bins int) error {
	avail := newPlot(fmt.Sprintf("Chaos monkey kill rates: availability, throughput, redundancy (%d seeds per rate)", len(chaosSeeds)),
		"", "operations ok (%)")
	goodput := newPlot("", "", "ok operations per s")
	redundancy := newPlot("", "virtual time (ms), in 50 ms bins", "initialized copies per bucket")
	// The legend sits where no line runs: below the availability lines (which stay near 100 %),
	// right of the monkey's stop, with room to spare.
	avail.Legend.Left, avail.Legend.Top = false, false
	avail.Legend.YOffs, avail.Legend.XOffs = vg.Points(4), -vg.Points(4)
	goodput.Legend.Top = false
	redundancy.Legend.Top = false
	var rows, summary [][]string
	lastOpBin := 0
	for _, s := range series {
		for b := range bins {
			if s.ops[b] > 0 {
				lastOpBin = max(lastOpBin, b)
			}
		}
	}
	lowestPct := 100.0
	binsPerSecond := float64(protocol.Second) / float64(chaosBin)
	for i, s := range series {
		var okPct, okRate, copiesMean plotter.XYs
		for b := 0; b <= lastOpBin; b++ {
			midMS := usToMS(int64(b)*int64(chaosBin) + int64(chaosBin)/2)
			pct := math.NaN()
			if s.ops[b] > 0 {
				pct = 100 * float64(s.okOps[b]) / float64(s.ops[b])
				okPct = append(okPct, plotter.XY{X: midMS, Y: pct})
				lowestPct = math.Min(lowestPct, pct)
			}
			rate := float64(s.okOps[b]) / float64(s.runs) * binsPerSecond
			if int64(b+1)*int64(chaosBin) <= s.fullLoadUntilUS {
				okRate = append(okRate, plotter.XY{X: midMS, Y: rate})
			}
			mean := s.copiesSum[b] / float64(s.runs)
			copiesMean = append(copiesMean, plotter.XY{X: midMS, Y: mean})
			rows = append(rows, []string{fmt.Sprint(int64(s.meanGap / protocol.Millisecond)), formatFloat(midMS), fmt.Sprint(s.ops[b]),
				fmt.Sprint(s.okOps[b]), formatFloat(pct), formatFloat(rate), formatFloat(mean), formatFloat(s.minCopiesSum[b] / float64(s.runs))})
		}
		summary = append(summary, []string{fmt.Sprint(int64(s.meanGap / protocol.Millisecond)), fmt.Sprint(s.runs), fmt.Sprint(s.kills),
			fmt.Sprint(s.verdicts[harness.VerdictPass]), fmt.Sprint(s.verdicts[harness.VerdictViolation]), fmt.Sprint(s.verdicts[harness.VerdictUnknown]),
			fmt.Sprint(s.verdicts[harness.VerdictDataLoss]), fmt.Sprint(s.fewestCopies), formatMS(s.fullLoadUntilUS)})
		for _, panel := range []struct {
			p      *plot.Plot
			xys    plotter.XYs
			legend bool
		}{{avail, okPct, true}, {goodput, okRate, false}, {redundancy, copiesMean, false}} {
			l, err := line(panel.xys, seriesColor(i), seriesDash(i))
			if err != nil {
				return err
			}
			l.StepStyle = plotter.MidStep
			panel.p.Add(l)
			if panel.legend {
				panel.p.Legend.Add(fmt.Sprintf("%s (%d kills)", s.label(), s.kills), l)
			}
		}
	}
	stop := verticalLine{X: usToMS(int64(base.SafetyPhase)), Style: draw.LineStyle{Color: colorBlack, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}}
	for _, p := range []*plot.Plot{avail, goodput, redundancy} {
		p.Add(stop)
		p.X.Min, p.X.Max = 0, usToMS(int64(lastOpBin+1)*int64(chaosBin))
		p.X.Tick.Marker = stepTicks{Step: 500}
	}
	redundancy.Legend.Add("monkey stops (end of safety phase)", stop)
	avail.Y.Min, avail.Y.Max = math.Min(95, math.Floor(lowestPct)-1), 100.5
	goodput.Y.Min = 0
	redundancy.Y.Min, redundancy.Y.Max = 0, float64(base.KV.Redundancy)+0.2
	if err := saveFigure(outDir, "availability-under-chaos", figureWidth, 18*vg.Centimeter, stackedPanels(avail, goodput, redundancy)); err != nil {
		return err
	}
	if err := writeCSV(outDir, "availability-under-chaos-runs",
		[]string{"mean_ms_between_kills", "runs", "kills", "pass", "violation", "unknown", "data_loss", "fewest_copies_of_a_bucket", "every_client_running_until_ms"}, summary); err != nil {
		return err
	}
	return writeCSV(outDir, "availability-under-chaos",
		[]string{"mean_ms_between_kills", "bin_mid_ms", "ops_invoked", "ops_ok", "ok_percent", "ok_ops_per_second_per_run",
			"mean_initialized_copies_per_bucket", "min_initialized_copies"}, rows)
}
