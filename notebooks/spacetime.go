package notebooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/trace"
)

// Experiment 6: a space-time (Lamport) diagram of a shrunk failing run: one lane per member,
// arrows for the messages that matter to the failing key, the state flush and catcher's-mitt
// phases marked, and the read that no linearization explains highlighted.

const (
	// spacetimeMutant is the bug drawn: without a catcher's mitt, a new copy drops the writes it
	// receives while it is being created, and a later promotion loses them.
	spacetimeMutant = "no-mitt"
	// spacetimeSeeds bounds the search of the default scenario's seeds for a run in which the
	// linearizability check (not only convergence) catches the mutant.
	spacetimeSeeds       = 200
	spacetimeShrinkTries = 120
)

func runSpacetimeDiagram(outDir string) error {
	failing, err := firstLinearizabilityFailure(spacetimeMutant, spacetimeSeeds)
	if err != nil {
		return err
	}
	// Shrink keeps a smaller run when it fails one of the checks that caught the original; the
	// diagram needs a read that fails linearizability, so only that check is named.
	target := *failing
	target.CaughtBy = []string{string(linearizability.LinearizabilityCheck)}
	shrunk := harness.Shrink(&target, spacetimeShrinkTries).Outcome
	shrinkNote := fmt.Sprintf("shrunk from %d to %d ops", len(failing.History), len(shrunk.History))
	if shrunk == &target {
		shrunk, shrinkNote = failing, "no smaller run fails linearizability"
	}
	full, err := harness.Run(shrunk.Spec.Scenario, shrunk.Spec.Seed, harness.Options{FullTrace: true})
	if err != nil {
		return err
	}
	if full.Result.Hash != shrunk.Result.Hash {
		return fmt.Errorf("spacetime-diagram: rerunning seed %d with the full trace gave hash %016x, not %016x", shrunk.Spec.Seed, full.Result.Hash, shrunk.Result.Hash)
	}
	st, err := buildStory(full)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("Mutant %s, scenario %s, seed %d (%s): key %s, bucket %d",
		spacetimeMutant, shrunk.Spec.Scenario.Name, shrunk.Spec.Seed, shrinkNote, st.key, st.bucket)
	if err := saveFigure(outDir, "spacetime-diagram", 24*vg.Centimeter, 15*vg.Centimeter, st.painter(title)); err != nil {
		return err
	}
	// The run drawn, exactly: a shrunk scenario has no command-line flags, so its spec is saved.
	var spec bytes.Buffer
	if err := json.Indent(&spec, shrunk.TraceHeader(), "", "  "); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "spacetime-diagram-run.json"), append(spec.Bytes(), '\n'), 0o644); err != nil {
		return err
	}
	return writeCSV(outDir, "spacetime-diagram", []string{"what", "value"}, [][]string{
		{"mutant", spacetimeMutant},
		{"scenario", shrunk.Spec.Scenario.Name},
		{"seed", fmt.Sprint(shrunk.Spec.Seed)},
		{"shrinking", shrinkNote},
		{"unshrunk_replay", failing.ReplayCommand("")},
		{"run_spec", "spacetime-diagram-run.json (harness.RunSpec of the run drawn: scenario and seed)"},
		{"caught_by", strings.Join(shrunk.CaughtBy, " ")},
		{"key", st.key},
		{"bucket", fmt.Sprint(st.bucket)},
		{"missed_write", st.write.String()},
		{"violating_read", st.read.String()},
		{"arrows", fmt.Sprint(len(st.arrows))},
	})
}

// firstLinearizabilityFailure runs the default scenario with the mutant, seed after seed, until
// the linearizability check catches it.
func firstLinearizabilityFailure(mutant string, seeds int) (*harness.Outcome, error) {
	scn, err := harness.LookupScenario(harness.DefaultScenario)
	if err != nil {
		return nil, err
	}
	m, err := kv.ParseMutant(mutant)
	if err != nil {
		return nil, err
	}
	scn.KV.Mutants = kv.NewMutants(m)
	type result struct {
		o   *harness.Outcome
		err error
	}
	var found *harness.Outcome
	var runErr error
	harness.ParallelSeeds(harness.AllSeeds.Seeds(1, seeds), runtime.GOMAXPROCS(0), func(seed uint64) result {
		o, err := harness.Run(scn, seed, harness.Options{})
		return result{o, err}
	}, func(r result) {
		switch {
		case r.err != nil:
			runErr = r.err
		case found == nil && r.o.Verdict.Result == linearizability.Illegal:
			found = r.o
		}
	}, func() bool { return runErr != nil || found != nil })
	if runErr != nil {
		return nil, runErr
	}
	if found == nil {
		return nil, fmt.Errorf("spacetime-diagram: no seed in 1..%d of scenario %s fails linearizability with mutant %s", seeds, scn.Name, mutant)
	}
	return found, nil
}

// ---- the story: what the diagram shows, read from the trace ----

// arrowKind classifies a message for its colour.
type arrowKind int

const (
	arrowClient arrowKind = iota
	arrowReplication
	arrowAnnounce
	arrowFlush
	arrowImage
	arrowCompletion
	arrowFailover
	arrowKinds
)

var arrowStyles = [arrowKinds]struct {
	name  string
	color color.Color
}{
	arrowClient:      {"client request / reply on the key", colorBlack},
	arrowReplication: {"replicated write of the key / ack", colorBlue},
	arrowAnnounce:    {"announce / reply", colorPurple},
	arrowFlush:       {"state marker, flush record, holder stable", colorOrange},
	arrowImage:       {"image request / chunk", colorGreen},
	arrowCompletion:  {"initialized", colorSky},
	arrowFailover:    {"new primary's sync collect / state", colorGrey},
}

// messageKinds maps the message types of the bucket's replica creation and failover to arrow
// kinds. The names come from the messages themselves, so they cannot drift from the protocol.
var messageKinds = map[string]arrowKind{
	(&kv.Announce{}).Type():          arrowAnnounce,
	(&kv.AnnounceReply{}).Type():     arrowAnnounce,
	(&kv.StateMarker{}).Type():       arrowFlush,
	(&kv.FlushRecord{}).Type():       arrowFlush,
	(&kv.HolderStable{}).Type():      arrowFlush,
	(&kv.RequestImage{}).Type():      arrowImage,
	(&kv.ImageChunk{}).Type():        arrowImage,
	(&kv.SourceUnavailable{}).Type(): arrowImage,
	(&kv.Initialized{}).Type():       arrowCompletion,
	(&kv.SyncCollect{}).Type():       arrowFailover,
	(&kv.SyncState{}).Type():         arrowFailover,
}

var (
	typeClientRequest = (&kv.ClientRequest{}).Type()
	typeClientReply   = (&kv.ClientReply{}).Type()
	typeReplicate     = (&kv.Replicate{}).Type()
	typeWriteAck      = (&kv.WriteAck{}).Type()
)

// markKind is an instant on a lane.
type markKind int

const (
	markCrash markKind = iota
	markRestart
	markMittOpen
	markFlushComplete
	markInitialized
	markPrimaryChange
	markKinds
)

var markStyles = [markKinds]struct {
	name  string
	glyph draw.GlyphStyle
}{
	markCrash:         {"crash", draw.GlyphStyle{Color: colorRed, Radius: vg.Points(4), Shape: draw.CrossGlyph{}}},
	markRestart:       {"restart (empty)", draw.GlyphStyle{Color: colorGreen, Radius: vg.Points(4), Shape: draw.PlusGlyph{}}},
	markMittOpen:      {"mitt opens (new copy starts)", draw.GlyphStyle{Color: colorGreen, Radius: vg.Points(3.5), Shape: draw.SquareGlyph{}}},
	markFlushComplete: {"flush complete", draw.GlyphStyle{Color: colorOrange, Radius: vg.Points(4), Shape: draw.PyramidGlyph{}}},
	markInitialized:   {"copy initialized", draw.GlyphStyle{Color: colorSky, Radius: vg.Points(3.5), Shape: draw.BoxGlyph{}}},
	markPrimaryChange: {"becomes primary", draw.GlyphStyle{Color: colorBlack, Radius: vg.Points(4), Shape: draw.TriangleGlyph{}}},
}

// storyArrow is one message: from its send to its delivery (or to where it was dropped).
type storyArrow struct {
	from, to       int // positions on the x axis
	fromLane, lane int
	kind           arrowKind
	dropped        bool
	// emphasis: 1 for the missed write's messages, 2 for the violating read's.
	emphasis int
}

type storyMark struct {
	pos, lane int
	kind      markKind
}

// storyBand is a lane interval during which a new copy's mitt is open (the copy is uninitialized).
type storyBand struct{ from, to, lane int }

type storyNote struct {
	pos, lane int
	text      string
	color     color.Color
}

type story struct {
	key    string
	bucket int
	write  *linearizability.Operation // the last acknowledged write before the read
	read   *linearizability.Operation // the first read no linearization explains
	lanes  []string
	arrows []storyArrow
	marks  []storyMark
	bands  []storyBand
	notes  []storyNote
	ticks  []plot.Tick
	breaks []float64 // x positions of cut-out stretches of time
	// positions is the number of x positions used.
	positions int
}

// errNoViolatingRead is returned when the run's history has no read that fails on its own.
var errNoViolatingRead = errors.New("no read of the illegal key fails linearizability on its own")

// buildStory selects, from a failing run's full trace, what the diagram shows: the stretch from
// the copy under way when the missed write was made to the first primary change after it, then the
// violating read.
func buildStory(o *harness.Outcome) (*story, error) {
	if len(o.Verdict.IllegalKeys) == 0 {
		return nil, fmt.Errorf("spacetime-diagram: seed %d has no illegal key", o.Spec.Seed)
	}
	cfg := o.Drawn.KV
	st := &story{key: o.Verdict.IllegalKeys[0]}
	st.bucket = kv.BucketOf(st.key, cfg.Buckets)
	var err error
	if st.read, err = violatingRead(o.History, st.key); err != nil {
		return nil, err
	}
	for i := range o.History {
		op := &o.History[i]
		if op.Key == st.key && op.Kind.IsWrite() && op.Acknowledged() && op.ReturnUS < st.read.CallUS &&
			(st.write == nil || op.ReturnUS > st.write.ReturnUS) {
			st.write = op
		}
	}
	if st.write == nil {
		return nil, fmt.Errorf("spacetime-diagram: no acknowledged write of %s before the violating read %v", st.key, st.read)
	}

	// Segment 1: from the start of the copy under way when the missed write was invoked (or just
	// before the write) to the moment a new primary of the bucket serves after it: the promotion
	// that keeps or loses the write. Segment 2: the violating read.
	seg1From, seg1To := st.write.CallUS-2000, int64(-1)
	creations, err := completedCreations(o.Records)
	if err != nil {
		return nil, err
	}
	for _, c := range creations {
		if c.Bucket == st.bucket && c.MittOpenUS <= st.write.CallUS && c.InitializedUS >= st.write.CallUS {
			seg1From = min(seg1From, c.MittOpenUS)
		}
	}
	for i := range o.Records {
		r := &o.Records[i]
		if r.Kind == trace.KindEvent && r.Name == kv.EventPrimaryServing && r.TimeUS > st.write.ReturnUS && eventOfBucket(r, st.bucket) {
			seg1To = r.TimeUS
			break
		}
	}
	if seg1To < 0 || seg1To > st.read.CallUS {
		seg1To = min(st.write.ReturnUS+10_000, st.read.CallUS)
	}
	segments := [][2]int64{{seg1From, seg1To}, {st.read.CallUS, st.read.ReturnUS}}
	if segments[1][0] <= segments[0][1] {
		segments = [][2]int64{{seg1From, st.read.ReturnUS}}
	}
	inSegment := func(t int64) int {
		for i, s := range segments {
			if t >= s[0] && t <= s[1] {
				return i
			}
		}
		return -1
	}
	st.pick(o, inSegment)
	return st, nil
}

// eventOfBucket reports whether an event names the bucket.
func eventOfBucket(r *trace.Record, bucket int) bool {
	b, err := intAttr(r, "bucket")
	return err == nil && b == bucket
}

// violatingRead is the first acknowledged read of the key (by return time) such that the key's
// history up to it has no linearization: every write invoked before the read returned, and every
// read that returned by then.
func violatingRead(h linearizability.History, key string) (*linearizability.Operation, error) {
	var reads []*linearizability.Operation
	for i := range h {
		if h[i].Key == key && h[i].Kind == linearizability.OpGet && h[i].Acknowledged() {
			reads = append(reads, &h[i])
		}
	}
	slices.SortStableFunc(reads, func(a, b *linearizability.Operation) int { return int(a.ReturnUS - b.ReturnUS) })
	for _, g := range reads {
		var prefix linearizability.History
		for i := range h {
			op := &h[i]
			if op.Key != key {
				continue
			}
			if (op.Kind.IsWrite() && op.CallUS < g.ReturnUS) || (op.Kind == linearizability.OpGet && op.Acknowledged() && op.ReturnUS <= g.ReturnUS) {
				prefix = append(prefix, *op)
			}
		}
		v, err := linearizability.CheckHistory(prefix, 10*time.Second)
		if err != nil {
			return nil, err
		}
		if v.Result == linearizability.Illegal {
			return g, nil
		}
	}
	return nil, fmt.Errorf("spacetime-diagram: key %s: %w", key, errNoViolatingRead)
}

// pick selects the records to draw and lays them out: one x position per record, in trace order,
// with a gap where time is cut out between segments.
func (st *story) pick(o *harness.Outcome, inSegment func(int64) int) {
	cfg := o.Drawn.KV
	records := o.Records
	// Which client operations on the key, and which replicated writes carry it.
	opOf := func(client int32, seq string) *linearizability.Operation {
		for i := range o.History {
			op := &o.History[i]
			if op.Client == client && fmt.Sprint(op.Seq) == seq && op.Key == st.key {
				return op
			}
		}
		return nil
	}
	type writeRef struct {
		holder, origin int32
		write          string
	}
	carriesKey := map[writeRef]bool{}
	emphasisOf := func(op *linearizability.Operation) int {
		switch op {
		case st.read:
			return 2
		case st.write:
			return 1
		}
		return 0
	}

	type pick struct {
		kind     arrowKind
		emphasis int
	}
	picked := map[uint64]pick{} // by message id
	selected := map[uint64]bool{}
	for i := range records {
		r := &records[i]
		if r.Kind != trace.KindSend || inSegment(r.TimeUS) < 0 {
			continue
		}
		b, hasBucket := -1, false
		if v, err := intAttr(r, "bucket"); err == nil {
			b, hasBucket = v, true
		}
		switch {
		case r.Name == typeClientRequest:
			if key, _ := r.Get("key"); key == st.key {
				seq, _ := r.Get("seq")
				if op := opOf(r.Node, seq); op != nil {
					picked[r.MsgID] = pick{arrowClient, emphasisOf(op)}
				}
			}
		case r.Name == typeClientReply:
			seq, _ := r.Get("seq")
			if op := opOf(r.Peer, seq); op != nil {
				picked[r.MsgID] = pick{arrowClient, emphasisOf(op)}
			}
		case r.Name == typeReplicate && hasBucket && b == st.bucket:
			entries, _ := r.Get("entries")
			if strings.HasPrefix(entries, st.key+"=") || strings.Contains(entries, " "+st.key+"=") {
				w, _ := r.Get("write")
				carriesKey[writeRef{holder: r.Peer, origin: r.Node, write: w}] = true
				picked[r.MsgID] = pick{arrowReplication, 0}
			}
		case r.Name == typeWriteAck && hasBucket && b == st.bucket:
			w, _ := r.Get("write")
			if carriesKey[writeRef{holder: r.Node, origin: r.Peer, write: w}] {
				picked[r.MsgID] = pick{arrowReplication, 0}
			}
		case hasBucket && b == st.bucket:
			if k, ok := messageKinds[r.Name]; ok {
				picked[r.MsgID] = pick{k, 0}
			}
		}
		if _, ok := picked[r.MsgID]; ok {
			selected[r.Seq] = true
		}
	}
	// The two operations' invocations and returns anchor their notes.
	for _, op := range []*linearizability.Operation{st.write, st.read} {
		selected[op.InvokeSeq], selected[op.ReturnSeq] = true, true
	}
	// Deliveries and drops of picked messages, and the lane events.
	type laneEvent struct {
		seq  uint64
		node int32
		kind markKind
	}
	var marks, mitts []laneEvent
	markOf := map[string]markKind{protocol.EventMittOpen: markMittOpen, protocol.EventFlushComplete: markFlushComplete,
		protocol.EventInitialized: markInitialized, protocol.EventPrimaryChange: markPrimaryChange}
	for i := range records {
		r := &records[i]
		switch r.Kind {
		case trace.KindDeliver, trace.KindDrop:
			if _, ok := picked[r.MsgID]; ok {
				selected[r.Seq] = true
			}
		case trace.KindCrash, trace.KindRestart:
			if inSegment(r.TimeUS) >= 0 && int(r.Node) < cfg.Servers {
				selected[r.Seq] = true
				kind := markCrash
				if r.Kind == trace.KindRestart {
					kind = markRestart
				}
				marks = append(marks, laneEvent{r.Seq, r.Node, kind})
			}
		case trace.KindEvent:
			if inSegment(r.TimeUS) < 0 || !eventOfBucket(r, st.bucket) {
				continue
			}
			if k, ok := markOf[r.Name]; ok {
				selected[r.Seq] = true
				marks = append(marks, laneEvent{r.Seq, r.Node, k})
				if k == markMittOpen {
					mitts = append(mitts, laneEvent{r.Seq, r.Node, k})
				}
			}
		}
	}

	// Lanes: every server, then the clients with operations on the key in the picture.
	clients := map[int32]bool{}
	for i := range records {
		r := &records[i]
		if selected[r.Seq] && (r.Kind == trace.KindSend) && int(r.Node) >= cfg.Servers {
			clients[r.Node] = true
		}
	}
	laneOf := map[int32]int{}
	for id := 0; id < cfg.Servers; id++ {
		laneOf[int32(id)] = len(st.lanes)
		st.lanes = append(st.lanes, kv.NodeName(cfg, protocol.NodeID(id)))
	}
	for id := cfg.Servers; id < cfg.Servers+cfg.Clients; id++ {
		if clients[int32(id)] {
			laneOf[int32(id)] = len(st.lanes)
			st.lanes = append(st.lanes, kv.NodeName(cfg, protocol.NodeID(id)))
		}
	}

	// Positions in trace order; a gap of 4 positions where a segment ends.
	const gap = 4
	pos := map[uint64]int{}
	next, lastSegment := 0, -1
	var tickRecords []*trace.Record
	for i := range records {
		r := &records[i]
		if !selected[r.Seq] {
			continue
		}
		if s := inSegment(r.TimeUS); s > lastSegment && lastSegment >= 0 && s >= 0 {
			st.breaks = append(st.breaks, float64(next)+gap/2-1)
			next += gap
			lastSegment = s
		} else if lastSegment < 0 {
			lastSegment = max(s, 0)
		}
		pos[r.Seq] = next
		tickRecords = append(tickRecords, r)
		next++
	}
	st.positions = next

	sendAt := map[uint64]*trace.Record{}
	for i := range records {
		r := &records[i]
		if !selected[r.Seq] {
			continue
		}
		switch r.Kind {
		case trace.KindSend:
			sendAt[r.MsgID] = r
		case trace.KindDeliver, trace.KindDrop:
			s := sendAt[r.MsgID]
			if s == nil {
				continue // delivered after being sent outside the picture
			}
			fromLane, okFrom := laneOf[s.Node]
			toLane, okTo := laneOf[r.Node]
			if !okFrom || !okTo {
				continue
			}
			p := picked[r.MsgID]
			st.arrows = append(st.arrows, storyArrow{from: pos[s.Seq], to: pos[r.Seq], fromLane: fromLane, lane: toLane,
				kind: p.kind, dropped: r.Kind == trace.KindDrop, emphasis: p.emphasis})
		}
	}
	for _, m := range marks {
		if lane, ok := laneOf[m.node]; ok {
			st.marks = append(st.marks, storyMark{pos: pos[m.seq], lane: lane, kind: m.kind})
		}
	}
	// Mitt bands: from a mitt-open to the end of that copy's creation in the full trace (it is
	// initialized or dropped, or its server crashes; a discarded image does not end it, the copy
	// retries with its mitt open), drawn up to the last record shown before then, so that a
	// creation ending in cut-out time does not run on into the next segment.
	for _, m := range mitts {
		endUS := int64(math.MaxInt64)
		for i := range records {
			r := &records[i]
			if r.Seq <= m.seq || r.Node != m.node {
				continue
			}
			ends := r.Kind == trace.KindCrash || (r.Kind == trace.KindEvent && eventOfBucket(r, st.bucket) &&
				(r.Name == protocol.EventInitialized || r.Name == kv.EventBucketDropped))
			if ends {
				endUS = r.TimeUS
				break
			}
		}
		end := pos[m.seq]
		for _, r := range tickRecords {
			if r.TimeUS <= endUS {
				end = max(end, pos[r.Seq])
			}
		}
		st.bands = append(st.bands, storyBand{from: pos[m.seq], to: end, lane: laneOf[m.node]})
	}
	// Notes at the two operations' returns.
	for _, n := range []struct {
		op    *linearizability.Operation
		color color.Color
		text  string
	}{
		{st.write, colorBlue, fmt.Sprintf("%s acknowledged", opLabel(st.write))},
		{st.read, colorRed, fmt.Sprintf("%s: not linearizable", opLabel(st.read))},
	} {
		if p, ok := pos[n.op.ReturnSeq]; ok {
			st.notes = append(st.notes, storyNote{pos: p, lane: laneOf[n.op.Client], text: n.text, color: n.color})
		}
	}
	// About eight time ticks, at evenly spaced selected records.
	step := max(1, len(tickRecords)/8)
	for i := 0; i < len(tickRecords); i += step {
		r := tickRecords[i]
		st.ticks = append(st.ticks, plot.Tick{Value: float64(pos[r.Seq]), Label: fmt.Sprintf("%.1f", usToMS(r.TimeUS))})
	}
}

// opLabel names an operation as the diagram prints it: get(k66) -> absent, append(k66, "c1-87;").
func opLabel(op *linearizability.Operation) string {
	switch {
	case op.Kind == linearizability.OpGet && !op.Found:
		return fmt.Sprintf("get(%s) -> absent", op.Key)
	case op.Kind == linearizability.OpGet:
		return fmt.Sprintf("get(%s) -> %q", op.Key, op.Output)
	case op.Kind == linearizability.OpDelete:
		return fmt.Sprintf("delete(%s)", op.Key)
	}
	return fmt.Sprintf("%s(%s, %q)", op.Kind, op.Key, op.Value)
}

// ---- drawing ----

// laneY turns a lane index (0 at the top) into a y value.
func (st *story) laneY(lane int) float64 { return float64(len(st.lanes) - 1 - lane) }

// painter draws the diagram with a key strip below it.
func (st *story) painter(title string) painter {
	p := newPlot(title, "trace order of the records shown (tick labels: virtual time in ms; dotted lines: time cut out)", "")
	p.Title.TextStyle.Font.Size = labelFontSize
	p.Add(spacetimePlotter{st})
	reversed := make([]string, len(st.lanes))
	for i, name := range st.lanes {
		reversed[len(st.lanes)-1-i] = name
	}
	p.NominalY(reversed...)
	p.X.Tick.Marker = plot.ConstantTicks(st.ticks)
	p.X.Min, p.X.Max = -1, float64(st.positions)
	p.Y.Min, p.Y.Max = -0.6, float64(len(st.lanes))-0.4
	return func(dc draw.Canvas) {
		keyHeight := 2.8 * vg.Centimeter
		p.Draw(draw.Crop(dc, 0, 0, keyHeight, 0))
		st.drawKey(draw.Crop(dc, 0, 0, 0, -(dc.Max.Y - dc.Min.Y - keyHeight)))
	}
}

// spacetimePlotter draws lanes, mitt bands, arrows, marks and notes in data coordinates.
type spacetimePlotter struct{ st *story }

// Plot implements plot.Plotter.
func (sp spacetimePlotter) Plot(c draw.Canvas, p *plot.Plot) {
	st := sp.st
	tx, ty := p.Transforms(&c)
	laneStyle := draw.LineStyle{Color: color.Gray{Y: 0xB0}, Width: vg.Points(0.5)}
	for lane := range st.lanes {
		y := ty(st.laneY(lane))
		c.StrokeLine2(laneStyle, c.Min.X, y, c.Max.X, y)
	}
	for _, b := range st.bands {
		y := ty(st.laneY(b.lane))
		h := vg.Points(5)
		x0, x1 := tx(float64(b.from)), tx(float64(b.to))
		c.FillPolygon(withAlpha(colorGreen, 0x40), []vg.Point{{X: x0, Y: y - h}, {X: x1, Y: y - h}, {X: x1, Y: y + h}, {X: x0, Y: y + h}})
	}
	breakStyle := draw.LineStyle{Color: colorBlack, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(1), vg.Points(2)}}
	for _, x := range st.breaks {
		c.StrokeLine2(breakStyle, tx(x), c.Min.Y, tx(x), c.Max.Y)
	}
	// Ordinary arrows first, emphasised ones on top.
	for emphasis := 0; emphasis <= 2; emphasis++ {
		for _, a := range st.arrows {
			if a.emphasis != emphasis {
				continue
			}
			style := draw.LineStyle{Color: arrowStyles[a.kind].color, Width: vg.Points(0.8)}
			switch a.emphasis {
			case 1:
				style.Color, style.Width = colorBlue, vg.Points(2)
			case 2:
				style.Color, style.Width = colorRed, vg.Points(2.2)
			}
			if a.dropped {
				style.Dashes = []vg.Length{vg.Points(2), vg.Points(1.5)}
			}
			drawArrow(&c, style, vg.Point{X: tx(float64(a.from)), Y: ty(st.laneY(a.fromLane))}, vg.Point{X: tx(float64(a.to)), Y: ty(st.laneY(a.lane))}, a.dropped)
		}
	}
	for _, m := range st.marks {
		c.DrawGlyph(markStyles[m.kind].glyph, vg.Point{X: tx(float64(m.pos)), Y: ty(st.laneY(m.lane))})
	}
	for _, n := range st.notes {
		// A note reads away from the nearer edge: right of its point in the left half, left of it
		// in the right half.
		sty := textStyle(labelFontSize, n.color)
		sty.YAlign = draw.YBottom
		x := tx(float64(n.pos)) + vg.Points(4)
		if 2*n.pos > st.positions {
			sty.XAlign = draw.XRight
			x -= vg.Points(8)
		}
		c.FillText(sty, vg.Point{X: x, Y: ty(st.laneY(n.lane)) + vg.Points(4)}, n.text)
	}
}

// drawArrow strokes a line from a to b with an arrowhead at b (a cross when the message was
// dropped).
func drawArrow(c *draw.Canvas, style draw.LineStyle, a, b vg.Point, dropped bool) {
	c.StrokeLine2(style, a.X, a.Y, b.X, b.Y)
	dx, dy := float64(b.X-a.X), float64(b.Y-a.Y)
	length := math.Hypot(dx, dy)
	if length == 0 {
		return
	}
	ux, uy := dx/length, dy/length
	head := 3 + float64(style.Width)
	solid := draw.LineStyle{Color: style.Color, Width: style.Width}
	if dropped {
		s := head * 0.7
		c.StrokeLine2(solid, b.X-vg.Length(s), b.Y-vg.Length(s), b.X+vg.Length(s), b.Y+vg.Length(s))
		c.StrokeLine2(solid, b.X-vg.Length(s), b.Y+vg.Length(s), b.X+vg.Length(s), b.Y-vg.Length(s))
		return
	}
	left := vg.Point{X: b.X - vg.Length(head*ux-head*0.5*uy), Y: b.Y - vg.Length(head*uy+head*0.5*ux)}
	right := vg.Point{X: b.X - vg.Length(head*ux+head*0.5*uy), Y: b.Y - vg.Length(head*uy-head*0.5*ux)}
	c.FillPolygon(style.Color, []vg.Point{b, left, right})
}

// drawKey lays the diagram's key out in columns below it.
func (st *story) drawKey(c draw.Canvas) {
	type entry struct {
		name  string
		thumb func(c *draw.Canvas, at vg.Point)
	}
	var entries []entry
	for k := arrowKind(0); k < arrowKinds; k++ {
		s := arrowStyles[k]
		entries = append(entries, entry{s.name, func(c *draw.Canvas, at vg.Point) {
			drawArrow(c, draw.LineStyle{Color: s.color, Width: vg.Points(1)}, at, vg.Point{X: at.X + vg.Points(18), Y: at.Y}, false)
		}})
	}
	entries = append(entries,
		entry{"missed write (client's messages)", func(c *draw.Canvas, at vg.Point) {
			drawArrow(c, draw.LineStyle{Color: colorBlue, Width: vg.Points(2)}, at, vg.Point{X: at.X + vg.Points(18), Y: at.Y}, false)
		}},
		entry{"violating read (client's messages)", func(c *draw.Canvas, at vg.Point) {
			drawArrow(c, draw.LineStyle{Color: colorRed, Width: vg.Points(2.2)}, at, vg.Point{X: at.X + vg.Points(18), Y: at.Y}, false)
		}},
		entry{"message lost (receiver down)", func(c *draw.Canvas, at vg.Point) {
			drawArrow(c, draw.LineStyle{Color: colorBlack, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(2), vg.Points(1.5)}}, at, vg.Point{X: at.X + vg.Points(18), Y: at.Y}, true)
		}},
		entry{"catcher's mitt open (copy uninitialized)", func(c *draw.Canvas, at vg.Point) {
			h := vg.Points(5)
			c.FillPolygon(withAlpha(colorGreen, 0x40), []vg.Point{{X: at.X, Y: at.Y - h}, {X: at.X + vg.Points(18), Y: at.Y - h}, {X: at.X + vg.Points(18), Y: at.Y + h}, {X: at.X, Y: at.Y + h}})
		}},
	)
	for k := markKind(0); k < markKinds; k++ {
		s := markStyles[k]
		entries = append(entries, entry{s.name, func(c *draw.Canvas, at vg.Point) {
			c.DrawGlyph(s.glyph, vg.Point{X: at.X + vg.Points(9), Y: at.Y})
		}})
	}
	const columns = 3
	rows := (len(entries) + columns - 1) / columns
	colWidth := (c.Max.X - c.Min.X) / columns
	rowHeight := (c.Max.Y - c.Min.Y) / vg.Length(rows)
	sty := textStyle(legendFontSize, colorBlack)
	sty.YAlign = draw.YCenter
	for i, e := range entries {
		col, row := i/rows, i%rows
		at := vg.Point{X: c.Min.X + vg.Length(col)*colWidth + vg.Points(6), Y: c.Max.Y - (vg.Length(row)+0.5)*rowHeight}
		e.thumb(&c, at)
		c.FillText(sty, vg.Point{X: at.X + vg.Points(24), Y: at.Y}, e.name)
	}
}
