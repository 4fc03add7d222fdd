package membership

import (
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

// fakeHost is a member of a view of four, whose sends are recorded.
type fakeHost struct {
	now       protocol.Time
	self      Member
	members   []Member
	lastHeard map[protocol.NodeID]protocol.Time
	sent      []string
	timer     protocol.TimerID
	failures  []Member
	acted     int
}

func newFakeHost(self int) *fakeHost {
	h := &fakeHost{self: Member{ID: protocol.NodeID(self)}, lastHeard: map[protocol.NodeID]protocol.Time{}}
	for i := 0; i < 4; i++ {
		h.members = append(h.members, Member{ID: protocol.NodeID(i)})
	}
	return h
}

func (h *fakeHost) Now() protocol.Time   { return h.now }
func (h *fakeHost) Self() Member         { return h.self }
func (h *fakeHost) Members() []Member    { return h.members }
func (h *fakeHost) Departed(Member) bool { return false }
func (h *fakeHost) Rank(m Member) int {
	for i, x := range h.members {
		if x == m {
			return i
		}
	}
	return -1
}
func (h *fakeHost) LastHeard(id protocol.NodeID) protocol.Time        { return h.lastHeard[id] }
func (h *fakeHost) SetLastHeard(id protocol.NodeID, at protocol.Time) { h.lastHeard[id] = at }
func (h *fakeHost) SendSuspect(to, suspect Member) {
	h.sent = append(h.sent, "suspect "+suspect.String()+" to "+to.String())
}
func (h *fakeHost) SendCheckRequest(to Member)                { h.sent = append(h.sent, "check "+to.String()) }
func (h *fakeHost) CancelTimer(protocol.TimerID)              {}
func (h *fakeHost) ActOnFailures()                            { h.acted++ }
func (h *fakeHost) AnnounceFailure(x Member, _ protocol.Time) { h.failures = append(h.failures, x) }
func (h *fakeHost) ArmFinalCheck(Member) protocol.TimerID     { h.timer++; return h.timer }
func (h *fakeHost) SendVerdict(to, suspect Member, failed bool) {
	verdict := "alive"
	if failed {
		verdict = "failed"
	}
	h.sent = append(h.sent, suspect.String()+" "+verdict+" to "+to.String())
}

const timeout = 100

func TestTheRingWatchesTheOlderNeighbourAndHeartbeatsTheYounger(t *testing.T) {
	h := newFakeHost(2)
	d := NewDetector(h, timeout)
	d.RefreshWatch()
	if d.Watching() != (Member{ID: 1}) || d.Watcher() != (Member{ID: 3}) {
		t.Fatalf("s2 watches %v and is watched by %v, want s1 and s3", d.Watching(), d.Watcher())
	}
	oldest := NewDetector(newFakeHost(0), timeout)
	oldest.RefreshWatch()
	if oldest.Watching() != (Member{ID: 3}) {
		t.Fatalf("the elder watches %v, want the youngest (the ring closes)", oldest.Watching())
	}
}

func TestASilentNeighbourIsReportedThenCheckedThenAnnouncedFailed(t *testing.T) {
	h := newFakeHost(2)
	d := NewDetector(h, timeout)
	d.RefreshWatch()
	h.now = timeout // heard at 0: not yet past the timeout
	d.SuspectNeighbour()
	if len(h.sent) != 0 {
		t.Fatalf("suspected at exactly the timeout: %v", h.sent)
	}
	h.now = timeout + 1
	d.SuspectNeighbour()
	if len(h.sent) != 1 || h.sent[0] != "suspect s1 to s0" {
		t.Fatalf("sent %v, want the suspicion of s1 reported to the decider s0 (a watcher does not act alone)", h.sent)
	}
	// The decider's side: s0 checks s1 for a watcher, and s1 does not answer.
	h0 := newFakeHost(0)
	d0 := NewDetector(h0, timeout)
	d0.OnSuspect(Member{ID: 2}, Member{ID: 1})
	if len(h0.sent) != 1 || h0.sent[0] != "check s1" || !d0.Checking(Member{ID: 1}) {
		t.Fatalf("the checker sent %v, want a final check of s1", h0.sent)
	}
	d0.OnFinalCheckTimer(1)
	if !d0.IsFailed(Member{ID: 1}) || len(h0.failures) != 1 || h0.acted != 1 {
		t.Fatalf("after the check's timeout: failed %v, announced %v, acted %d", d0.IsFailed(Member{ID: 1}), h0.failures, h0.acted)
	}
	want := map[string]bool{"s1 failed to s2": true, "s1 failed to s3": true}
	for _, s := range h0.sent[1:] {
		delete(want, s)
	}
	if len(want) != 0 {
		t.Fatalf("verdicts %v miss %v: every other member learns the failure", h0.sent[1:], want)
	}
	// A message from s1 arrives: the finding is taken back (before the host records the
	// message, as the store's admission does), and s1 counts as alive.
	if !d0.RetractFailure(Member{ID: 1}) || h0.sent[len(h0.sent)-1] != "s1 alive to s3" {
		t.Fatalf("the finding was not taken back: %v", h0.sent)
	}
	h0.lastHeard[1] = h0.now + 1
	if d0.IsFailed(Member{ID: 1}) {
		t.Fatal("a failed member heard from again still counts as failed")
	}
}

func TestAnAnsweredCheckTellsTheRequesterTheSuspectIsAlive(t *testing.T) {
	h := newFakeHost(0)
	d := NewDetector(h, timeout)
	d.OnSuspect(Member{ID: 2}, Member{ID: 1})
	d.HeardDuringCheck(Member{ID: 1})
	if d.Checking(Member{ID: 1}) || h.sent[len(h.sent)-1] != "s1 alive to s2" {
		t.Fatalf("sent %v, want s2 told that s1 answered", h.sent)
	}
	d.OnFinalCheckTimer(1)
	if d.IsFailed(Member{ID: 1}) || len(h.failures) != 0 {
		t.Fatal("the timer of a check that was answered declared the suspect failed")
	}
}

func TestViewHelpers(t *testing.T) {
	v := View{Version: Version{Term: 2, Seq: 3}, Members: []Member{{ID: 4}, {ID: 1, Inc: 2}}}
	if v.Elder() != (Member{ID: 4}) || !v.Has(Member{ID: 1, Inc: 2}) || v.Has(Member{ID: 1}) {
		t.Fatal("elder or membership wrong")
	}
	if m, ok := v.HasNode(1); !ok || m.Inc != 2 {
		t.Fatalf("HasNode(1) = %v, %v", m, ok)
	}
	if (View{}).Elder() != None || None.String() != "none" || (Member{ID: 1, Inc: 2}).String() != "s1#2" || v.Version.String() != "t2.3" {
		t.Fatal("names wrong")
	}
	if (Version{Term: 1, Seq: 9}).Compare(Version{Term: 2, Seq: 1}) != -1 || (Version{Term: 2, Seq: 2}).Compare(Version{Term: 2, Seq: 1}) != 1 {
		t.Fatal("versions do not order by term, then sequence")
	}
}
