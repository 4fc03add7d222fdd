package kv

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

// Hand-written schedules for the snapshot algorithm, on the scripted test environment (harness.go):
// every message waits on its FIFO channel until the schedule delivers it. The cluster is three
// servers and two buckets: bucket 0 (keys k0, k2, ...) on s0 (primary) and s1, bucket 1 (keys k1,
// k3, ...) on s1 (primary) and s2.

func snapshotHarness(t *testing.T) *harness {
	cfg := harnessConfig()
	cfg.Buckets = 2
	return newHarness(t, cfg)
}

// expectInOrder fails unless every wanted line appears in the step's log, in this order.
func expectInOrder(t *testing.T, step, log string, want ...string) {
	t.Helper()
	lines := strings.Split(log, "\n")
	i := 0
	for _, w := range want {
		for i < len(lines) && lines[i] != w {
			i++
		}
		if i == len(lines) {
			t.Fatalf("%s: line %q missing or out of order in:\n%s", step, w, log)
		}
		i++
	}
}

// expectAbsent fails if the step's log contains a line with the given text.
func expectAbsent(t *testing.T, step, log, text string) {
	t.Helper()
	if strings.Contains(log, text) {
		t.Fatalf("%s: unexpected %q in:\n%s", step, text, log)
	}
}

// snapshotResult returns the status and value of the op-return of the snapshot operation that
// node emitted for seq.
func snapshotResult(t *testing.T, h *harness, node string, seq string) (status string, content map[string]string) {
	t.Helper()
	for _, e := range h.eventsNamed(protocol.EventOpReturn) {
		if h.name(e.node) != node || e.get("seq") != seq {
			continue
		}
		status = e.get("status")
		if status == protocol.StatusOK {
			if err := json.Unmarshal([]byte(e.get("value")), &content); err != nil {
				t.Fatalf("snapshot value %q: %v", e.get("value"), err)
			}
		}
		return status, content
	}
	t.Fatalf("%s emitted no op-return for seq %s", node, seq)
	return "", nil
}

// noSnapshotLeft fails if a live server still takes part in a snapshot or holds writes.
func noSnapshotLeft(t *testing.T, h *harness) {
	t.Helper()
	for _, n := range h.servers {
		if !n.alive {
			continue
		}
		if ids := n.srv.ActiveSnapshots(); len(ids) > 0 || n.srv.HeldSnapshotWrites() > 0 {
			t.Fatalf("%s still takes part in snapshots %v with %d held writes", h.name(n.id), ids, n.srv.HeldSnapshotWrites())
		}
	}
}

// TestSnapshotMarkerRules walks the marker algorithm step by step: the initiator records before
// its markers leave; a member records on its first marker and records that channel as empty; a
// message arriving on a channel still open after the recording is channel state; the marker closes
// the channel; the reports complete the snapshot with the in-flight write applied.
func TestSnapshotMarkerRules(t *testing.T) {
	h := snapshotHarness(t)
	h.request("c0", "s0", protocol.OpPut, "k0", "v1")
	h.deliver("c0", "s0")
	// The write is applied at s0 and its replicate to s1 is on the wire, undelivered.
	log := h.fire("s0", timerDistribute)
	expectInOrder(t, "distribute", log, `s0 -> s1 replicate bucket=0 epoch=1 write=1 entries=k0="v1"@1.1@s0 sync=false`)

	log = h.inject(protocol.External, "s0", &StartSnapshot{ID: "x"})
	expectInOrder(t, "start", log,
		"s0 event op-invoke client=0 seq=1 op=snapshot",
		`s0 event snapshot-local snapshot=x state=b0 primary e1 [k0="v1"@1.1@s0] | 0 queued writes`,
		"s0 -> s1 snapshot-marker snapshot=x initiator=s0",
		"s0 -> s2 snapshot-marker snapshot=x initiator=s0")

	// s2's first marker: it records, sends its markers, and the channel s0->s2 is recorded empty.
	log = h.deliver("s0", "s2")
	expectInOrder(t, "s2 first marker", log,
		"s2 event snapshot-local snapshot=x state=b1 copy e1 [] | 0 queued writes",
		"s2 -> s0 snapshot-marker snapshot=x initiator=s0",
		"s2 -> s1 snapshot-marker snapshot=x initiator=s0",
		"s2 event snapshot-marker snapshot=x from=0")

	// s1's first marker comes from s2, overtaking the replicate from s0 on another channel: s1
	// records a state without k0.
	log = h.deliver("s2", "s1")
	expectInOrder(t, "s1 first marker", log,
		"s1 event snapshot-local snapshot=x state=b0 copy e1 [] | b1 primary e1 [] | 0 queued writes",
		"s1 event snapshot-marker snapshot=x from=2")

	// The replicate arrives on s0->s1, still open: it is in flight in the cut.
	log = h.deliver("s0", "s1")
	expectInOrder(t, "in-flight replicate", log, "s1 <- s0 replicate", "s1 event snapshot-channel snapshot=x from=0 message=replicate")

	// s0's marker closes the channel; every channel into s1 is closed, so s1 reports.
	log = h.deliver("s0", "s1")
	expectInOrder(t, "s1 last marker", log, "s1 event snapshot-marker snapshot=x from=0", "s1 -> s0 snapshot-report snapshot=x copies=2 writes=1")

	// s1 applies the replicate now: its acknowledgement to s0 is sent after s1's cut and is not
	// channel state of the snapshot (s1's marker to s0 went first).
	log = h.stabilize()
	expectInOrder(t, "completion", log,
		"s0 event snapshot-complete snapshot=x members=0,1,2 variant=plain keys=1",
		`s0 event op-return client=0 seq=1 status=ok value={"k0":"v1"}`)
	expectAbsent(t, "completion", log, "message=write-ack")
	if n := len(h.eventsNamed(protocol.EventSnapshotChannel)); n != 1 {
		t.Fatalf("%d channel records, want the one replicate", n)
	}
	if n := len(h.eventsNamed(protocol.EventSnapshotMarker)); n != 6 {
		t.Fatalf("%d channels closed, want 6 (every ordered pair of 3 members)", n)
	}
	noSnapshotLeft(t, h)
}

// closedChannelSchedule opens the window the record-after-marker mutant falls into: s1 records on
// s2's marker (channel s2->s1 closed), then s2's acknowledgement of a write, sent after s2's cut,
// arrives on that closed channel before s0's marker reaches s1. It returns s1's channel records.
func closedChannelSchedule(t *testing.T, mutant SnapshotMutant) []hevent {
	h := snapshotHarness(t)
	// A write to bucket 1 (primary s1) whose replicate s2 applies and acknowledges after its cut.
	h.request("c0", "s1", protocol.OpPut, "k1", "v1")
	h.deliver("c0", "s1")
	h.fire("s1", timerDistribute)
	h.inject(protocol.External, "s0", &StartSnapshot{ID: "m", Mutant: mutant})
	h.deliver("s0", "s2") // s2 records
	h.deliver("s1", "s2") // the replicate: s1 has not recorded, so it was sent inside s1's cut
	log := h.fire("s2", timerApply)
	expectInOrder(t, "ack after s2's cut", log, "s2 -> s1 write-ack bucket=1 write=1 outcome=applied")
	h.deliver("s2", "s1") // s2's marker: s1 records; the channel s2->s1 is closed
	log = h.deliver("s2", "s1")
	expectInOrder(t, "ack on a closed channel", log, "s1 <- s2 write-ack")
	h.stabilize()
	if status, _ := snapshotResult(t, h, "s0", "1"); status != protocol.StatusOK {
		t.Fatalf("snapshot status %s", status)
	}
	var s1 []hevent
	for _, e := range h.eventsNamed(protocol.EventSnapshotChannel) {
		if h.name(e.node) == "s1" {
			s1 = append(s1, e)
		}
	}
	return s1
}

// TestSnapshotClosedChannelNotRecorded: a message arriving after its channel's marker is not channel
// state; the record-after-marker mutant records it.
func TestSnapshotClosedChannelNotRecorded(t *testing.T) {
	if records := closedChannelSchedule(t, NoSnapshotMutant); len(records) != 0 {
		t.Fatalf("correct algorithm recorded %d messages at s1 after their channel closed: %+v", len(records), records)
	}
	records := closedChannelSchedule(t, RecordAfterMarker)
	if len(records) != 1 || records[0].get("from") != "2" || records[0].get("message") != "write-ack" {
		t.Fatalf("record-after-marker mutant: s1 channel records %+v, want the write-ack from s2", records)
	}
}

// TestSnapshotFlushHoldsWritesUntilDrained: the flush variant holds new writes at the primaries,
// waits for the write in progress to be acknowledged, records, and releases the held write only
// after completion; gets are served meanwhile.
func TestSnapshotFlushHoldsWritesUntilDrained(t *testing.T) {
	h := snapshotHarness(t)
	h.request("c0", "s0", protocol.OpPut, "k0", "v1")
	h.deliver("c0", "s0")
	h.fire("s0", timerDistribute) // in progress: on the wire, unacknowledged

	log := h.inject(protocol.External, "s0", &StartSnapshot{ID: "f", Variant: SnapshotFlush})
	expectInOrder(t, "start", log, "s0 event op-invoke client=0 seq=1 op=snapshot",
		"s0 -> s1 snapshot-hold snapshot=f initiator=s0", "s0 -> s2 snapshot-hold snapshot=f initiator=s0")
	expectAbsent(t, "start", log, "snapshot-local")

	// A new write at s0 is held; a get at s1 is answered.
	writeSeq := h.request("c1", "s0", protocol.OpPut, "k2", "v2")
	log = h.deliver("c1", "s0")
	expectAbsent(t, "held write", log, "s0 ->")
	if h.server("s0").HeldSnapshotWrites() != 1 {
		t.Fatalf("s0 holds %d writes, want 1", h.server("s0").HeldSnapshotWrites())
	}
	getSeq := h.request("c1", "s1", protocol.OpGet, "k1", "")
	h.deliver("c1", "s1")
	for _, holder := range h.server("s1").buckets[BucketOf("k1", h.cfg.Buckets)].profileMembers() {
		name := h.name(holder.ID) // the read fence: one round trip to each holder
		h.deliver("s1", name)
		h.deliver(name, "s1")
	}
	if r := h.reply("c1", getSeq); r == nil || r.Status != replyOK {
		t.Fatalf("get during the hold: %+v", r)
	}

	// s1 and s2 are drained at once; s0 is not until s1 acknowledges write 1.
	h.deliver("s0", "s2")
	h.deliver("s0", "s1")       // the replicate
	log = h.deliver("s0", "s1") // the hold
	expectInOrder(t, "s1 ready", log, "s1 -> s0 snapshot-hold-ready snapshot=f")
	h.deliver("s1", "s0")
	log = h.deliver("s2", "s0")
	expectAbsent(t, "s0 not drained", log, "snapshot-local")
	log = h.fire("s1", timerApply)
	expectInOrder(t, "ack", log, "s1 -> s0 write-ack bucket=0 write=1 outcome=applied")
	log = h.deliver("s1", "s0")
	expectInOrder(t, "drained", log, "s0 -> c0 client-reply seq=1 status=ok", `s0 event snapshot-local snapshot=f state=b0 primary e1 [k0="v1"@1.1@s0] | 0 queued writes`)

	log = h.stabilize()
	expectInOrder(t, "complete then release", log,
		`s0 event op-return client=0 seq=1 status=ok value={"k0":"v1"}`,
		"s0 -> s1 snapshot-release snapshot=f aborted=false",
		`s0 -> s1 replicate bucket=0 epoch=1 write=2 entries=k2="v2"@1.2@s0 sync=false`,
		"s0 -> c1 client-reply seq=1 status=ok")
	if r := h.reply("c1", writeSeq); r == nil || r.Status != replyOK {
		t.Fatalf("held write after release: %+v", r)
	}
	noSnapshotLeft(t, h)
}

// TestSnapshotAbortedWhenMemberCrashes: a member crashes before its markers leave; once the view
// drops it the initiator aborts (status fail) and the other member abandons its part: nothing
// waits forever.
func TestSnapshotAbortedWhenMemberCrashes(t *testing.T) {
	h := snapshotHarness(t)
	h.inject(protocol.External, "s0", &StartSnapshot{ID: "c"})
	h.deliver("s0", "s1") // s1 records and waits for s2's marker
	h.crash("s2")
	h.promote()
	if status, _ := snapshotResult(t, h, "s0", "1"); status != protocol.StatusFail {
		t.Fatalf("snapshot with a crashed member: status %s, want fail", status)
	}
	aborted := h.eventsNamed(protocol.EventSnapshotAborted)
	if len(aborted) != 1 || !strings.Contains(aborted[0].get("reason"), "membership changed") {
		t.Fatalf("aborted events %+v", aborted)
	}
	abandoned := h.eventsNamed(EventSnapshotAbandoned)
	if len(abandoned) != 1 || h.name(abandoned[0].node) != "s1" {
		t.Fatalf("s1 did not abandon its part: %+v", abandoned)
	}
	if n := len(h.eventsNamed(protocol.EventSnapshotComplete)); n != 0 {
		t.Fatalf("%d snapshots completed without a member", n)
	}
	noSnapshotLeft(t, h)
}

// TestSnapshotFlushInitiatorCrashReleasesHolds: the initiator of a flush snapshot crashes while
// the members hold writes; once their views drop it they abandon the snapshot and serve the held
// writes.
func TestSnapshotFlushInitiatorCrashReleasesHolds(t *testing.T) {
	h := snapshotHarness(t)
	h.inject(protocol.External, "s0", &StartSnapshot{ID: "f", Variant: SnapshotFlush})
	h.deliver("s0", "s1") // s1 holds
	seq := h.request("c0", "s1", protocol.OpPut, "k1", "v1")
	h.deliver("c0", "s1")
	if h.server("s1").HeldSnapshotWrites() != 1 {
		t.Fatalf("s1 holds %d writes, want 1", h.server("s1").HeldSnapshotWrites())
	}
	h.crash("s0")
	h.promote()
	if r := h.reply("c0", seq); r == nil || r.Status != replyOK {
		t.Fatalf("write held by a crashed initiator's snapshot: reply %+v", r)
	}
	noSnapshotLeft(t, h)
}

// TestConcurrentSnapshots: two initiators start snapshots at once; each records its own channels
// and both complete with the same content.
func TestConcurrentSnapshots(t *testing.T) {
	h := snapshotHarness(t)
	h.write("c0", "s0", protocol.OpPut, "k0", "a")
	h.write("c0", "s1", protocol.OpPut, "k1", "b")
	h.inject(protocol.External, "s0", &StartSnapshot{ID: "p"})
	h.inject(protocol.External, "s2", &StartSnapshot{ID: "q", Variant: SnapshotFlush})
	h.stabilize()
	want := map[string]string{"k0": "a", "k1": "b"}
	for _, c := range []struct{ node, seq string }{{"s0", "1"}, {"s2", "1"}} {
		status, content := snapshotResult(t, h, c.node, c.seq)
		if status != protocol.StatusOK || len(content) != 2 || content["k0"] != want["k0"] || content["k1"] != want["k1"] {
			t.Fatalf("snapshot by %s: %s %v, want ok %v", c.node, status, content, want)
		}
	}
	locals := map[string]int{}
	for _, e := range h.eventsNamed(protocol.EventSnapshotLocal) {
		locals[e.get("snapshot")]++
	}
	if locals["p"] != 3 || locals["q"] != 3 {
		t.Fatalf("local records per snapshot %v, want 3 each", locals)
	}
	noSnapshotLeft(t, h)
}

// TestSnapshotContentAppliesInFlightWrites: the value takes each key's newest version across the
// members' copies and the writes recorded in flight, and leaves deleted keys out.
func TestSnapshotContentAppliesInFlightWrites(t *testing.T) {
	h := snapshotHarness(t)
	h.write("c0", "s0", protocol.OpPut, "k0", "old")
	h.write("c0", "s0", protocol.OpPut, "k2", "gone")
	h.write("c0", "s0", protocol.OpDelete, "k2", "")
	h.write("c0", "s1", protocol.OpAppend, "k1", "x")
	h.write("c0", "s1", protocol.OpAppend, "k1", "y")
	h.request("c0", "s0", protocol.OpPut, "k0", "new")
	h.deliver("c0", "s0")
	h.fire("s0", timerDistribute)
	h.inject(protocol.External, "s1", &StartSnapshot{ID: "v"}) // s1 records before the replicate
	h.stabilize()
	status, content := snapshotResult(t, h, "s1", "1")
	if status != protocol.StatusOK || len(content) != 2 || content["k0"] != "new" || content["k1"] != "xy" {
		t.Fatalf("snapshot: %s %v, want k0=new k1=xy", status, content)
	}
}

// TestSnapshotBadRequests: invalid or reused requests end at once with status fail and never
// start a snapshot; a second initiator reusing a live snapshot's ID is refused by the members.
func TestSnapshotBadRequests(t *testing.T) {
	h := snapshotHarness(t)
	h.inject(protocol.External, "s0", &StartSnapshot{ID: ""})
	h.inject(protocol.External, "s0", &StartSnapshot{ID: "v", Variant: SnapshotVariant(7)})
	h.inject(protocol.External, "s0", &StartSnapshot{ID: "m", Mutant: SnapshotMutant(9)})
	h.inject(protocol.External, "s0", &StartSnapshot{ID: "ok"})
	h.inject(protocol.External, "s0", &StartSnapshot{ID: "ok"})
	reasons := []string{}
	for _, e := range h.eventsNamed(protocol.EventSnapshotAborted) {
		reasons = append(reasons, e.get("reason"))
	}
	want := []string{"empty snapshot id", "unknown variant SnapshotVariant(7)", "unknown mutant SnapshotMutant(9)", "snapshot id already used"}
	if strings.Join(reasons, "|") != strings.Join(want, "|") {
		t.Fatalf("abort reasons %q, want %q", reasons, want)
	}
	for _, seq := range []string{"1", "2", "3", "5"} {
		if status, _ := snapshotResult(t, h, "s0", seq); status != protocol.StatusFail {
			t.Fatalf("request %s: status %s, want fail", seq, status)
		}
	}
	h.stabilize()
	if status, _ := snapshotResult(t, h, "s0", "4"); status != protocol.StatusOK {
		t.Fatalf("valid snapshot: status %s", status)
	}
	// Once ended, an ID stays used at every member: another initiator cannot reuse it.
	h.inject(protocol.External, "s2", &StartSnapshot{ID: "ok"})
	if status, _ := snapshotResult(t, h, "s2", "1"); status != protocol.StatusFail {
		t.Fatalf("reused id: status %s, want fail", status)
	}
	// Two initiators picking one ID at once: each is refused by members that know the other's,
	// and both end with status fail rather than mixing two snapshots.
	h.inject(protocol.External, "s0", &StartSnapshot{ID: "twice"})
	h.inject(protocol.External, "s1", &StartSnapshot{ID: "twice"})
	h.stabilize()
	for _, c := range []struct{ node, seq string }{{"s0", "6"}, {"s1", "1"}} {
		if status, _ := snapshotResult(t, h, c.node, c.seq); status != protocol.StatusFail {
			t.Fatalf("id used by two initiators: %s's snapshot status %s, want fail", c.node, status)
		}
	}
	if n := len(h.eventsNamed(protocol.EventSnapshotComplete)); n != 1 {
		t.Fatalf("%d snapshots completed, want only the valid one", n)
	}
	noSnapshotLeft(t, h)
}

func TestSnapshotSwitchesText(t *testing.T) {
	for _, name := range SnapshotVariants() {
		var v SnapshotVariant
		if err := v.UnmarshalText([]byte(name)); err != nil || v.String() != name {
			t.Fatalf("variant %q: %v %v", name, v, err)
		}
	}
	for _, name := range SnapshotMutantNames() {
		var m SnapshotMutant
		if err := m.UnmarshalText([]byte(name)); err != nil || m.String() != name {
			t.Fatalf("mutant %q: %v %v", name, m, err)
		}
	}
	if _, err := ParseSnapshotVariant("linearizable"); !errors.Is(err, ErrUnknownSnapshotVariant) || !strings.Contains(err.Error(), "linearizable") {
		t.Fatalf("unknown variant: %v", err)
	}
	if _, err := ParseSnapshotMutant("lossy"); !errors.Is(err, ErrUnknownSnapshotMutant) || !strings.Contains(err.Error(), "lossy") {
		t.Fatalf("unknown mutant: %v", err)
	}
	if _, err := SnapshotVariant(3).MarshalText(); !errors.Is(err, ErrUnknownSnapshotVariant) {
		t.Fatalf("marshal of an invalid variant: %v", err)
	}
	if m, err := ParseSnapshotMutant(""); err != nil || m != NoSnapshotMutant {
		t.Fatalf(`ParseSnapshotMutant(""): %v %v`, m, err)
	}
}

// restartedMemberHarness crashes s2 and lets the restarted s2#1 join: the coordinator s0 installs
// the view t1.2 that lists s2#1 and sends it to s1 and s2#1, where it is still undelivered.
func restartedMemberHarness(t *testing.T) *harness {
	h := snapshotHarness(t)
	h.crash("s2")
	h.restart("s2")
	log := h.deliver("s2", "s0")
	expectInOrder(t, "join", log, "s0 event view-change view=t1.2 members=s0,s1,s2#1")
	h.deliver("s2", "s1")
	return h
}

// TestSnapshotMemberStillJoining: a snapshot's member list (the initiator's view) may name a
// restarted server that has not installed a view yet. It takes part all the same: it records its
// (empty) state on the marker and sends its markers, so the others are not left waiting.
func TestSnapshotMemberStillJoining(t *testing.T) {
	h := restartedMemberHarness(t)
	h.deliver("s0", "s1") // s1 installs t1.2
	h.inject(protocol.External, "s1", &StartSnapshot{ID: "j"})
	log := h.deliver("s1", "s2") // before s0's view reaches s2#1
	expectInOrder(t, "marker while joining", log,
		"s2 event snapshot-local snapshot=j state=0 queued writes",
		"s2 -> s0 snapshot-marker snapshot=j initiator=s1",
		"s2 -> s1 snapshot-marker snapshot=j initiator=s1")
	h.stabilize()
	if status, _ := snapshotResult(t, h, "s1", "1"); status != protocol.StatusOK {
		t.Fatalf("snapshot with a joining member: status %s", status)
	}
	noSnapshotLeft(t, h)
}

// TestSnapshotMemberWithAnOlderView: a member whose view predates the snapshot's does not take a
// newer member's absence from it for a departure.
func TestSnapshotMemberWithAnOlderView(t *testing.T) {
	h := restartedMemberHarness(t)
	h.inject(protocol.External, "s0", &StartSnapshot{ID: "o"})
	h.deliver("s0", "s2") // s2#1 installs t1.2
	h.deliver("s0", "s2")
	h.deliver("s0", "s2") // s0's marker: s2#1 records and sends its markers
	h.deliver("s2", "s1") // s2#1 announces its new copy of bucket 1, before its marker
	log := h.deliver("s2", "s1")
	expectInOrder(t, "marker at an older view", log, "s1 event snapshot-local snapshot=o state=b0 copy e1 [] | b1 primary e1 [] | 0 queued writes")
	expectAbsent(t, "marker at an older view", log, EventSnapshotAbandoned)
	if v := h.server("s1").ViewVersion(); v != (ConfigVersion{Term: 1, Seq: 1}) {
		t.Fatalf("s1 already has view %s: the schedule does not test an older view", v)
	}
	h.stabilize()
	if status, _ := snapshotResult(t, h, "s0", "1"); status != protocol.StatusOK {
		t.Fatalf("snapshot: status %s", status)
	}
	noSnapshotLeft(t, h)
}
