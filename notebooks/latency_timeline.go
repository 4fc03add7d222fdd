package notebooks

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
)

// Experiment 1: client latency over virtual time while one replica is created, for each strategy.

const (
	timelineSeed          = 1
	timelineKeysPerBucket = 100
	timelineCopyAt        = protocol.Time(600 * protocol.Millisecond)
	// timelineMargin is how much of the steady state before and after the copy the figure shows.
	timelineMargin = 40 * protocol.Millisecond
)

// Phase colours, shared by the legend and the shading.
var (
	phaseAnnounceColor = withAlpha(colorPurple, 0x50)
	phaseFlushColor    = withAlpha(colorOrange, 0x60)
	phaseCopyColor     = withAlpha(colorGreen, 0x40)
)

// lostWrites are the acknowledged writes in the window on the bucket that the checks found lost:
// those an acknowledged-write violation names (by the trace record of their invocation), and the
// last acknowledged write of every key on which the holders do not converge.
func lostWrites(r copyRun, bucket int, fromUS, toUS int64) []*linearizability.Operation {
	named := map[uint64]bool{}
	diverged := map[string]bool{}
	for _, v := range r.Outcome.Violations {
		switch v.Check {
		case linearizability.AcknowledgedWriteCheck:
			for _, seq := range v.TraceSeqs {
				named[seq] = true
			}
		case linearizability.ConvergenceCheck:
			diverged[v.Key] = true
		}
	}
	lastWrite := map[string]*linearizability.Operation{}
	var lost []*linearizability.Operation
	for _, op := range r.windowOps(bucket, fromUS, toUS) {
		if !op.Kind.IsWrite() {
			continue
		}
		if named[op.InvokeSeq] {
			lost = append(lost, op)
		} else if diverged[op.Key] {
			lastWrite[op.Key] = op
		}
	}
	for _, op := range r.windowOps(bucket, fromUS, toUS) {
		if lastWrite[op.Key] == op {
			lost = append(lost, op)
		}
	}
	return lost
}

func runLatencyTimeline(outDir string) error {
	runs := make([]copyRun, len(strategies))
	for i, st := range strategies {
		r, err := runCopyPlan(copyPlan{Strategy: st, KeysPerBucket: timelineKeysPerBucket, FirstCopyAt: timelineCopyAt,
			CopySpacing: 200 * protocol.Millisecond, Copies: 1}, timelineSeed)
		if err != nil {
			return err
		}
		runs[i] = r
	}
	// One x window for all panels: the latest copy's end, plus margins, so panels compare directly.
	fromUS := int64(timelineCopyAt) - int64(timelineMargin)
	toUS := int64(0)
	for _, r := range runs {
		toUS = max(toUS, r.Creations[0].InitializedUS)
	}
	toUS += int64(timelineMargin)

	var panels []*plot.Plot
	var rows [][]string
	maxLatencyMS := 0.0
	for _, r := range runs {
		c := r.Creations[0]
		for _, op := range r.windowOps(c.Bucket, fromUS, toUS) {
			maxLatencyMS = math.Max(maxLatencyMS, latencyMS(op))
		}
	}
	for i, r := range runs {
		st := strategies[i]
		c := r.Creations[0]
		p := newPlot("", "", "latency (ms)")
		if i == 0 {
			p.Title.Text = fmt.Sprintf("Client latency on bucket %d while a new copy is created (seed %d)", c.Bucket, timelineSeed)
		}
		if i == len(runs)-1 {
			p.X.Label.Text = "virtual time of the operation's invocation (ms)"
		}
		phases := bands{{From: usToMS(c.AnnounceSentUS), To: usToMS(c.AnnounceCompleteUS), Color: phaseAnnounceColor}}
		if c.FlushCompleteUS >= 0 {
			phases = append(phases, band{From: usToMS(c.AnnounceCompleteUS), To: usToMS(c.FlushCompleteUS), Color: phaseFlushColor})
		}
		phases = append(phases, band{From: usToMS(c.CopyStartUS()), To: usToMS(c.InitializedUS), Color: phaseCopyColor})
		p.Add(phases)
		initialized := verticalLine{X: usToMS(c.InitializedUS), Style: draw.LineStyle{Color: colorBlack, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}}
		p.Add(initialized)

		var writes, reads plotter.XYs
		for _, op := range r.windowOps(c.Bucket, fromUS, toUS) {
			pt := plotter.XY{X: usToMS(op.CallUS), Y: latencyMS(op)}
			if op.Kind.IsWrite() {
				writes = append(writes, pt)
			} else {
				reads = append(reads, pt)
			}
		}
		ws, err := plotter.NewScatter(writes)
		if err != nil {
			return err
		}
		ws.Color, ws.Radius, ws.Shape = strategyColor(st), vg.Points(2), draw.CircleGlyph{}
		rs, err := plotter.NewScatter(reads)
		if err != nil {
			return err
		}
		rs.Color, rs.Radius, rs.Shape = strategyColor(st), vg.Points(2), draw.RingGlyph{}
		p.Add(ws, rs)
		p.Legend.Add(st.String()+": writes", ws)
		p.Legend.Add("reads", rs)
		// The writes the checks found lost (acknowledged-write, convergence): a cross on each.
		lostOps := lostWrites(r, c.Bucket, fromUS, toUS)
		var lost plotter.XYs
		for _, op := range lostOps {
			lost = append(lost, plotter.XY{X: usToMS(op.CallUS), Y: latencyMS(op)})
		}
		if st == kv.Naive || len(lost) > 0 {
			ls, err := plotter.NewScatter(lost)
			if err != nil {
				return err
			}
			ls.Color, ls.Radius, ls.Shape = colorRed, vg.Points(4), draw.CrossGlyph{}
			p.Add(ls)
			p.Legend.Add(fmt.Sprintf("lost writes: %d", len(lost)), ls)
		}
		// Every panel has the phases' key, so that a panel read alone (on a slide) explains itself.
		p.Legend.Add("announce", swatch{phaseAnnounceColor})
		if c.FlushCompleteUS >= 0 {
			p.Legend.Add("flush", swatch{phaseFlushColor})
		}
		p.Legend.Add("image copy", swatch{phaseCopyColor})
		p.Legend.Add("initialized", initialized)
		p.Legend.Left = false
		p.Y.Tick.Marker = stepTicks{Step: 5}
		p.X.Min, p.X.Max = usToMS(fromUS), usToMS(toUS)
		p.Y.Min, p.Y.Max = 0, maxLatencyMS*1.1
		panels = append(panels, p)

		during := r.writesDuringCopy(c)
		lat := make([]float64, len(during))
		for j, op := range during {
			lat[j] = latencyMS(op)
		}
		rows = append(rows, []string{st.String(), fmt.Sprint(c.Bucket), c.Member,
			formatMS(c.AnnounceSentUS), formatMS(c.AnnounceCompleteUS), formatMS(c.FlushCompleteUS), formatMS(c.InitializedUS), fmt.Sprint(c.Entries), fmt.Sprint(len(lat)),
			formatFloat(percentile(lat, 0.5)), formatFloat(percentile(lat, 0.99)), formatFloat(percentile(lat, 1)),
			fmt.Sprint(countEvents(r.Outcome.Records, protocol.EventWriteBlocked)), fmt.Sprint(len(lostWrites(r, c.Bucket, fromUS, toUS))), string(r.Outcome.Final)})
	}
	if err := saveFigure(outDir, "latency-timeline", figureWidth, 14*vg.Centimeter, stackedPanels(panels...)); err != nil {
		return err
	}
	return writeCSV(outDir, "latency-timeline",
		[]string{"strategy", "bucket", "new_copy", "announce_sent_ms", "announce_complete_ms", "flush_complete_ms", "initialized_ms",
			"entries", "writes_during_copy", "write_p50_ms", "write_p99_ms", "write_max_ms", "write_blocked_events", "lost_writes", "verdict"}, rows)
}
