// Package spacetime draws space-time (Lamport) diagrams of a failing run: one lane per member and
// per client that touched the failing key, arrows for the messages that matter to that key (the
// client's requests and replies, the replicated writes of the key, the bucket's announce, flush,
// image and failover messages), crashes, restarts, primary changes and the state flush phases
// marked on the lanes, and the write that was missed and the read that shows it highlighted.
//
// One piece of code selects and draws: the notebooks' figure (notebooks/06-spacetime-diagram) and
// the report page (linearizability.WriteReport, through harness) both call Build and Painter.
package spacetime

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/stateflush/stateflush/internal/figure"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/trace"
)

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
	arrowClient:      {"client request / reply on the key", figure.Black},
	arrowReplication: {"replicated write of the key / ack", figure.Blue},
	arrowAnnounce:    {"announce / reply", figure.Purple},
	arrowFlush:       {"state marker, flush record, holder stable", figure.Orange},
	arrowImage:       {"image request / chunk", figure.Green},
	arrowCompletion:  {"initialized", figure.Sky},
	arrowFailover:    {"new primary's sync collect / state", figure.Grey},
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
	markCrash:         {"crash", draw.GlyphStyle{Color: figure.Red, Radius: vg.Points(4), Shape: draw.CrossGlyph{}}},
	markRestart:       {"restart (empty)", draw.GlyphStyle{Color: figure.Green, Radius: vg.Points(4), Shape: draw.PlusGlyph{}}},
	markMittOpen:      {"mitt opens (new copy starts)", draw.GlyphStyle{Color: figure.Green, Radius: vg.Points(3.5), Shape: draw.SquareGlyph{}}},
	markFlushComplete: {"flush complete", draw.GlyphStyle{Color: figure.Orange, Radius: vg.Points(4), Shape: draw.PyramidGlyph{}}},
	markInitialized:   {"copy initialized", draw.GlyphStyle{Color: figure.Sky, Radius: vg.Points(3.5), Shape: draw.BoxGlyph{}}},
	markPrimaryChange: {"becomes primary", draw.GlyphStyle{Color: figure.Black, Radius: vg.Points(4), Shape: draw.TriangleGlyph{}}},
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
	// pos is the operation's return, from its invocation (or pos when it is not shown).
	pos, from, lane int
	text            string
	color           color.Color
}

type story struct {
	key    string
	bucket int
	write  *linearizability.Operation // the last acknowledged write before the read
	read   *linearizability.Operation // the first read no linearization explains
	// readNote says what the read is: "not linearizable", or "last read" when the loss shows only
	// in the final state.
	readNote string
	lanes    []string
	arrows   []storyArrow
	marks    []storyMark
	bands    []storyBand
	notes    []storyNote
	ticks    []plot.Tick
	breaks   []float64 // x positions of cut-out stretches of time
	// positions is the number of x positions used.
	positions int
}

// ErrNoViolatingRead is returned when the run's history has no read that fails on its own.
var ErrNoViolatingRead = errors.New("no read of the illegal key fails linearizability on its own")

// Input is what a diagram is drawn from.
type Input struct {
	// Records is the run's full trace (sends and deliveries included).
	Records []trace.Record
	// History is the clients' history; the harness's final reads may be included.
	History linearizability.History
	// Config is the store's configuration as run: it says which nodes are servers and clients,
	// their names and the key's bucket.
	Config kv.Config
	// Key is the failing key.
	Key string
	// Write is the write the diagram follows (the acknowledged write that was lost), nil to take
	// the last acknowledged write of the key that returned before the read.
	Write *linearizability.Operation
}

// Build selects, from a failing run's full trace, what the diagram shows: the stretch from the
// copy under way when the missed write was made to the first primary change after it, then the
// read that shows the loss: the first read that no linearization explains or, when there is none
// (the loss shows only in the final state), the key's last read.
func Build(in Input) (*Diagram, error) {
	if in.Key == "" {
		return nil, errors.New("spacetime: no key")
	}
	if in.Config.Buckets <= 0 {
		return nil, fmt.Errorf("spacetime: the configuration has %d buckets", in.Config.Buckets)
	}
	cfg := in.Config
	st := &story{key: in.Key, readNote: "not linearizable"}
	st.bucket = kv.BucketOf(st.key, cfg.Buckets)
	var err error
	if st.read, err = violatingRead(in.History, st.key); errors.Is(err, ErrNoViolatingRead) {
		st.read, st.readNote = lastRead(in.History, st.key), "last read"
		if st.read == nil {
			return nil, fmt.Errorf("spacetime: key %s has no acknowledged read", st.key)
		}
	} else if err != nil {
		return nil, err
	}
	st.write = in.Write
	if st.write == nil {
		st.write = missedWrite(in.History, st.key, st.read)
	}
	if st.write == nil {
		return nil, fmt.Errorf("spacetime: no acknowledged write of %s before the read %v", st.key, st.read)
	}

	// Segment 1: from the start of the copy under way when the missed write was invoked (or just
	// before the write) to the moment a new primary of the bucket serves after it: the promotion
	// that keeps or loses the write. Segment 2: the violating read.
	seg1From, seg1To := st.write.CallUS-2000, int64(-1)
	creations, err := linearizability.CompletedCreations(in.Records)
	if err != nil {
		return nil, err
	}
	for _, c := range creations {
		if c.Bucket == st.bucket && c.MittOpenUS <= st.write.CallUS && c.InitializedUS >= st.write.CallUS {
			seg1From = min(seg1From, c.MittOpenUS)
		}
	}
	for i := range in.Records {
		r := &in.Records[i]
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
	st.pick(in, inSegment)
	return &Diagram{st}, nil
}

// eventOfBucket reports whether an event names the bucket.
func eventOfBucket(r *trace.Record, bucket int) bool {
	b, err := r.Int("bucket")
	return err == nil && b == bucket
}

// violatingRead is linearizability.FirstIllegalRead with its error naming the diagram.
func violatingRead(h linearizability.History, key string) (*linearizability.Operation, error) {
	op, err := linearizability.FirstIllegalRead(h, key, 10*time.Second)
	if errors.Is(err, linearizability.ErrNoIllegalRead) {
		return nil, fmt.Errorf("spacetime-diagram: key %s: %w", key, ErrNoViolatingRead)
	}
	return op, err
}

// pick selects the records to draw and lays them out: one x position per record, in trace order,
// with a gap where time is cut out between segments.
func (st *story) pick(in Input, inSegment func(int64) int) {
	cfg := in.Config
	records := in.Records
	// Which client operations on the key, and which replicated writes carry it.
	opOf := func(client int32, seq string) *linearizability.Operation {
		for i := range in.History {
			op := &in.History[i]
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
		if v, err := r.Int("bucket"); err == nil {
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
		for _, seq := range []uint64{op.InvokeSeq, op.ReturnSeq} {
			if seq != 0 { // the harness's final reads have no trace records
				selected[seq] = true
			}
		}
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
		{st.write, figure.Blue, fmt.Sprintf("%s acknowledged", opLabel(st.write))},
		{st.read, figure.Red, fmt.Sprintf("%s: %s", opLabel(st.read), st.readNote)},
	} {
		if p, ok := pos[n.op.ReturnSeq]; ok {
			from, ok := pos[n.op.InvokeSeq]
			if !ok {
				from = p
			}
			st.notes = append(st.notes, storyNote{pos: p, from: from, lane: laneOf[n.op.Client], text: n.text, color: n.color})
		}
	}
	// About eight time ticks, at evenly spaced selected records.
	step := max(1, len(tickRecords)/8)
	for i := 0; i < len(tickRecords); i += step {
		r := tickRecords[i]
		st.ticks = append(st.ticks, plot.Tick{Value: float64(pos[r.Seq]), Label: fmt.Sprintf("%.1f", float64(r.TimeUS)/1000)})
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
func (st *story) painter(title string) figure.Painter {
	p := figure.NewPlot(title, "trace order of the records shown (tick labels: virtual time in ms; dotted lines: time cut out)", "")
	p.Title.TextStyle.Font.Size = figure.LabelFontSize
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
		keyHeight := 2.6 * vg.Centimeter
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
		c.FillPolygon(figure.WithAlpha(figure.Green, 0x40), []vg.Point{{X: x0, Y: y - h}, {X: x1, Y: y - h}, {X: x1, Y: y + h}, {X: x0, Y: y + h}})
	}
	breakStyle := draw.LineStyle{Color: figure.Black, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(1), vg.Points(2)}}
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
				style.Color, style.Width = figure.Blue, vg.Points(2)
			case 2:
				style.Color, style.Width = figure.Red, vg.Points(2.2)
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
		sty := figure.TextStyle(figure.LabelFontSize, n.color)
		sty.YAlign = draw.YBottom
		// It starts right of the operation's return, or ends left of its invocation, so that it
		// never covers the operation's own arrows.
		x := tx(float64(n.pos)) + vg.Points(4)
		if 2*n.pos > st.positions {
			sty.XAlign = draw.XRight
			x = tx(float64(n.from)) - vg.Points(4)
		}
		at := vg.Point{X: x, Y: ty(st.laneY(n.lane)) + vg.Points(4)}
		// A white box behind the text, so that no arrow runs through it.
		w, h := sty.Width(n.text), sty.Height(n.text)
		x0 := at.X
		if sty.XAlign == draw.XRight {
			x0 -= w
		}
		pad := vg.Points(2)
		c.FillPolygon(color.NRGBA{R: 0xFF, G: 0xFF, B: 0xFF, A: 0xE8}, []vg.Point{{X: x0 - pad, Y: at.Y - pad}, {X: x0 + w + pad, Y: at.Y - pad},
			{X: x0 + w + pad, Y: at.Y + h + pad}, {X: x0 - pad, Y: at.Y + h + pad}})
		c.FillText(sty, at, n.text)
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
			drawArrow(c, draw.LineStyle{Color: figure.Blue, Width: vg.Points(2)}, at, vg.Point{X: at.X + vg.Points(18), Y: at.Y}, false)
		}},
		entry{"violating read (client's messages)", func(c *draw.Canvas, at vg.Point) {
			drawArrow(c, draw.LineStyle{Color: figure.Red, Width: vg.Points(2.2)}, at, vg.Point{X: at.X + vg.Points(18), Y: at.Y}, false)
		}},
		entry{"message lost (receiver down)", func(c *draw.Canvas, at vg.Point) {
			drawArrow(c, draw.LineStyle{Color: figure.Black, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(2), vg.Points(1.5)}}, at, vg.Point{X: at.X + vg.Points(18), Y: at.Y}, true)
		}},
		entry{"catcher's mitt open (copy uninitialized)", func(c *draw.Canvas, at vg.Point) {
			h := vg.Points(5)
			c.FillPolygon(figure.WithAlpha(figure.Green, 0x40), []vg.Point{{X: at.X, Y: at.Y - h}, {X: at.X + vg.Points(18), Y: at.Y - h}, {X: at.X + vg.Points(18), Y: at.Y + h}, {X: at.X, Y: at.Y + h}})
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
	sty := figure.TextStyle(figure.LegendFontSize, figure.Black)
	sty.YAlign = draw.YCenter
	for i, e := range entries {
		col, row := i/rows, i%rows
		at := vg.Point{X: c.Min.X + vg.Length(col)*colWidth + vg.Points(6), Y: c.Max.Y - (vg.Length(row)+0.5)*rowHeight}
		e.thumb(&c, at)
		c.FillText(sty, vg.Point{X: at.X + vg.Points(24), Y: at.Y}, e.name)
	}
}

// ---- the API ----

// Diagram is a built space-time diagram.
type Diagram struct{ st *story }

// Key and Bucket are the failing key and its bucket.
func (d *Diagram) Key() string { return d.st.key }

// Bucket is the failing key's bucket.
func (d *Diagram) Bucket() int { return d.st.bucket }

// Write is the write the diagram follows; Read the read that shows its loss.
func (d *Diagram) Write() *linearizability.Operation { return d.st.write }

// Read is the read that shows the loss.
func (d *Diagram) Read() *linearizability.Operation { return d.st.read }

// ReadIsViolating says whether Read is a read that no linearization explains (false: it is the
// key's last read, and the loss shows in the final state).
func (d *Diagram) ReadIsViolating() bool { return d.st.readNote == "not linearizable" }

// Lanes are the lane names, top to bottom.
func (d *Diagram) Lanes() []string { return slices.Clone(d.st.lanes) }

// Arrows is the number of messages drawn.
func (d *Diagram) Arrows() int { return len(d.st.arrows) }

// Size is the diagram's natural size: wide enough for its records, tall enough for its lanes and
// its key.
func (d *Diagram) Size() (width, height vg.Length) {
	width = max(24*vg.Centimeter, min(40*vg.Centimeter, vg.Length(d.st.positions)*0.25*vg.Centimeter))
	height = 4*vg.Centimeter + vg.Length(len(d.st.lanes))*0.9*vg.Centimeter
	return width, max(height, 12*vg.Centimeter)
}

// Painter draws the diagram, with a key strip below it, under the given title.
func (d *Diagram) Painter(title string) figure.Painter { return d.st.painter(title) }

// SVG renders the diagram at its natural size as an SVG document.
func (d *Diagram) SVG(title string) ([]byte, error) {
	w, h := d.Size()
	return figure.SVG(w, h, d.Painter(title))
}

// missedWrite is the write the read should have seen: the latest acknowledged write of the key
// that returned before the read was invoked and whose effect the read lacks (an append whose token
// is not in the value read; a put of another value; a delete when the read found a value), else
// the latest acknowledged write before the read.
func missedWrite(h linearizability.History, key string, read *linearizability.Operation) *linearizability.Operation {
	var latest, missed *linearizability.Operation
	for i := range h {
		op := &h[i]
		if op.Key != key || !op.Kind.IsWrite() || !op.Acknowledged() || op.ReturnUS >= read.CallUS {
			continue
		}
		if latest == nil || op.ReturnUS > latest.ReturnUS {
			latest = op
		}
		lacks := false
		switch op.Kind {
		case linearizability.OpAppend:
			lacks = !read.Found || !strings.Contains(read.Output, op.Value)
		case linearizability.OpPut:
			lacks = !read.Found || read.Output != op.Value
		case linearizability.OpDelete:
			lacks = read.Found
		}
		if lacks && (missed == nil || op.ReturnUS > missed.ReturnUS) {
			missed = op
		}
	}
	if missed != nil {
		return missed
	}
	return latest
}

// lastRead is the key's acknowledged read that returned last.
func lastRead(h linearizability.History, key string) *linearizability.Operation {
	var last *linearizability.Operation
	for i := range h {
		op := &h[i]
		if op.Key == key && op.Kind == linearizability.OpGet && op.Acknowledged() && (last == nil || op.ReturnUS > last.ReturnUS) {
			last = op
		}
	}
	return last
}
