package linearizability

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
	"pgregory.net/rapid"
)

const marker = DefaultMarkerType

// snapshotScenario builds a Chandy–Lamport snapshot of nodes 0, 1 and 2 initiated by node 0, with
// one message (m2, 1→0) in flight across the cut. The flags break it in the ways the checker must
// catch.
type snapshotScenario struct {
	overtakeMarker  bool // non-FIFO: a message node 0 sends after its cut overtakes the marker to node 1
	omitInFlight    bool // node 0 does not record m2
	recordExtra     bool // node 0 also records a message sent after node 1's cut
	skipMarkerEvent bool // node 2 never closes channel 1→2
}

type builtSnapshot struct {
	records     []trace.Record
	inFlight    uint64 // m2
	lateMessage uint64 // the message that overtakes the marker, if any
}

func (s snapshotScenario) build() builtSnapshot {
	var b traceBuilder
	var out builtSnapshot
	local := func(node int32, cause uint64) uint64 {
		return b.event(node, cause, protocol.EventSnapshotLocal, "snapshot", "s1", "state", fmt.Sprintf("state of %d", node))
	}
	closeChannel := func(node, from int32, cause uint64) {
		b.event(node, cause, protocol.EventSnapshotMarker, "snapshot", "s1", "from", itoa(from))
	}
	m1 := b.send(0, 1, "put")
	out.inFlight = b.send(1, 0, "put") // m2
	local(0, 0)
	marker01 := b.send(0, 1, marker)
	marker02 := b.send(0, 2, marker)
	if s.overtakeMarker {
		out.lateMessage = b.send(0, 1, "put")
		b.deliver(1, 0, out.lateMessage, "put")
	}
	b.deliver(1, 0, m1, "put") // inside both cuts
	d := b.deliver(1, 0, marker01, marker)
	local(1, d)
	closeChannel(1, 0, d)
	marker10 := b.send(1, 0, marker)
	marker12 := b.send(1, 2, marker)
	afterCut := b.send(1, 0, "put") // sent after node 1's cut: not in flight
	d = b.deliver(0, 1, out.inFlight, "put")
	if !s.omitInFlight {
		b.event(0, d, protocol.EventSnapshotChannel, "snapshot", "s1", "from", "1")
	}
	d = b.deliver(0, 1, marker10, marker)
	closeChannel(0, 1, d)
	d = b.deliver(0, 1, afterCut, "put")
	if s.recordExtra {
		// Recorded after the marker closed the channel: the message is both extra and late.
		b.event(0, d, protocol.EventSnapshotChannel, "snapshot", "s1", "from", "1")
	}
	d = b.deliver(2, 0, marker02, marker)
	local(2, d)
	closeChannel(2, 0, d)
	marker20 := b.send(2, 0, marker)
	marker21 := b.send(2, 1, marker)
	d = b.deliver(2, 1, marker12, marker)
	if !s.skipMarkerEvent {
		closeChannel(2, 1, d)
	}
	d = b.deliver(0, 2, marker20, marker)
	closeChannel(0, 2, d)
	d = b.deliver(1, 2, marker21, marker)
	closeChannel(1, 2, d)
	b.event(0, 0, protocol.EventSnapshotComplete, "snapshot", "s1", "members", "0,1,2")
	out.records = b.records
	return out
}

func TestCheckCutAcceptsCorrectSnapshot(t *testing.T) {
	built := snapshotScenario{}.build()
	cut, err := CheckCut(built.records, "s1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cut.Violations) != 0 {
		t.Fatalf("correct snapshot rejected:\n%s", describeViolations(cut.Violations))
	}
	if !slices.Equal(cut.Members, []int32{0, 1, 2}) {
		t.Errorf("members %v", cut.Members)
	}
	if got := cut.InFlight[Channel{1, 0}]; !slices.Equal(got, []uint64{built.inFlight}) {
		t.Errorf("channel 1→0 recorded %v, want [%d]", got, built.inFlight)
	}
	if ids := CompletedSnapshots(built.records); !slices.Equal(ids, []string{"s1"}) {
		t.Errorf("CompletedSnapshots = %v", ids)
	}
}

func TestCheckCutRejectsReceiveWithoutSend(t *testing.T) {
	built := snapshotScenario{overtakeMarker: true}.build()
	cut, err := CheckCut(built.records, "s1", nil)
	if err != nil {
		t.Fatal(err)
	}
	v := findViolation(t, cut.Violations, "not closed under happens-before")
	if v.Channel == nil || *v.Channel != (Channel{0, 1}) || v.MsgID != built.lateMessage {
		t.Fatalf("violation names channel %v message %d, want 0→1 message %d: %s", v.Channel, v.MsgID, built.lateMessage, v)
	}
}

func TestCheckCutRejectsMissingInFlightMessage(t *testing.T) {
	built := snapshotScenario{omitInFlight: true}.build()
	cut, err := CheckCut(built.records, "s1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cut.Violations) != 1 {
		t.Fatalf("want exactly the missing message, got:\n%s", describeViolations(cut.Violations))
	}
	v := findViolation(t, cut.Violations, "missing in-flight message")
	if *v.Channel != (Channel{1, 0}) || v.MsgID != built.inFlight || !strings.Contains(v.Message, "1→0") {
		t.Fatalf("wrong channel or message: %s", v)
	}
}

func TestCheckCutRejectsExtraInFlightMessage(t *testing.T) {
	cut, err := CheckCut(snapshotScenario{recordExtra: true}.build().records, "s1", nil)
	if err != nil {
		t.Fatal(err)
	}
	findViolation(t, cut.Violations, "recorded message")
	findViolation(t, cut.Violations, "after its marker closed the channel")
}

func TestCheckCutRejectsUnclosedChannel(t *testing.T) {
	cut, err := CheckCut(snapshotScenario{skipMarkerEvent: true}.build().records, "s1", nil)
	if err != nil {
		t.Fatal(err)
	}
	v := findViolation(t, cut.Violations, "never closed")
	if *v.Channel != (Channel{1, 2}) {
		t.Fatalf("wrong channel: %s", v)
	}
}

func TestCheckCutIgnoresNonParticipants(t *testing.T) {
	built := snapshotScenario{}.build()
	// Node 3 takes no part; a message it sends into the cut after everything is irrelevant.
	b := traceBuilder{records: built.records, nextMsg: 1000}
	early := b.send(0, 3, "put")
	late := b.send(3, 1, "put")
	b.deliver(1, 3, late, "put")
	b.deliver(3, 0, early, "put")
	cut, err := CheckCut(b.records, "s1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cut.Violations) != 0 {
		t.Fatalf("non-participant channels checked:\n%s", describeViolations(cut.Violations))
	}
}

func TestCheckCutMarkerPredicate(t *testing.T) {
	built := snapshotScenario{}.build()
	// With a predicate that recognises no marker, marker deliveries look like orphan messages.
	cut, err := CheckCut(built.records, "s1", func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	findViolation(t, cut.Violations, "not closed under happens-before")
}

func TestCheckCutErrors(t *testing.T) {
	built := snapshotScenario{}.build()
	if _, err := CheckCut(built.records, "s9", nil); !errors.Is(err, ErrSnapshotNotFound) {
		t.Errorf("unknown snapshot: got %v", err)
	}
	var b traceBuilder
	b.event(0, 0, protocol.EventSnapshotLocal, "snapshot", "s1")
	b.event(1, 0, protocol.EventSnapshotLocal, "snapshot", "s1")
	b.event(0, 1, protocol.EventSnapshotChannel, "snapshot", "s1", "from", "1") // cause is not a delivery
	if _, err := CheckCut(b.records, "s1", nil); !errors.Is(err, ErrMalformedTrace) || !strings.Contains(err.Error(), "record seq 3") {
		t.Errorf("bad cause: got %v", err)
	}
	b = traceBuilder{}
	b.event(0, 0, protocol.EventSnapshotLocal, "snapshot", "s1")
	b.event(1, 0, protocol.EventSnapshotLocal, "snapshot", "s1")
	b.deliver(1, 0, 77, "put") // never sent
	if _, err := CheckCut(b.records, "s1", nil); !errors.Is(err, ErrMalformedTrace) || !strings.Contains(err.Error(), "record seq 3") {
		t.Errorf("delivery without send: got %v", err)
	}
}

func TestCheckCutReportsMissingMemberAndDoubleRecording(t *testing.T) {
	var b traceBuilder
	b.event(0, 0, protocol.EventSnapshotLocal, "snapshot", "s1")
	b.event(0, 0, protocol.EventSnapshotLocal, "snapshot", "s1")
	b.event(0, 0, protocol.EventSnapshotComplete, "snapshot", "s1", "members", "[0 1]")
	cut, err := CheckCut(b.records, "s1", nil)
	if err != nil {
		t.Fatal(err)
	}
	findViolation(t, cut.Violations, "recorded its local state twice")
	findViolation(t, cut.Violations, "node 1 is listed as a member")
}

func findViolation(t *testing.T, violations []Violation, text string) Violation {
	t.Helper()
	for _, v := range violations {
		if strings.Contains(v.Message, text) {
			return v
		}
	}
	t.Fatalf("no violation mentions %q; got:\n%s", text, describeViolations(violations))
	return Violation{}
}

func describeViolations(violations []Violation) string {
	var b strings.Builder
	for _, v := range violations {
		b.WriteString("  " + v.String() + "\n")
	}
	return b.String()
}

// The per-message closure check agrees with the vector-clock criterion on random traces: a cut
// (one cut point per node) is consistent iff no node's cut point knows more events of another node
// than that node's own cut point.
func TestCutClosureMatchesVectorClocks(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const nodes = 3
		fifo := rapid.Bool().Draw(t, "fifo")
		var b traceBuilder
		type inFlight struct {
			from, to int32
			msgID    uint64
		}
		var pending []inFlight
		recorded := make([]bool, nodes)
		localSeq := make([]uint64, nodes)
		steps := rapid.IntRange(0, 40).Draw(t, "steps")
		for step := 0; step < steps || slices.Contains(recorded, false); step++ {
			switch rapid.IntRange(0, 3).Draw(t, "action") {
			case 0:
				from := int32(rapid.IntRange(0, nodes-1).Draw(t, "from"))
				to := (from + int32(rapid.IntRange(1, nodes-1).Draw(t, "to offset"))) % nodes
				pending = append(pending, inFlight{from, to, b.send(from, to, "put")})
			case 1:
				if len(pending) == 0 {
					continue
				}
				i := rapid.IntRange(0, len(pending)-1).Draw(t, "message")
				if fifo { // deliver the oldest message on the chosen message's channel
					for j := range pending {
						if pending[j].from == pending[i].from && pending[j].to == pending[i].to {
							i = j
							break
						}
					}
				}
				m := pending[i]
				pending = slices.Delete(pending, i, i+1)
				b.deliver(m.to, m.from, m.msgID, "put")
			case 2:
				node := rapid.IntRange(0, nodes-1).Draw(t, "node")
				if !recorded[node] {
					recorded[node] = true
					localSeq[node] = b.event(int32(node), 0, protocol.EventSnapshotLocal, "snapshot", "s")
				}
			case 3:
				b.event(int32(rapid.IntRange(0, nodes-1).Draw(t, "node")), 0, "work")
			}
		}
		cut, err := CheckCut(b.records, "s", nil)
		if err != nil {
			t.Fatal(err)
		}
		orphans := 0
		for _, v := range cut.Violations {
			if strings.Contains(v.Message, "not closed under happens-before") {
				orphans++
			}
		}
		clocks, err := VectorClocks(b.records)
		if err != nil {
			t.Fatal(err)
		}
		clockAt := func(node int) VectorClock { return clocks[localSeq[node]-1] }
		consistent := true
		for i := range nodes {
			for j := range nodes {
				if clockAt(j)[i] > clockAt(i)[i] {
					consistent = false
				}
			}
		}
		if consistent != (orphans == 0) {
			t.Fatalf("vector clocks say consistent=%v, the closure check found %d orphan messages", consistent, orphans)
		}
	})
}

func TestVectorClocks(t *testing.T) {
	var b traceBuilder
	a := b.event(0, 0, "a")        // 0: [1 0]
	m := b.send(0, 1, "put")       // 0: [2 0]
	c := b.event(1, 0, "c")        // 1: [0 1]
	d := b.deliver(1, 0, m, "put") // 1: [2 2]
	b.add(trace.Record{Kind: trace.KindDrop, Node: 1, Peer: 0, MsgID: 9})
	dup := b.deliver(1, 0, m, "put") // duplicate delivery: 1: [2 3]
	ext := b.add(trace.Record{Kind: trace.KindDeliver, Node: 0, Peer: int32(protocol.External), MsgID: 50})
	clocks, err := VectorClocks(b.records)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]VectorClock{a: {1, 0}, c: {0, 1}, d: {2, 2}, dup: {2, 3}, ext: {3, 0}}
	for seq, clock := range want {
		if !slices.Equal(clocks[seq-1], clock) {
			t.Errorf("record %d: clock %v, want %v", seq, clocks[seq-1], clock)
		}
	}
	if clocks[5-1] != nil {
		t.Errorf("drop record has clock %v, want none", clocks[4])
	}
	if !clocks[a-1].HappenedBefore(clocks[d-1]) || clocks[d-1].HappenedBefore(clocks[a-1]) {
		t.Error("a should happen before the delivery")
	}
	if !clocks[a-1].Concurrent(clocks[c-1]) || clocks[a-1].Concurrent(clocks[a-1]) {
		t.Error("a and c should be concurrent, and a not concurrent with itself")
	}
	b.deliver(1, 0, 12345, "put")
	if _, err := VectorClocks(b.records); !errors.Is(err, ErrMalformedTrace) {
		t.Errorf("delivery without send: got %v", err)
	}
}

// A causal path from a member after its cut, through a node outside the snapshot (a client), into
// a member before its cut makes the cut inconsistent, although no message between members crosses
// it: only vector clocks over every node see it.
func TestCheckCutCatchesAPathThroughANonMember(t *testing.T) {
	build := func(throughClient bool) []trace.Record {
		var b traceBuilder
		local := func(node int32, cause uint64) {
			b.event(node, cause, protocol.EventSnapshotLocal, "snapshot", "s1", "state", "x")
		}
		local(0, 0)
		m01 := b.send(0, 1, marker)
		if throughClient {
			x := b.send(0, 9, "put") // after node 0's cut, to client 9
			b.deliver(9, 0, x, "put")
			y := b.send(9, 1, "put") // the client's message reaches node 1 before its cut
			b.deliver(1, 9, y, "put")
		}
		d := b.deliver(1, 0, m01, marker)
		local(1, d)
		b.event(1, d, protocol.EventSnapshotMarker, "snapshot", "s1", "from", "0")
		m10 := b.send(1, 0, marker)
		d = b.deliver(0, 1, m10, marker)
		b.event(0, d, protocol.EventSnapshotMarker, "snapshot", "s1", "from", "1")
		b.event(0, d, protocol.EventSnapshotComplete, "snapshot", "s1", "members", "0,1")
		return b.records
	}
	cut, err := CheckCut(build(false), "s1", nil)
	if err != nil || len(cut.Violations) != 0 {
		t.Fatalf("the snapshot without the path is consistent: %v %s", err, describeViolations(cut.Violations))
	}
	cut, err = CheckCut(build(true), "s1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cut.Violations) != 1 || !strings.Contains(cut.Violations[0].Message, "causal path") {
		t.Fatalf("want one causal-path violation, got:\n%s", describeViolations(cut.Violations))
	}
	// Declared the environment, the client's path is not followed.
	cut, err = CheckCutWithEnvironment(build(true), "s1", nil, []int32{9})
	if err != nil || len(cut.Violations) != 0 {
		t.Fatalf("with client 9 as the environment the cut is consistent: %v %s", err, describeViolations(cut.Violations))
	}
}
