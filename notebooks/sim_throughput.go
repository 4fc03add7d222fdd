package notebooks

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

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
	scn.Workload.OpsPerClient = throughputOpsPerClient
	scn.SafetyPhase = timeFor(throughputOpsPerClient)
	return scn
}

func runSimThroughput(outDir string) error {
	// Servers on a log axis (they double), labelled at the sizes run; rates on a linear axis.
	var events, messages plotter.XYs
	eventSpread, messageSpread := errorPoints{}, errorPoints{}
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
		wall, fastest, slowest := walls[len(walls)/2], walls[0], walls[len(walls)-1]
		r := last.Result
		x := math.Log10(float64(n))
		for _, series := range []struct {
			xys    *plotter.XYs
			spread *errorPoints
			count  float64
		}{{&events, &eventSpread, float64(r.Steps)}, {&messages, &messageSpread, float64(r.Stats.Delivered)}} {
			rate := series.count / wall
			*series.xys = append(*series.xys, plotter.XY{X: x, Y: rate})
			series.spread.XYs = append(series.spread.XYs, plotter.XY{X: x, Y: rate})
			series.spread.Low = append(series.spread.Low, rate-series.count/slowest)
			series.spread.High = append(series.spread.High, series.count/fastest-rate)
		}
		ticks = append(ticks, plot.Tick{Value: math.Log10(float64(n)), Label: fmt.Sprint(n)})
		rows = append(rows, []string{fmt.Sprint(n), fmt.Sprint(r.Steps), fmt.Sprint(r.Stats.Delivered), formatFloat(usToMS(int64(r.Now))),
			formatFloat(wall * 1000), formatFloat(fastest * 1000), formatFloat(slowest * 1000),
			formatFloat(float64(r.Steps) / wall), formatFloat(float64(r.Stats.Delivered) / wall), fmt.Sprint(runtime.GOMAXPROCS(0))})
	}
	p := newPlot(fmt.Sprintf("Simulator throughput (one run at a time; median and range of %d)", throughputRepeats),
		"servers (one client and one bucket per server; log scale)", "per wall-clock second")
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	// Labelled every 100,000 (every 500,000 on a machine fast enough to pass 1.2 million), with
	// thousands separators.
	maxRate := 0.0
	for _, xy := range events {
		maxRate = max(maxRate, xy.Y)
	}
	for i := range eventSpread.XYs {
		maxRate = max(maxRate, eventSpread.XYs[i].Y+eventSpread.High[i])
	}
	step := 100_000.0
	if maxRate > 1.2e6 {
		step = 500_000
	}
	p.Y.Tick.Marker = stepTicks{Step: step}
	p.X.Min, p.X.Max = math.Log10(float64(throughputServers[0]))-0.06, math.Log10(float64(throughputServers[len(throughputServers)-1]))+0.06
	p.Legend.Top, p.Legend.Left = false, false
	for i, s := range []struct {
		name   string
		xys    plotter.XYs
		spread errorPoints
	}{{"events processed", events, eventSpread}, {"messages delivered", messages, messageSpread}} {
		l, sc, err := linePoints(s.xys, seriesColor(i), seriesDash(i), seriesGlyph(i))
		if err != nil {
			return err
		}
		bars, err := plotter.NewYErrorBars(s.spread)
		if err != nil {
			return err
		}
		bars.LineStyle.Color, bars.LineStyle.Width = seriesColor(i), vg.Points(1)
		p.Add(l, sc, bars)
		p.Legend.Add(s.name, l, sc)
	}
	p.Y.Min = 0
	if err := savePlot(outDir, "sim-throughput", p); err != nil {
		return err
	}
	return writeCSV(outDir, "sim-throughput",
		[]string{"servers", "events", "messages_delivered", "virtual_ms", "median_wall_ms", "min_wall_ms", "max_wall_ms", "events_per_second", "messages_per_second", "gomaxprocs"}, rows)
}

// throughputSummary is the sentence of 07's README that quotes its CSV, so that a test can keep
// the text equal to the committed numbers (TestReadmeNumbersMatchTheirCSV).
func throughputSummary(csvText string) (string, error) {
	table, err := readCSVTable("sim-throughput.csv", csvText)
	if err != nil {
		return "", err
	}
	num := table.number
	lowest, highest := math.Inf(1), math.Inf(-1)
	var lowServers, highServers float64
	for _, row := range table.rows {
		rate, err := num(row, "events_per_second")
		if err != nil {
			return "", err
		}
		servers, err := num(row, "servers")
		if err != nil {
			return "", err
		}
		if rate < lowest {
			lowest, lowServers = rate, servers
		}
		if rate > highest {
			highest, highServers = rate, servers
		}
	}
	last := table.rows[len(table.rows)-1]
	var v [6]float64
	for i, name := range []string{"servers", "events", "virtual_ms", "median_wall_ms", "min_wall_ms", "max_wall_ms"} {
		if v[i], err = num(last, name); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("In the committed run the median rate of events processed lies between %s per second (%.0f servers) and\n"+
		"%s per second (%.0f servers); the %.0f-server run of %.1f virtual seconds (%s events) took %.0f ms\n"+
		"(median; from %.0f to %.0f ms over the %d runs).\n",
		thousands(math.Round(lowest)), lowServers, thousands(math.Round(highest)), highServers,
		v[0], v[2]/1000, thousands(v[1]), v[3], v[4], v[5], throughputRepeats), nil
}
