package kv

import (
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

// A coordinator takeover asks every live member of the newest view, which may admit a restarted
// member that has not installed that view yet (the old coordinator died before its view reached
// it). That member, outside any view, must still answer (no view, no copies), or the takeover
// waits for it forever: it keeps asking to join, so it is never suspected, and no view admits it.
//
// Four servers. s3 crashes and restarts at once; the coordinator s0 admits s3#1 in a view that
// reaches s1 and s2 but not s3#1, and crashes. s1 then suspects s0 and takes over.
func TestTakeoverIsNotStuckOnAJoiningMember(t *testing.T) {
	cfg := harnessConfig()
	cfg.Servers = 4
	h := newHarness(t, cfg)
	h.crash("s3")
	h.hold("s0", "s3") // s0's view admitting s3#1 never reaches it
	h.restart("s3")
	h.stabilize()
	if !h.server("s1").view.hasMember(Member{ID: 3, Inc: 1}) || h.server("s3").Joined() {
		t.Fatalf("s1 should know the view admitting s3#1, which s3#1 should not have installed:\n%s", h.describe())
	}
	h.crash("s0")
	h.advance(6 * cfg.FailureDetectionTimeout)
	h.stabilize()
	if s1 := h.server("s1"); !s1.gms.IsCoordinator() {
		t.Fatalf("s1 should coordinate after taking over from s0:\n%s", h.describe())
	}
	if !h.server("s3").Joined() {
		t.Fatalf("s3#1 should be in s1's view:\n%s", h.describe())
	}
}

// The coordinator admits a restarted member and dies before its view reaches anyone else: the
// others still list the member's previous incarnation and address their heartbeats to it. The
// restarted member must not conclude from the silence that everyone older is dead and take over
// alone (with no copies it would declare every bucket lost and make the others disconnect): the
// heartbeats prove the senders alive whichever incarnation they address, and the rightful
// successor's takeover query (addressed to the previous incarnation) is answered by the restarted
// member, which the successor then keeps (TestTakeoverKeepsAMemberOnlyItsDeadCoordinatorAdmitted).
//
// Four servers. s3 crashes and restarts; s0 admits s3#1 in a view that reaches only s3#1, and
// crashes. s1 suspects s0 and s3's previous incarnation, and takes over.
func TestRestartedMemberDoesNotTakeOverAlone(t *testing.T) {
	cfg := harnessConfig()
	cfg.Servers = 4
	h := newHarness(t, cfg)
	key := keyInBucket(cfg, 0)
	h.write("c0", "s0", protocol.OpPut, key, "v1")
	admitRestartedS3OnlyToItself(t, h)
	h.crash("s0")
	h.advance(6 * cfg.FailureDetectionTimeout)
	h.stabilize()
	if lost := h.eventsNamed(protocol.EventDataLost); len(lost) > 0 {
		t.Fatalf("%s declared bucket %s lost while s1 holds a copy:\n%s", h.name(lost[0].node), lost[0].get("bucket"), h.describe())
	}
	if s1 := h.server("s1"); !s1.gms.IsCoordinator() {
		t.Fatalf("s1 should coordinate after taking over from s0:\n%s", h.describe())
	}
	if s3 := h.server("s3"); !s3.Stopped() && !h.server("s1").view.hasMember(s3.Self()) {
		t.Fatalf("s3#1, left out of s1's view, should have disconnected:\n%s", h.describe())
	}
	if r := h.get("c1", "s1", key); r == nil || r.Status != replyOK || r.Value != "v1" {
		t.Fatalf("get %s at s1: %+v\n%s", key, r, h.describe())
	}
}

// TestUnknownNewMemberDoesNotTakeOverAlone: the coordinator admits s3#1, and the only other member
// that learned of it dies with the coordinator. s3#1 then hears nobody (s1 never knew it), but it
// holds no data: it must not take over alone and declare every bucket lost. It asks to join again,
// as a joiner whose coordinator died mid-join does, and the new coordinator admits it: a running
// process is not lost for good because of whom its admission happened to reach.
func TestUnknownNewMemberDoesNotTakeOverAlone(t *testing.T) {
	cfg := harnessConfig()
	cfg.Servers = 4
	h := newHarness(t, cfg)
	key := keyInBucket(cfg, 0)
	h.write("c0", "s0", protocol.OpPut, key, "v1")
	h.crash("s3")
	h.hold("s0", "s1") // s0's view admitting s3#1 reaches s2 and s3#1 only
	h.restart("s3")
	h.stabilize()
	if !h.server("s3").Joined() || h.server("s1").view.hasMember(Member{ID: 3, Inc: 1}) || !h.server("s2").view.hasMember(Member{ID: 3, Inc: 1}) {
		t.Fatalf("s3#1's admission should have reached s2 and not s1:\n%s", h.describe())
	}
	h.hold("s1", "s3") // and s1's takeover view never reaches s3#1 either
	h.crash("s0")
	h.crash("s2")
	// s3#1 finds the three others failed one after another (its first checker, s0, is among them,
	// so it waits for that verdict in vain first): about ten timeouts.
	h.advance(12 * cfg.FailureDetectionTimeout)
	h.stabilize()
	for _, e := range h.eventsNamed(protocol.EventDataLost) {
		if h.name(e.node) == "s3" {
			t.Fatalf("s3#1, holding nothing, declared bucket %s lost while s1 is alive:\n%s", e.get("bucket"), h.describe())
		}
	}
	if len(h.eventsNamed(EventRejoin)) == 0 {
		t.Fatalf("s3#1 should have left its view to join again:\n%s", h.describe())
	}
	h.release("s1", "s3")
	h.advance(6 * cfg.FailureDetectionTimeout)
	h.stabilize()
	if s3 := h.server("s3"); s3.Stopped() || !s3.Joined() || !h.server("s1").view.hasMember(s3.Self()) {
		t.Fatalf("s3#1 should have been admitted again by s1:\n%s", h.describe())
	}
}

// A server that heartbeats a member from a view the member has left behind (here: an incarnation
// of s3 that s0's view never admitted) is sent the current view: with the ring detector no member
// heartbeats a non-member, so nothing else would tell it that it is out.
func TestNonMemberHeartbeatIsAnsweredWithTheView(t *testing.T) {
	cfg := harnessConfig()
	cfg.Servers = 4
	h := newHarness(t, cfg)
	stranger := Member{ID: 3, Inc: 7}
	h.inject(stranger.ID, "s0", &Heartbeat{Hdr: Hdr{FromInc: stranger.Inc, ToInc: h.server("s0").Self().Inc}})
	viewSent := false
	for _, m := range h.channels[hchan{from: h.id("s0"), to: h.id("s3")}] {
		if v, ok := m.msg.(*ViewMsg); ok && v.ToInc == stranger.Inc && !v.View.hasMember(stranger) {
			viewSent = true
		}
	}
	if !viewSent {
		t.Fatalf("s0 should have sent its view to %v, which its view does not list:\n%s", stranger, h.describe())
	}
	// A member of the view gets no view for its heartbeat.
	h.inject(1, "s0", &Heartbeat{Hdr: Hdr{FromInc: 0, ToInc: 0}})
	for _, m := range h.channels[hchan{from: h.id("s0"), to: h.id("s1")}] {
		if _, ok := m.msg.(*ViewMsg); ok {
			t.Fatalf("s0 sent its view to a member for a heartbeat:\n%s", h.describe())
		}
	}
}

// A member that answered a takeover refuses a rival one of the same term, and the rival takes over
// again under a newer term: the member it lost to may have died mid-takeover (its host crashed with
// the replies in flight), and a rival that waited for answers that never come would never finish.
//
// Five servers. s0 crashes; s1 takes over under term 2, its queries reach s3 and s4 (not s2), and it
// crashes before their replies arrive. s2 then finds both older members failed and takes over.
func TestRivalTakeoverOfAnEqualTermIsRetriedUnderANewerOne(t *testing.T) {
	cfg := harnessConfig()
	cfg.Servers = 5
	h := newHarness(t, cfg)
	h.hold("s1", "s2") // s1's takeover query never reaches s2
	h.hold("s1", "s3") // and waits on the way to s3 and s4
	h.hold("s1", "s4")
	h.crash("s0")
	for i := 0; len(h.eventsNamed(EventTakeover)) == 0; i++ {
		if i > 1000 {
			t.Fatalf("s1 never took over:\n%s", h.describe())
		}
		h.advance(protocol.Millisecond)
	}
	for _, to := range []string{"s3", "s4"} {
		for c := (hchan{from: h.id("s1"), to: h.id(to)}); len(h.channels[c]) > 0; {
			h.deliverHead(c)
		}
	}
	if h.server("s3").gms.maxTerm != 2 || h.server("s4").gms.maxTerm != 2 {
		t.Fatalf("s3 and s4 should have answered s1's takeover of term 2:\n%s", h.describe())
	}
	h.crash("s1")
	h.advance(10 * cfg.FailureDetectionTimeout)
	h.stabilize()
	s2 := h.server("s2")
	if !s2.gms.IsCoordinator() || s2.view.Version.Term < 3 {
		t.Fatalf("s2 should coordinate a view of term 3 or later, got %v:\n%s", s2.view.Version, h.describe())
	}
	for _, name := range []string{"s3", "s4"} {
		if v := h.server(name).view.Version; v != s2.view.Version {
			t.Fatalf("%s holds view %v, s2 %v:\n%s", name, v, s2.view.Version, h.describe())
		}
	}
}

// A takeover asks the members of its view, which may list an earlier incarnation of a member that
// the dead coordinator admitted anew in a view that reached only that member (a host crash loses
// the view messages in flight). The new incarnation answers for the earlier one, and the takeover
// keeps it: removed with the dead incarnation it would be forced out of a cluster it can serve, its
// copies with it (host-failures seed 515).
//
// Four servers. s3 crashes and restarts; s0 admits s3#1 in a view that reaches only s3#1, and
// crashes. s1 suspects s0 and takes over, asking s3's previous incarnation.
func TestTakeoverKeepsAMemberOnlyItsDeadCoordinatorAdmitted(t *testing.T) {
	cfg := harnessConfig()
	cfg.Servers = 4
	h := newHarness(t, cfg)
	admitRestartedS3OnlyToItself(t, h)
	h.crash("s0")
	h.advance(6 * cfg.FailureDetectionTimeout)
	h.stabilize()
	s1, s3 := h.server("s1"), h.server("s3")
	if !s1.gms.IsCoordinator() {
		t.Fatalf("s1 should coordinate after taking over from s0:\n%s", h.describe())
	}
	if s3.Stopped() || len(h.eventsNamed(EventRejoin)) > 0 || !s1.view.hasMember(s3.Self()) || s3.view.Version != s1.view.Version {
		t.Fatalf("s3#1 should be in s1's takeover view without leaving or rejoining:\n%s", h.describe())
	}
}

// admitRestartedS3OnlyToItself crashes and restarts s3 of a four-server cluster; the coordinator s0
// admits s3#1 in a view that reaches only s3#1.
func admitRestartedS3OnlyToItself(t *testing.T, h *harness) {
	t.Helper()
	h.crash("s3")
	h.hold("s0", "s1") // s0's view admitting s3#1 reaches only s3#1
	h.hold("s0", "s2")
	h.restart("s3")
	h.stabilize()
	if !h.server("s3").Joined() || h.server("s1").view.hasMember(Member{ID: 3, Inc: 1}) {
		t.Fatalf("s3#1 alone should know the view admitting it:\n%s", h.describe())
	}
}
