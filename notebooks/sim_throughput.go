package notebooks

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg/draw"

	"github.com/stateflush/stateflush/harness"
)

// Experiment 7: simulator throughput (events and messages per wall-clock second) against cluster
// size. Wall time depends on the machine: this figure is not byte-reproducible (the runs are).

var throughputServers = []int{3, 5, 9, 17, 33}

const (
	throughputSeed = 1
	// throughputRepeats: each run is timed this many times and the median kept.
	throughputRepeats = 5
	// throughputOpsPerClient: one client per server, each running this many operations (about 3 s
	// of virtual time), so that even the smallest cluster runs long enough to time.
	throughputOpsPerClient = 1000
)

// throughputScenario is the notebook cluster grown to the given number of servers: one bucket and
// one client per server, three copies per bucket, no faults.
func throughputScenario(servers int) harness.Scenario {
	scn := notebookCluster(fmt.Sprintf("throughput-%d", servers), fmt.Sprintf("%d servers, %d clients, %d buckets, no faults", servers, servers, servers))
	scn.KV.Servers, scn.KV.Clients, scn.KV.Buckets = servers, servers, servers
	scn.KV.Workload.OpsPerClient = throughputOpsPerClient
	scn.SafetyPhase = timeFor(throughputOpsPerClient)
	return scn
}

func runSimThroughput(outDir string) error {
	// Servers on a log axis (they double), labelled at the sizes run; rates on a linear axis.
	var events, messages plotter.XYs
	var ticks []plot.Tick
	var rows [][]string
	for _, n := range throughputServers {
		scn := throughputScenario(n)
		var walls []float64
		var last *harness.Outcome
		for range throughputRepeats {
			start := time.Now()
			// HashOnly: no trace kept and no checks, so the timing is the simulator and protocol alone.
			o, err := harness.Run(scn, throughputSeed, harness.Options{HashOnly: true})
			if err != nil {
				return err
			}
			walls = append(walls, time.Since(start).Seconds())
			if last != nil && last.Result.Hash != o.Result.Hash {
				return fmt.Errorf("sim-throughput: %d servers, seed %d: two runs gave hashes %016x and %016x", n, throughputSeed, last.Result.Hash, o.Result.Hash)
			}
			last = o
		}
		slices.Sort(walls)
		wall := walls[len(walls)/2]
		r := last.Result
		events = append(events, plotter.XY{X: math.Log10(float64(n)), Y: float64(r.Steps) / wall / 1e6})
		messages = append(messages, plotter.XY{X: math.Log10(float64(n)), Y: float64(r.Stats.Delivered) / wall / 1e6})
		ticks = append(ticks, plot.Tick{Value: math.Log10(float64(n)), Label: fmt.Sprint(n)})
		rows = append(rows, []string{fmt.Sprint(n), fmt.Sprint(r.Steps), fmt.Sprint(r.Stats.Delivered), formatFloat(usToMS(int64(r.Now))),
			formatFloat(wall * 1000), formatFloat(float64(r.Steps) / wall), formatFloat(float64(r.Stats.Delivered) / wall), fmt.Sprint(runtime.GOMAXPROCS(0))})
	}
	p := newPlot(fmt.Sprintf("Simulator throughput (one run at a time, median of %d)", throughputRepeats),
		"servers (one client and one bucket per server; log scale)", "millions per wall-clock second")
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Legend.Top, p.Legend.Left = false, false
	for i, s := range []struct {
		name string
		xys  plotter.XYs
	}{{"events processed", events}, {"messages delivered", messages}} {
		l, sc, err := linePoints(s.xys, seriesColor(i), nil, draw.CircleGlyph{})
		if err != nil {
			return err
		}
		p.Add(l, sc)
		p.Legend.Add(s.name, l, sc)
	}
	p.Y.Min = 0
	if err := savePlot(outDir, "sim-throughput", p); err != nil {
		return err
	}
	return writeCSV(outDir, "sim-throughput",
		[]string{"servers", "events", "messages_delivered", "virtual_ms", "median_wall_ms", "events_per_second", "messages_per_second", "gomaxprocs"}, rows)
}
