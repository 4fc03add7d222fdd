package notebooks

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/linearizability"
)

// Experiment 4: wall time of the linearizability check against history length and key count, on
// histories the simulator recorded. Wall time depends on the machine: this figure is not
// byte-reproducible (the histories are).

var (
	checkerLengths = []int{1000, 2000, 5000, 10000, 20000, 50000, 100000}
	checkerKeys    = []int{10, 100, 1000}
)

const (
	checkerSeed = 1
	// checkerRepeats: each check is timed this many times and the median kept.
	checkerRepeats = 5
	// checkerBudget bounds one check; a check that runs out is reported as Unknown.
	checkerBudget = 20 * time.Second
)

// recordedHistory records, on the notebook cluster (8 concurrent clients: porcupine's search grows
// with concurrency), a fault-free history of about `operations` operations over `keys` keys.
func recordedHistory(operations, keys int) (linearizability.History, error) {
	scn := notebookCluster("checker-cost", fmt.Sprintf("fault-free workload of %d operations over %d keys", operations, keys))
	scn.Workload.OpsPerClient = operations / scn.KV.Clients
	scn.Workload.Keys = keys
	// Twice the expected time, so that the workload surely ends inside the safety phase.
	scn.SafetyPhase = max(scn.SafetyPhase, 2*timeFor(scn.Workload.OpsPerClient))
	o, err := harness.Run(scn, checkerSeed, harness.Options{CheckBudget: checkerBudget})
	if err != nil {
		return nil, err
	}
	if len(o.History) != operations {
		return nil, fmt.Errorf("checker-cost: the run recorded %d operations, want %d", len(o.History), operations)
	}
	return o.History, nil
}

func runCheckerCost(outDir string) error {
	type point struct {
		operations, keys       int
		medianMS, minMS, maxMS float64
		result                 linearizability.Result
	}
	var points []point
	for _, keys := range checkerKeys {
		for _, n := range checkerLengths {
			h, err := recordedHistory(n, keys)
			if err != nil {
				return err
			}
			var times []float64
			var verdict linearizability.Verdict
			for range checkerRepeats {
				start := time.Now()
				verdict, err = linearizability.CheckHistory(h, checkerBudget)
				if err != nil {
					return err
				}
				times = append(times, float64(time.Since(start).Microseconds())/1000)
			}
			slices.Sort(times)
			points = append(points, point{n, keys, times[len(times)/2], times[0], times[len(times)-1], verdict.Result})
		}
	}

	p := newPlot(fmt.Sprintf("Check wall time: median and range of %d runs (%d clients, GOMAXPROCS=%d)", checkerRepeats, notebookClients, runtime.GOMAXPROCS(0)),
		"history length (operations)", "wall time (ms)")
	useLogAxis(&p.X)
	useLogAxis(&p.Y)
	p.Legend.Left = true
	var rows [][]string
	for i, keys := range checkerKeys {
		var xys plotter.XYs
		spread := errorPoints{}
		for _, pt := range points {
			if pt.keys != keys {
				continue
			}
			xys = append(xys, plotter.XY{X: float64(pt.operations), Y: pt.medianMS})
			spread.XYs = append(spread.XYs, plotter.XY{X: math.Log10(float64(pt.operations)), Y: math.Log10(pt.medianMS)})
			spread.Low = append(spread.Low, math.Log10(pt.medianMS)-math.Log10(pt.minMS))
			spread.High = append(spread.High, math.Log10(pt.maxMS)-math.Log10(pt.medianMS))
			rows = append(rows, []string{fmt.Sprint(pt.operations), fmt.Sprint(pt.keys), formatFloat(float64(pt.operations) / float64(pt.keys)),
				formatFloat(pt.medianMS), formatFloat(pt.minMS), formatFloat(pt.maxMS), string(pt.result), fmt.Sprint(runtime.GOMAXPROCS(0))})
		}
		l, s, err := linePoints(logXYs(xys, true, true), seriesColor(i), seriesDash(i), seriesGlyph(i))
		if err != nil {
			return err
		}
		bars, err := plotter.NewYErrorBars(spread)
		if err != nil {
			return err
		}
		bars.LineStyle.Color, bars.LineStyle.Width = seriesColor(i), vg.Points(1)
		p.Add(l, s, bars)
		p.Legend.Add(thousands(float64(keys))+" keys", l, s)
	}
	p.Y.Min, p.Y.Max = p.Y.Min-0.15, p.Y.Max+0.15
	p.X.Min, p.X.Max = math.Log10(float64(checkerLengths[0]))-0.06, math.Log10(float64(checkerLengths[len(checkerLengths)-1]))+0.06
	if err := savePlot(outDir, "checker-cost", p); err != nil {
		return err
	}
	return writeCSV(outDir, "checker-cost", []string{"operations", "keys", "operations_per_key", "median_wall_ms", "min_wall_ms", "max_wall_ms", "result", "gomaxprocs"}, rows)
}
