package linearizability

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// DefaultMarkerType is the message type that DefaultIsMarker treats as a Chandy–Lamport marker.
const DefaultMarkerType = "snapshot-marker"

// DefaultIsMarker is the marker predicate CheckCut uses when given nil: a message is a snapshot
// marker when its type (the Name of its send and deliver records) is DefaultMarkerType.
func DefaultIsMarker(messageType string) bool { return messageType == DefaultMarkerType }

// ErrSnapshotNotFound: the trace has no snapshot-local record for the requested snapshot.
var ErrSnapshotNotFound = errors.New("snapshot not found in trace")

// Channel is the directed FIFO channel from one node to another.
type Channel struct {
	From int32 `json:"from"`
	To   int32 `json:"to"`
}

func (c Channel) String() string { return fmt.Sprintf("%d→%d", c.From, c.To) }

// Cut is a Chandy–Lamport snapshot read back from a trace, with what CheckCut found wrong with it.
type Cut struct {
	Snapshot string `json:"snapshot"`
	// Members are the nodes that recorded a local state, sorted.
	Members []int32 `json:"members"`
	// CutSeq is each member's cut point: the Seq of its snapshot-local record. The member's
	// records up to and including it are inside the cut.
	CutSeq map[int32]uint64 `json:"cut_seq"`
	// InFlight are the messages (MsgIDs) each channel between members recorded as in flight, in
	// the order they were recorded.
	InFlight   map[Channel][]uint64 `json:"-"`
	Violations []Violation          `json:"violations,omitempty"`
}

// CompletedSnapshots lists the IDs of the snapshots whose initiator emitted snapshot-complete, in
// trace order. These are the snapshots worth checking with CheckCut.
func CompletedSnapshots(records []trace.Record) []string {
	var ids []string
	seen := map[string]bool{}
	for i := range records {
		r := &records[i]
		if r.Kind == trace.KindEvent && r.Name == protocol.EventSnapshotComplete {
			if id, ok := r.Get("snapshot"); ok && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// CheckCut reads snapshot snapshotID back from a trace (its snapshot-local, snapshot-channel,
// snapshot-marker and snapshot-complete events; see protocol/events.go) and verifies it:
//
//   - The cut is closed under happens-before, decided with vector clocks over every node of the
//     trace (clients and other non-members included, the snapshot's markers excluded): no member's
//     cut point knows more of another member than that member's own cut point. A message between
//     members delivered inside the cut but sent outside it is reported as such, naming the channel
//     and message; a causal path through a non-member is reported with the two cut points.
//   - Each channel's recorded state is exactly the deliveries, in delivery order, of messages sent
//     inside the cut and delivered outside it on that channel. A missing or extra message, a wrong
//     order, a recording after the channel's marker arrived, or a channel never closed by a marker
//     is a violation naming the channel and message. A duplicated message counts once per delivery.
//     Messages that were dropped or never delivered are not in flight as far as the receiver can
//     tell and are not expected.
//   - Every member that snapshot-complete lists recorded a local state, and none recorded twice.
//
// Only members (nodes with a snapshot-local record) take part: channels from or to other nodes are
// ignored. Marker messages are recognised by isMarker applied to the message type, which is the
// Name of send and deliver records; nil means DefaultIsMarker. Markers are excluded from both
// checks: a marker is sent after its sender's cut point and may well arrive before the receiver's,
// because its arrival is what triggers the receiver's recording.
//
// Errors (wrapping ErrSnapshotNotFound or ErrMalformedTrace) are for traces that cannot be read,
// not for inconsistent snapshots, which are reported as Violations.
func CheckCut(records []trace.Record, snapshotID string, isMarker func(messageType string) bool) (Cut, error) {
	return CheckCutWithEnvironment(records, snapshotID, isMarker, nil)
}

// CheckCutWithEnvironment is CheckCut for a protocol whose snapshots are consistent only with
// respect to the causality among the system's own nodes: causal paths through the environment
// nodes (clients, say) are not followed. CheckCut follows every path.
func CheckCutWithEnvironment(records []trace.Record, snapshotID string, isMarker func(messageType string) bool, environment []int32) (Cut, error) {
	if isMarker == nil {
		isMarker = DefaultIsMarker
	}
	clocks, err := cutClocks(records, isMarker, environment)
	if err != nil {
		return Cut{}, err
	}
	return checkCut(records, snapshotID, isMarker, clocks)
}

// CheckCuts checks every completed snapshot of the trace (CompletedSnapshots) as
// CheckCutWithEnvironment does, computing the vector clocks once for all of them.
func CheckCuts(records []trace.Record, isMarker func(messageType string) bool, environment []int32) ([]Cut, error) {
	if isMarker == nil {
		isMarker = DefaultIsMarker
	}
	ids := CompletedSnapshots(records)
	if len(ids) == 0 {
		return nil, nil
	}
	clocks, err := cutClocks(records, isMarker, environment)
	if err != nil {
		return nil, err
	}
	cuts := make([]Cut, 0, len(ids))
	for _, id := range ids {
		cut, err := checkCut(records, id, isMarker, clocks)
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", id, err)
		}
		cuts = append(cuts, cut)
	}
	return cuts, nil
}

func cutClocks(records []trace.Record, isMarker func(string) bool, environment []int32) ([]VectorClock, error) {
	outside := map[int32]bool{}
	for _, n := range environment {
		outside[n] = true
	}
	return vectorClocks(records, isMarker, outside)
}

func checkCut(records []trace.Record, snapshotID string, isMarker func(string) bool, clocks []VectorClock) (Cut, error) {
	cut := Cut{Snapshot: snapshotID, CutSeq: map[int32]uint64{}, InFlight: map[Channel][]uint64{}}
	var listed []int32
	listedSeq := uint64(0)
	for i := range records {
		r := &records[i]
		if r.Kind != trace.KindEvent {
			continue
		}
		if id, _ := r.Get("snapshot"); id != snapshotID {
			continue
		}
		switch r.Name {
		case protocol.EventSnapshotLocal:
			if first, ok := cut.CutSeq[r.Node]; ok {
				cut.Violations = append(cut.Violations, Violation{
					Check: ConsistentCutCheck, Bucket: NoBucket, TraceSeqs: traceSeqs(first, r.Seq),
					Message: fmt.Sprintf("snapshot %s: node %d recorded its local state twice (seqs %d and %d)", snapshotID, r.Node, first, r.Seq),
				})
				continue
			}
			cut.CutSeq[r.Node] = r.Seq
			cut.Members = append(cut.Members, r.Node)
		case protocol.EventSnapshotComplete:
			members, ok := r.Get("members")
			if !ok {
				continue
			}
			parsed, err := parseNodeList(members)
			if err != nil {
				return Cut{}, malformed(r, "attribute members=%q: %v", members, err)
			}
			listed, listedSeq = parsed, r.Seq
		}
	}
	if len(cut.Members) == 0 {
		return Cut{}, fmt.Errorf("%w: no %s record with snapshot=%q", ErrSnapshotNotFound, protocol.EventSnapshotLocal, snapshotID)
	}
	slices.Sort(cut.Members)
	for _, n := range listed {
		if _, ok := cut.CutSeq[n]; !ok {
			cut.Violations = append(cut.Violations, Violation{
				Check: ConsistentCutCheck, Bucket: NoBucket, TraceSeqs: traceSeqs(listedSeq),
				Message: fmt.Sprintf("snapshot %s: node %d is listed as a member on completion but recorded no local state", snapshotID, n),
			})
		}
	}
	expected, err := cut.classifyMessages(records, isMarker)
	if err != nil {
		return Cut{}, err
	}
	cut.checkCausality(records, clocks)
	closedAt, err := cut.readChannelRecords(records, snapshotID)
	if err != nil {
		return Cut{}, err
	}
	cut.compareChannels(expected, closedAt)
	return cut, nil
}

// checkCausality decides consistency with vector clocks over every node, clients and other
// non-members included: the cut is consistent iff no member's cut point knows of an event of
// another member that lies after that member's own cut point. This catches a causal path from a
// member after its cut, through a non-member, to a member before its cut, which the message check
// between members cannot see. A pair already reported by the message check is not reported again.
func (cut *Cut) checkCausality(records []trace.Record, clocks []VectorClock) {
	at := map[int32]VectorClock{}
	for i := range records {
		r := &records[i]
		if seq, ok := cut.CutSeq[r.Node]; ok && seq == r.Seq {
			at[r.Node] = clocks[i]
		}
	}
	direct := map[Channel]bool{}
	for _, v := range cut.Violations {
		if v.Channel != nil {
			direct[*v.Channel] = true
		}
	}
	component := func(c VectorClock, n int32) uint64 {
		if int(n) < len(c) {
			return c[n]
		}
		return 0
	}
	for _, p := range cut.Members {
		for _, q := range cut.Members {
			if p == q || direct[Channel{p, q}] {
				continue
			}
			known, own := component(at[q], p), component(at[p], p)
			if known <= own {
				continue
			}
			cut.Violations = append(cut.Violations, Violation{
				Check: ConsistentCutCheck, Bucket: NoBucket, TraceSeqs: traceSeqs(cut.CutSeq[p], cut.CutSeq[q]),
				Message: fmt.Sprintf("snapshot %s: the cut is not closed under happens-before: node %d's cut point (seq %d) knows %d events of node %d, "+
					"whose own cut point (seq %d) holds only %d: a causal path (perhaps through nodes outside the snapshot) leads from after node %d's cut into node %d's",
					cut.Snapshot, q, cut.CutSeq[q], known, p, cut.CutSeq[p], own, p, q),
			})
		}
	}
}

// message is one delivery of a message between members, as the trace saw it.
type message struct {
	msgID       uint64
	messageType string
	sendSeq     uint64
	deliverSeq  uint64
}

// classifyMessages finds every delivery between members, reports those received inside the cut but
// sent outside it, and returns per channel the deliveries that should be recorded as in flight.
func (cut *Cut) classifyMessages(records []trace.Record, isMarker func(string) bool) (map[Channel][]message, error) {
	type send struct {
		seq         uint64
		messageType string
	}
	sends := map[uint64]send{}
	expected := map[Channel][]message{}
	for i := range records {
		r := &records[i]
		if r.Kind != trace.KindSend && r.Kind != trace.KindDeliver {
			continue
		}
		from, to := r.Node, r.Peer
		if r.Kind == trace.KindDeliver {
			from, to = r.Peer, r.Node
		}
		fromCut, fromMember := cut.CutSeq[from]
		toCut, toMember := cut.CutSeq[to]
		if !fromMember || !toMember || from == to {
			continue
		}
		if r.Kind == trace.KindSend {
			sends[r.MsgID] = send{r.Seq, r.Name}
			continue
		}
		s, ok := sends[r.MsgID]
		if !ok {
			return nil, malformed(r, "node %d delivers message %d from node %d, which no earlier send record sent", r.Node, r.MsgID, r.Peer)
		}
		if isMarker(s.messageType) {
			continue
		}
		m := message{msgID: r.MsgID, messageType: s.messageType, sendSeq: s.seq, deliverSeq: r.Seq}
		sentInside, receivedInside := s.seq <= fromCut, r.Seq <= toCut
		switch {
		case receivedInside && !sentInside:
			cut.Violations = append(cut.Violations, Violation{
				Check: ConsistentCutCheck, Bucket: NoBucket, Channel: &Channel{from, to}, MsgID: r.MsgID,
				TraceSeqs: traceSeqs(s.seq, r.Seq, fromCut, toCut),
				Message: fmt.Sprintf("snapshot %s: the cut is not closed under happens-before: message %d (%s) on channel %d→%d "+
					"was sent at seq %d, after node %d's cut point (seq %d), but delivered at seq %d, inside node %d's cut (cut point seq %d)",
					cut.Snapshot, r.MsgID, s.messageType, from, to, s.seq, from, fromCut, r.Seq, to, toCut),
			})
		case sentInside && !receivedInside:
			c := Channel{from, to}
			expected[c] = append(expected[c], m)
		}
	}
	return expected, nil
}

// readChannelRecords collects the snapshot-channel records into cut.InFlight and returns, per
// channel, the seq of the snapshot-marker record that closed it. A recording after the channel
// closed is a violation.
func (cut *Cut) readChannelRecords(records []trace.Record, snapshotID string) (map[Channel]uint64, error) {
	closedAt := map[Channel]uint64{}
	for i := range records {
		r := &records[i]
		if r.Kind != trace.KindEvent || (r.Name != protocol.EventSnapshotChannel && r.Name != protocol.EventSnapshotMarker) {
			continue
		}
		if id, _ := r.Get("snapshot"); id != snapshotID {
			continue
		}
		from, err := attrInt32(r, "from")
		if err != nil {
			return nil, err
		}
		c := Channel{from, r.Node}
		_, fromMember := cut.CutSeq[c.From]
		_, toMember := cut.CutSeq[c.To]
		if !fromMember || !toMember {
			continue
		}
		if r.Name == protocol.EventSnapshotMarker {
			if _, ok := closedAt[c]; !ok {
				closedAt[c] = r.Seq
			}
			continue
		}
		cause := findRecord(records, r.Cause)
		if cause == nil || cause.Kind != trace.KindDeliver || cause.Node != c.To || cause.Peer != c.From {
			return nil, malformed(r, "its cause (seq %d) is not a delivery on channel %s", r.Cause, c)
		}
		if closed, ok := closedAt[c]; ok {
			cut.Violations = append(cut.Violations, Violation{
				Check: ConsistentCutCheck, Bucket: NoBucket, Channel: &c, MsgID: cause.MsgID,
				TraceSeqs: traceSeqs(closed, cause.Seq, r.Seq),
				Message: fmt.Sprintf("snapshot %s: channel %s recorded message %d (delivered at seq %d) after its marker closed the channel at seq %d",
					cut.Snapshot, c, cause.MsgID, cause.Seq, closed),
			})
		}
		cut.InFlight[c] = append(cut.InFlight[c], cause.MsgID)
	}
	return closedAt, nil
}

// compareChannels compares each member channel's recorded state with the expected one.
func (cut *Cut) compareChannels(expected map[Channel][]message, closedAt map[Channel]uint64) {
	for _, from := range cut.Members {
		for _, to := range cut.Members {
			if from == to {
				continue
			}
			c := Channel{from, to}
			want, got := expected[c], cut.InFlight[c]
			cut.compareChannel(c, want, got)
			if _, ok := closedAt[c]; !ok {
				cut.Violations = append(cut.Violations, Violation{
					Check: ConsistentCutCheck, Bucket: NoBucket, Channel: &c,
					TraceSeqs: traceSeqs(cut.CutSeq[to]),
					Message:   fmt.Sprintf("snapshot %s: channel %s was never closed: node %d has no %s event from node %d", cut.Snapshot, c, to, protocol.EventSnapshotMarker, from),
				})
			}
		}
	}
}

func (cut *Cut) compareChannel(c Channel, want []message, got []uint64) {
	remaining := map[uint64]int{} // recorded deliveries not yet matched, by MsgID
	for _, id := range got {
		remaining[id]++
	}
	missing := false
	for _, m := range want {
		if remaining[m.msgID] > 0 {
			remaining[m.msgID]--
			continue
		}
		missing = true
		cut.Violations = append(cut.Violations, Violation{
			Check: ConsistentCutCheck, Bucket: NoBucket, Channel: &c, MsgID: m.msgID,
			TraceSeqs: traceSeqs(m.sendSeq, m.deliverSeq, cut.CutSeq[c.From], cut.CutSeq[c.To]),
			Message: fmt.Sprintf("snapshot %s: channel %s is missing in-flight message %d (%s): sent at seq %d inside node %d's cut (cut point seq %d), "+
				"delivered at seq %d after node %d's cut point (seq %d), but not recorded",
				cut.Snapshot, c, m.msgID, m.messageType, m.sendSeq, c.From, cut.CutSeq[c.From], m.deliverSeq, c.To, cut.CutSeq[c.To]),
		})
	}
	extra := false
	for _, id := range got {
		if remaining[id] == 0 {
			continue
		}
		remaining[id]--
		extra = true
		cut.Violations = append(cut.Violations, Violation{
			Check: ConsistentCutCheck, Bucket: NoBucket, Channel: &c, MsgID: id,
			TraceSeqs: traceSeqs(cut.CutSeq[c.From], cut.CutSeq[c.To]),
			Message: fmt.Sprintf("snapshot %s: channel %s recorded message %d as in flight, but it was not sent inside node %d's cut and delivered outside node %d's",
				cut.Snapshot, c, id, c.From, c.To),
		})
	}
	if missing || extra {
		return
	}
	for i, m := range want {
		if got[i] != m.msgID {
			cut.Violations = append(cut.Violations, Violation{
				Check: ConsistentCutCheck, Bucket: NoBucket, Channel: &c, MsgID: m.msgID,
				TraceSeqs: traceSeqs(m.deliverSeq),
				Message: fmt.Sprintf("snapshot %s: channel %s recorded the right messages in the wrong order: position %d is message %d, delivered order has %d",
					cut.Snapshot, c, i, got[i], m.msgID),
			})
			return
		}
	}
}

// findRecord returns the record with the given Seq (records are in Seq order), or nil.
func findRecord(records []trace.Record, seq uint64) *trace.Record {
	i, ok := slices.BinarySearchFunc(records, seq, func(r trace.Record, seq uint64) int {
		switch {
		case r.Seq < seq:
			return -1
		case r.Seq > seq:
			return 1
		}
		return 0
	})
	if !ok {
		return nil
	}
	return &records[i]
}

// parseNodeList reads a list of node IDs written as "1,2,3", "1 2 3" or "[1 2 3]".
func parseNodeList(text string) ([]int32, error) {
	fields := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '[' || r == ']' })
	nodes := make([]int32, 0, len(fields))
	for _, f := range fields {
		n, err := strconv.ParseInt(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q is not a node id", f)
		}
		nodes = append(nodes, int32(n))
	}
	return nodes, nil
}
