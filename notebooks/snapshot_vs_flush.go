package notebooks

import (
	"fmt"
	"image/color"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
)

// Experiment 8: a Chandy–Lamport snapshot and the state flush on the same workload — what each
// guarantees, checked run by run, and what each costs the clients.

var snapshotSeeds = harness.AllSeeds.Seeds(1, 40)

const (
	// snapshotSafety is the workload's length; snapshots are requested about every
	// snapshotMeanGap during it, and the state flush creates one copy of each bucket in it.
	snapshotSafety  = 300 * protocol.Millisecond
	snapshotMeanGap = 30 * protocol.Millisecond
	// snapshotKeys keeps the whole-store state small: a snapshot is checked with porcupine's
	// whole-store model, one partition for the whole history.
	snapshotKeys = 40
	// snapshotCheckBudget bounds each run's linearizability check; a check that runs out is counted
	// as undecided, never as a pass.
	snapshotCheckBudget = time.Second
	// skimCheckBudget is the check budget of runs whose snapshots are not read back as values (the
	// buggy snapshot's, which the cut check rejects): their whole-store check would only cost time.
	skimCheckBudget = 50 * time.Millisecond
)

// mechanism is one row of the comparison.
type mechanism struct {
	name string
	// snapshots is the snapshot plan (zero for the state flush and the baseline); copies says the
	// run creates one new copy of each bucket by the state flush.
	snapshots harness.SnapshotPlan
	copies    bool
	// skipReads leaves the snapshots' values unchecked (see skimCheckBudget).
	skipReads bool
}

var mechanisms = []mechanism{
	{name: "no snapshot, no copy (baseline)"},
	{name: "state flush: new copy of each bucket", copies: true},
	{name: "Chandy–Lamport snapshot", snapshots: harness.SnapshotPlan{MeanGap: snapshotMeanGap, Variant: kv.SnapshotPlain}},
	{name: "Chandy–Lamport, writes held first", snapshots: harness.SnapshotPlan{MeanGap: snapshotMeanGap, Variant: kv.SnapshotFlush}},
	{name: "Chandy–Lamport with a bug (record-after-marker)", snapshots: harness.SnapshotPlan{MeanGap: snapshotMeanGap, Variant: kv.SnapshotPlain, Mutant: kv.RecordAfterMarker},
		skipReads: true},
}

// snapshotScenario is the notebook cluster with an uneven network (each server link's latency
// scaled by a per-seed factor up to 8, so that messages overtake one another between different
// pairs of members: the situation both protocols exist for), 40 keys, and the mechanism's work.
func (m mechanism) scenario() harness.Scenario {
	scn := notebookCluster("snapshot-vs-flush", m.name)
	scn.LinkSpread = 8
	scn.Workload.Keys = snapshotKeys
	scn.SafetyPhase = snapshotSafety
	scn.Workload.OpsPerClient = opsFor(snapshotSafety)
	scn.Snapshots = m.snapshots
	if m.copies {
		for b := 0; b < scn.KV.Buckets; b++ {
			scn.Script = append(scn.Script, harness.Action{
				At:   protocol.Time(b+1) * protocol.Time(snapshotSafety) / protocol.Time(scn.KV.Buckets+1),
				Kind: harness.ActionRebalance, Node: protocol.NodeID((b + scn.KV.Redundancy) % scn.KV.Servers), Bucket: b,
			})
		}
	}
	return scn
}

// tally counts how often a guarantee held: Held of Total, with Undecided checks (out of time) apart.
type tally struct{ Held, Total, Undecided int }

func (t tally) label() string {
	s := fmt.Sprintf("%d/%d", t.Held, t.Total)
	if t.Undecided > 0 {
		s += fmt.Sprintf(" (%d ?)", t.Undecided)
	}
	return s
}

// mechanismResult pools one mechanism's runs.
type mechanismResult struct {
	runs             int
	snapshots        harness.SnapshotStats
	serverCut        tally // per completed snapshot: closed under the servers' causality (clients as environment)
	consistentCut    tally // per completed snapshot: closed under every causal path, clients' included
	linearizableRead tally // per run: every snapshot of the run is a linearizable read
	copiesComplete   tally // per run that created copies: no acknowledged write lost, copies converge
	// nonLinearizableSeeds are the runs whose snapshots are not all linearizable reads.
	nonLinearizableSeeds []uint64
	writeLatencyMS       []float64
	copiesCreated        int // copies initialized by the state flush
}

func runSnapshotVsFlush(outDir string) error {
	results := make([]*mechanismResult, len(mechanisms))
	for i := range results {
		results[i] = &mechanismResult{}
	}
	type job struct {
		mech int
		seed uint64
	}
	var jobs []job
	for m := range mechanisms {
		for _, seed := range snapshotSeeds {
			jobs = append(jobs, job{m, seed})
		}
	}
	indices := harness.AllSeeds.Seeds(0, len(jobs)) // job numbers 0..len(jobs)-1
	type outcome struct {
		mech int
		o    *harness.Outcome
		err  error
	}
	var firstErr error
	harness.ParallelSeeds(indices, runtime.GOMAXPROCS(0), func(i uint64) outcome {
		j := jobs[i]
		budget := snapshotCheckBudget
		if mechanisms[j.mech].skipReads {
			budget = skimCheckBudget
		}
		o, err := harness.Run(mechanisms[j.mech].scenario(), j.seed, harness.Options{CheckBudget: budget})
		return outcome{j.mech, o, err}
	}, func(r outcome) {
		if r.err == nil {
			r.err = results[r.mech].add(mechanisms[r.mech], r.o)
		}
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
	}, func() bool { return firstErr != nil })
	if firstErr != nil {
		return firstErr
	}
	if err := plotGuarantees(outDir, results); err != nil {
		return err
	}
	if err := plotSnapshotLatency(outDir, results); err != nil {
		return err
	}
	var rows [][]string
	for i, r := range results {
		rows = append(rows, []string{mechanisms[i].name, fmt.Sprint(r.runs), fmt.Sprint(r.snapshots.Requested), fmt.Sprint(r.snapshots.Completed),
			fmt.Sprint(r.snapshots.Aborted), fmt.Sprint(r.serverCut.Held), fmt.Sprint(r.consistentCut.Held), fmt.Sprint(r.linearizableRead.Total), fmt.Sprint(r.linearizableRead.Held),
			fmt.Sprint(r.linearizableRead.Undecided), strings.Trim(fmt.Sprint(r.nonLinearizableSeeds), "[]"),
			fmt.Sprint(r.copiesCreated), fmt.Sprint(r.copiesComplete.Held), fmt.Sprint(r.copiesComplete.Total), fmt.Sprint(len(r.writeLatencyMS)),
			formatFloat(percentile(r.writeLatencyMS, 0.5)), formatFloat(percentile(r.writeLatencyMS, 0.99))})
	}
	return writeCSV(outDir, "snapshot-vs-flush", []string{"mechanism", "runs", "snapshots_requested", "snapshots_completed", "snapshots_aborted",
		"consistent_cuts_servers", "consistent_cuts_all_paths", "runs_with_snapshots", "runs_all_snapshots_linearizable", "runs_undecided", "seeds_with_non_linearizable_snapshots",
		"copies_created", "runs_with_complete_copies", "runs_with_copies",
		"writes_during_operations", "write_p50_ms", "write_p99_ms"}, rows)
}

// add reads one run back: the snapshots' cut and linearizability checks, the copies' checks, and
// the latency of the writes invoked while the mechanism was at work.
func (r *mechanismResult) add(m mechanism, o *harness.Outcome) error {
	r.runs++
	var windows [][2]int64
	switch {
	case m.snapshots.Enabled():
		st := harness.SnapshotStatsOf(o.Records)
		r.snapshots.Requested += st.Requested
		r.snapshots.Completed += st.Completed
		r.snapshots.Aborted += st.Aborted
		// Two readings of "consistent": Chandy–Lamport promises a cut closed under the causality of
		// the processes that take part (the servers); a path from a server after its cut, through a
		// client, to a server before its cut is outside that promise but inside what a reader of
		// the snapshot may assume. Both are counted, so the gap between them is measured.
		var clients []int32
		for c := o.Drawn.KV.Servers; c < o.Drawn.KV.Servers+o.Drawn.KV.Clients; c++ {
			clients = append(clients, int32(c))
		}
		for _, count := range []struct {
			t           *tally
			environment []int32
		}{{&r.serverCut, clients}, {&r.consistentCut, nil}} {
			cuts, err := linearizability.CheckCuts(o.Records, nil, count.environment)
			if err != nil {
				return fmt.Errorf("snapshot-vs-flush: seed %d: %w", o.Spec.Seed, err)
			}
			for _, cut := range cuts {
				count.t.Total++
				if len(cut.Violations) == 0 {
					count.t.Held++
				}
			}
		}
		if !m.skipReads {
			if err := r.checkSnapshotReads(o); err != nil {
				return err
			}
		}
		for _, op := range o.History {
			if op.Kind == linearizability.OpSnapshot && op.Status == linearizability.StatusOK {
				windows = append(windows, [2]int64{op.CallUS, op.ReturnUS})
			}
		}
	case m.copies:
		cs, err := completedCreations(o.Records)
		if err != nil {
			return err
		}
		for _, c := range cs {
			windows = append(windows, [2]int64{c.AnnounceSentUS, c.InitializedUS})
		}
		r.copiesCreated += len(cs)
		r.copiesComplete.Total++
		// The copies hold every acknowledged write and agree with their primaries: none of the
		// checks on the store's final state and history failed.
		if !slices.ContainsFunc(o.CaughtBy, func(c string) bool {
			return c == string(linearizability.ConvergenceCheck) || c == string(linearizability.AcknowledgedWriteCheck) ||
				c == string(linearizability.LinearizabilityCheck) || c == harness.LivenessCheck
		}) {
			r.copiesComplete.Held++
		}
	default:
		windows = [][2]int64{{0, int64(snapshotSafety)}}
	}
	for i := range o.History {
		op := &o.History[i]
		if !op.Kind.IsWrite() || op.Status != linearizability.StatusOK || !completed(op) {
			continue
		}
		if slices.ContainsFunc(windows, func(w [2]int64) bool { return op.CallUS >= w[0] && op.CallUS <= w[1] }) {
			r.writeLatencyMS = append(r.writeLatencyMS, latencyMS(op))
		}
	}
	return nil
}

// checkSnapshotReads asks whether every snapshot of a run is a linearizable read of the whole
// store: the run's history with its snapshots is checked with porcupine's whole-store model (by the
// harness). When that fails, the history without the snapshots must pass, so that the failure is
// the snapshots' and not the store's.
func (r *mechanismResult) checkSnapshotReads(o *harness.Outcome) error {
	if !slices.ContainsFunc(o.History, func(op linearizability.Operation) bool {
		return op.Kind == linearizability.OpSnapshot && op.Status == linearizability.StatusOK
	}) {
		return nil
	}
	r.linearizableRead.Total++
	switch o.Verdict.Result {
	case linearizability.Ok:
		r.linearizableRead.Held++
		return nil
	case linearizability.Unknown:
		r.linearizableRead.Undecided++
		return nil
	}
	withoutSnapshots := slices.DeleteFunc(slices.Clone(o.History), func(op linearizability.Operation) bool { return op.Kind == linearizability.OpSnapshot })
	v, err := linearizability.CheckHistory(withoutSnapshots, snapshotCheckBudget)
	if err != nil {
		return fmt.Errorf("snapshot-vs-flush: seed %d: %w", o.Spec.Seed, err)
	}
	if v.Result != linearizability.Ok {
		return fmt.Errorf("snapshot-vs-flush: seed %d: the history is %s even without its snapshots: a store bug, not a snapshot's (replay: %s)",
			o.Spec.Seed, v.Result, o.ReplayCommand(""))
	}
	r.nonLinearizableSeeds = append(r.nonLinearizableSeeds, o.Spec.Seed)
	return nil
}

// plotGuarantees draws the comparison as a table: one row per mechanism, one column per guarantee,
// each cell saying how often the guarantee held.
func plotGuarantees(outDir string, results []*mechanismResult) error {
	columns := []string{"consistent cut,\nservers'\ncausality\n(snapshots)", "consistent cut,\nevery causal\npath\n(snapshots)", "linearizable\nreads (runs)", "copies hold every\nacknowledged\nwrite (runs)", "write p99\nduring the\noperation"}
	p := newPlot(fmt.Sprintf("What each mechanism guaranteed on %d seeds of the same workload (held/checked)\n"+
		"green: always held · red: failed at least once · yellow: none failed, ? undecided within %v · grey: n/a", len(snapshotSeeds), snapshotCheckBudget), "", "")
	baselineP99 := percentile(results[0].writeLatencyMS, 0.99)
	notApplicable := cell{Color: color.Gray{Y: 0xEE}, Label: "n/a"}
	var cells cellGrid
	var rowNames []string
	for i, r := range results {
		y := float64(len(results) - 1 - i)
		rowNames = append(rowNames, mechanisms[i].name)
		snapshots := mechanisms[i].snapshots.Enabled()
		for col, c := range []cell{
			tallyCell(r.serverCut, snapshots, notApplicable),
			tallyCell(r.consistentCut, snapshots, notApplicable),
			tallyCell(r.linearizableRead, snapshots && !mechanisms[i].skipReads, notApplicable),
			tallyCell(r.copiesComplete, mechanisms[i].copies, notApplicable),
			latencyCell(percentile(r.writeLatencyMS, 0.99), baselineP99),
		} {
			c.X, c.Y = float64(col), y
			cells = append(cells, c)
		}
	}
	p.Add(cells)
	reversed := make([]string, len(rowNames))
	for i, n := range rowNames {
		reversed[len(rowNames)-1-i] = n
	}
	p.NominalY(reversed...)
	p.NominalX(columns...)
	p.X.Tick.Label.Font.Size, p.Y.Tick.Label.Font.Size = tickFontSize, tickFontSize
	return saveFigure(outDir, "snapshot-vs-flush-guarantees", 24*vg.Centimeter, 9*vg.Centimeter, p.Draw)
}

// tallyCell shows a tally as "held/total", green when it always held, red when it ever failed.
func tallyCell(t tally, applies bool, notApplicable cell) cell {
	if !applies || t.Total == 0 {
		return notApplicable
	}
	// One meaning per colour: green held on every check, red failed at least once, yellow failed
	// never but was not decided every time (undecided is never a pass).
	c := cell{Label: t.label(), Color: withAlpha(colorGreen, 0x60)}
	switch {
	case t.Held+t.Undecided < t.Total:
		c.Color = withAlpha(colorVermillion, 0x70)
	case t.Undecided > 0:
		c.Color = withAlpha(colorOrange, 0x50)
	}
	return c
}

// latencyCell shows a p99 write latency against the baseline's.
func latencyCell(p99, baseline float64) cell {
	if math.IsNaN(p99) {
		return cell{Color: color.Gray{Y: 0xEE}, Label: "no writes"}
	}
	// A measurement, not a guarantee: no verdict colour, two lines so that it fits its cell.
	return cell{Label: fmt.Sprintf("%.1f ms\n×%.1f baseline", p99, p99/baseline), Color: color.Gray{Y: 0xF7}}
}

// plotSnapshotLatency draws the distribution of the latency of writes invoked while each mechanism
// was at work (the baseline: any time).
func plotSnapshotLatency(outDir string, results []*mechanismResult) error {
	p := newPlot("Latency of the writes invoked while each mechanism was at work", "write latency (ms)", "fraction of writes at most that slow")
	useLogAxis(&p.X)
	p.Legend.Top, p.Legend.Left = true, true
	for i, r := range results {
		if len(r.writeLatencyMS) == 0 || mechanisms[i].snapshots.Mutant != kv.NoSnapshotMutant {
			continue
		}
		sorted := slices.Clone(r.writeLatencyMS)
		slices.Sort(sorted)
		var xys plotter.XYs
		for j, v := range sorted {
			xys = append(xys, plotter.XY{X: math.Log10(v), Y: float64(j+1) / float64(len(sorted))})
		}
		l, err := line(xys, seriesColor(i), seriesDash(i))
		if err != nil {
			return err
		}
		l.StepStyle = plotter.PostStep
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (%d writes)", mechanisms[i].name, len(sorted)), l)
	}
	// Headroom above 1 keeps the legend off the curves; the ticks stop at 1.
	p.Y.Min, p.Y.Max = 0, 1.4
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 0.25}, {Value: 0.5, Label: "0.5"}, {Value: 0.75}, {Value: 1, Label: "1"}})
	return savePlot(outDir, "snapshot-vs-flush-latency", p)
}

// snapshotSummary is the part of 08's README that quotes its CSV, so that a test keeps the text
// equal to the committed numbers (TestReadmeNumbersMatchTheirCSV). Rows are found by their position
// in mechanisms: baseline, state flush, plain snapshot, writes held, bug.
func snapshotSummary(csvText string) (string, error) {
	table, err := readCSVTable("snapshot-vs-flush.csv", csvText, "mechanism", "runs", "snapshots_completed",
		"consistent_cuts_servers", "consistent_cuts_all_paths", "runs_with_snapshots", "runs_all_snapshots_linearizable",
		"runs_undecided", "copies_created", "runs_with_complete_copies", "runs_with_copies")
	if err != nil {
		return "", err
	}
	if len(table.rows) != len(mechanisms) {
		return "", fmt.Errorf("snapshot-vs-flush.csv has %d rows, want one per mechanism (%d)", len(table.rows), len(mechanisms))
	}
	get := func(row int, name string) (int, error) {
		v, err := table.number(table.rows[row], name)
		return int(v), err
	}
	var n [5]map[string]int
	for i := range n {
		n[i] = map[string]int{}
		for name := range table.col {
			if name == "mechanism" || strings.HasPrefix(name, "write_") || name == "seeds_with_non_linearizable_snapshots" {
				continue
			}
			v, err := get(i, name)
			if err != nil {
				return "", err
			}
			n[i][name] = v
		}
	}
	const flush, plain, held, bug = 1, 2, 3, 4
	ratio := func(i int, held, total string) string { return fmt.Sprintf("%d/%d", n[i][held], n[i][total]) }
	linearizable := func(i int) string {
		s := ratio(i, "runs_all_snapshots_linearizable", "runs_with_snapshots") + " runs"
		if u := n[i]["runs_undecided"]; u > 0 {
			s += fmt.Sprintf(" (%d undecided)", u)
		}
		return s
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The bug is caught in all but %d of its %d snapshots (%d consistent under the every-path reading).\n",
		n[bug]["consistent_cuts_servers"], n[bug]["snapshots_completed"], n[bug]["consistent_cuts_all_paths"])
	serversHold := n[plain]["consistent_cuts_servers"] == n[plain]["snapshots_completed"] && n[held]["consistent_cuts_servers"] == n[held]["snapshots_completed"]
	if serversHold {
		b.WriteString("Every cut of the correct variants is consistent with the servers' causality, which is what\nChandy–Lamport promises: ")
	} else {
		b.WriteString("Not every cut of the correct variants is consistent with the servers' causality, which\nChandy–Lamport promises (a bug to explain): ")
	}
	fmt.Fprintf(&b, "%s plain snapshots and %s with writes held. Closed under every causal\npath, clients' included, are %s plain and %s with writes held",
		ratio(plain, "consistent_cuts_servers", "snapshots_completed"), ratio(held, "consistent_cuts_servers", "snapshots_completed"),
		ratio(plain, "consistent_cuts_all_paths", "snapshots_completed"), ratio(held, "consistent_cuts_all_paths", "snapshots_completed"))
	if serversHold {
		b.WriteString(": the others have a path from a server after\nits cut, through a client, to a server before its cut, which a snapshot taken by the servers alone\ncannot exclude")
	}
	fmt.Fprintf(&b, ".\nLinearizable reads: plain %s; writes held %s. Copies hold every acknowledged write:\n%s, %d copies.\n",
		linearizable(plain), linearizable(held), ratio(flush, "runs_with_complete_copies", "runs_with_copies")+" runs", n[flush]["copies_created"])
	return b.String(), nil
}
