package notebooks

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol"
)

// Experiment 10: what one seed of the default scenario costs as the cluster grows and as the
// workload grows: wall seconds (checks included, as the command line runs a seed), simulated steps
// per client operation, and the peak heap in use. The runs are deterministic; the seconds and the
// heap are those of the machine that ran them, so the figure is not byte-reproducible.

// scaleServers grow the cluster at a constant load per server (weak scaling): ten buckets, forty
// keys, one client and scaleOpsPerClient operations per server. The keys grow too, so that each
// key sees as many operations at every size: with the default scenario's 200 keys, 200 clients
// make each key's history four times as contended as at 50, and the linearizability check's cost
// (exponential in the operations concurrent on a key) hides the cluster's.
var scaleServers = []int{5, 10, 20, 50, 100, 200}

// scaleOps grow the workload on the default scenario's own cluster (5 servers, 4 buckets, 20
// clients sharing the operations).
var scaleOps = []int{100, 1_000, 10_000, 100_000}

const (
	scaleSeed         = 1
	scaleOpsPerClient = 100
	// scaleOpsPerSecond is less than what one client of the default scenario completes per
	// virtual second under its faults (about 30 at 5 servers, 25 for the slowest client of 100,000
	// operations: most operations are writes, which
	// take the scenario's 8 ms distribution delay, and kills come every 150 ms); the safety phase
	// grows with the operations so that they run under faults and end within the quiesce budget.
	scaleOpsPerSecond = 15
)

// scalePoint is one run of the experiment.
type scalePoint struct {
	servers, buckets, clients, ops int
	steps                          int64
	seconds                        float64
	peakHeapMB                     float64
	virtualMS                      float64
}

func scaleByServers(servers int) (harness.Scenario, error) {
	scn, err := harness.LookupScenario(harness.DefaultScenario)
	if err != nil {
		return scn, err
	}
	scn.KV.Servers, scn.KV.Buckets, scn.KV.Clients = servers, 10*servers, servers
	scn.Workload.Keys = 40 * servers
	scn.Workload.OpsPerClient = scaleOpsPerClient
	return scn, nil
}

func scaleByOps(ops int) (harness.Scenario, error) {
	scn, err := harness.LookupScenario(harness.DefaultScenario)
	if err != nil {
		return scn, err
	}
	scn.Workload.OpsPerClient = max(1, ops/scn.KV.Clients)
	need := protocol.Duration(float64(scn.Workload.OpsPerClient) / scaleOpsPerSecond * float64(protocol.Second))
	scn.SafetyPhase = max(scn.SafetyPhase, need)
	return scn, nil
}

// runScalePoint runs one seed with its checks, as `stateflush run` does, and samples the heap at
// every progress report (twenty times in the fault phase, then at each stage of checking).
func runScalePoint(scn harness.Scenario) (scalePoint, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	sample := func(harness.RunProgress) {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	start := time.Now()
	o, err := harness.Run(scn, scaleSeed, harness.Options{Progress: sample})
	if err != nil {
		return scalePoint{}, err
	}
	seconds := time.Since(start).Seconds()
	sample(harness.RunProgress{})
	if o.Final != harness.VerdictPass {
		return scalePoint{}, fmt.Errorf("scale: %d servers, %d operations, seed %d: %s, not pass (replay: stateflush run --seed %d --servers %d --buckets %d --clients %d --ops-per-client %d --safety-ms %d)",
			scn.KV.Servers, scn.KV.Clients*scn.Workload.OpsPerClient, scaleSeed, o.Final, scaleSeed, scn.KV.Servers, scn.KV.Buckets, scn.KV.Clients,
			scn.Workload.OpsPerClient, scn.SafetyPhase/protocol.Millisecond)
	}
	return scalePoint{
		servers: scn.KV.Servers, buckets: scn.KV.Buckets, clients: scn.KV.Clients, ops: scn.KV.Clients * scn.Workload.OpsPerClient,
		steps: o.Result.Steps, seconds: seconds, peakHeapMB: float64(peak-min(base, peak)) / (1 << 20), virtualMS: usToMS(int64(o.Result.Now)),
	}, nil
}

func runScale(outDir string) error {
	byServers, err := runScaleSweep(scaleServers, scaleByServers)
	if err != nil {
		return err
	}
	byOps, err := runScaleSweep(scaleOps, scaleByOps)
	if err != nil {
		return err
	}
	left, err := scalePanel("Cost of one seed vs servers (10 buckets, 40 keys, 1 client, 100 ops per server)", "servers (log scale)", byServers,
		func(p scalePoint) float64 { return float64(p.servers) })
	if err != nil {
		return err
	}
	right, err := scalePanel("Cost of one seed vs operations (the default 5 servers, 4 buckets, 20 clients)", "client operations (log scale)", byOps,
		func(p scalePoint) float64 { return float64(p.ops) })
	if err != nil {
		return err
	}
	if err := saveFigure(outDir, "scale", figureWidth, 2*figureHeight, stackedPanels(left, right)); err != nil {
		return err
	}
	var rows [][]string
	for _, p := range byServers {
		rows = append(rows, p.row("servers"))
	}
	for _, p := range byOps {
		rows = append(rows, p.row("operations"))
	}
	return writeCSV(outDir, "scale", scaleHeader, rows)
}

// runScaleSweep runs one point per size, each on the scenario that scenario builds for it.
func runScaleSweep(sizes []int, scenario func(int) (harness.Scenario, error)) ([]scalePoint, error) {
	var points []scalePoint
	for _, n := range sizes {
		scn, err := scenario(n)
		if err != nil {
			return nil, err
		}
		p, err := runScalePoint(scn)
		if err != nil {
			return nil, err
		}
		points = append(points, p)
	}
	return points, nil
}

var scaleHeader = []string{"sweep", "servers", "buckets", "clients", "client_ops", "steps", "steps_per_op", "virtual_ms", "wall_seconds", "peak_heap_mb", "gomaxprocs"}

func (p scalePoint) row(sweep string) []string {
	return []string{sweep, fmt.Sprint(p.servers), fmt.Sprint(p.buckets), fmt.Sprint(p.clients), fmt.Sprint(p.ops), fmt.Sprint(p.steps),
		formatFloat(float64(p.steps) / float64(p.ops)), formatFloat(p.virtualMS), formatFloat(p.seconds), formatFloat(p.peakHeapMB),
		fmt.Sprint(runtime.GOMAXPROCS(0))}
}

// scalePanel plots seconds per seed, steps per operation and peak heap (MB) on log-log axes.
func scalePanel(title, xLabel string, points []scalePoint, x func(scalePoint) float64) (*plot.Plot, error) {
	p := newPlot(title, xLabel, "seconds, steps per op, MB (log scale)")
	useLogAxis(&p.X)
	useLogAxis(&p.Y)
	for i, s := range []struct {
		name string
		y    func(scalePoint) float64
	}{
		{"wall seconds per seed", func(p scalePoint) float64 { return p.seconds }},
		{"steps per client operation", func(p scalePoint) float64 { return float64(p.steps) / float64(p.ops) }},
		{"peak heap in use (MB)", func(p scalePoint) float64 { return p.peakHeapMB }},
	} {
		var xys plotter.XYs
		for _, pt := range points {
			xys = append(xys, plotter.XY{X: x(pt), Y: max(s.y(pt), 1e-3)})
		}
		l, sc, err := linePoints(logXYs(xys, true, true), seriesColor(i), seriesDash(i), seriesGlyph(i))
		if err != nil {
			return nil, err
		}
		p.Add(l, sc)
		p.Legend.Add(s.name, l, sc)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return p, nil
}

// growthExponent fits y = c·x^k by least squares on log-log axes and returns k: 1 is linear
// growth, 2 quadratic, 0 constant.
func growthExponent(xs, ys []float64) float64 {
	lx, ly := make([]float64, len(xs)), make([]float64, len(ys))
	for i := range xs {
		lx[i], ly[i] = math.Log(xs[i]), math.Log(ys[i])
	}
	_, k := stat.LinearRegression(lx, ly, nil, false)
	return k
}

// scaleSummary is the paragraph of 10's README (and of the top-level README's performance
// section) that quotes its CSV: the fitted growth of each cost and the largest runs.
func scaleSummary(csvText string) (string, error) {
	table, err := readCSVTable("scale.csv", csvText, scaleHeader...)
	if err != nil {
		return "", err
	}
	type series struct{ x, seconds, stepsPerOp, heap []float64 }
	sweeps := map[string]*series{"servers": {}, "operations": {}}
	var largest = map[string][]string{}
	for _, row := range table.rows {
		sweep, err := table.text(row, "sweep")
		if err != nil {
			return "", err
		}
		s := sweeps[sweep]
		if s == nil {
			return "", fmt.Errorf("scale.csv: unknown sweep %q (want servers or operations)", sweep)
		}
		xName := map[string]string{"servers": "servers", "operations": "client_ops"}[sweep]
		var v [4]float64
		for i, name := range []string{xName, "wall_seconds", "steps_per_op", "peak_heap_mb"} {
			if v[i], err = table.number(row, name); err != nil {
				return "", err
			}
			if v[i] <= 0 {
				return "", fmt.Errorf("scale.csv: %s = %v, need a positive value to fit", name, v[i])
			}
		}
		s.x, s.seconds, s.stepsPerOp, s.heap = append(s.x, v[0]), append(s.seconds, v[1]), append(s.stepsPerOp, v[2]), append(s.heap, v[3])
		largest[sweep] = row
	}
	var b strings.Builder
	for _, sweep := range []string{"servers", "operations"} {
		s := sweeps[sweep]
		if len(s.x) < 2 {
			return "", fmt.Errorf("scale.csv: %d rows of the %s sweep, need at least 2 to fit", len(s.x), sweep)
		}
		row := largest[sweep]
		var last [4]float64
		for i, name := range []string{"servers", "client_ops", "wall_seconds", "peak_heap_mb"} {
			last[i], _ = table.number(row, name)
		}
		fmt.Fprintf(&b, "Against %s (%s to %s): wall seconds per seed grow as %s^%.2f, steps per client operation as %s^%.2f,\n"+
			"peak heap as %s^%.2f; the largest run (%.0f servers, %s operations) took %.2f s and %.0f MB.\n",
			sweep, thousands(s.x[0]), thousands(s.x[len(s.x)-1]),
			sweep, growthExponent(s.x, s.seconds), sweep, growthExponent(s.x, s.stepsPerOp), sweep, growthExponent(s.x, s.heap),
			last[0], thousands(last[1]), last[2], last[3])
	}
	// The target compares 100 servers with 5 at the same load per server.
	s := sweeps["servers"]
	if small, large := slices.Index(s.x, 5), slices.Index(s.x, 100); small >= 0 && large >= 0 {
		fmt.Fprintf(&b, "Steps per client operation at 100 servers: %.1f, against %.1f at 5 (%.2f×).\n",
			s.stepsPerOp[large], s.stepsPerOp[small], s.stepsPerOp[large]/s.stepsPerOp[small])
	}
	return b.String(), nil
}
