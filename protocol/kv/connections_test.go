package kv

import (
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

// A broken connection removes its younger end: s1, a holder of bucket 0, learns that its
// connection to s0 (primary, coordinator) broke. It refuses what s0 sends on the new connection
// (the replicated write of a put that follows), s0 learns of the break too and removes s1, and
// the write is acknowledged without s1, which disconnects when the view reaches it.
func TestBrokenConnectionRemovesTheYoungerEnd(t *testing.T) {
	h := newHarness(t, harnessConfig())
	h.write("c0", "s0", protocol.OpPut, "k", "v1")
	h.inject(protocol.External, "s1", &protocol.ConnectionLost{Peer: h.id("s0")})
	seq := h.request("c0", "s0", protocol.OpPut, "k", "v2")
	h.deliver("c0", "s0")
	h.fire("s0", timerDistribute)
	h.deliver("s0", "s1")
	if got := h.server("s1").Drops().BrokenConnection; got != 1 {
		t.Fatalf("s1 took s0's write over a broken connection (refused %d):\n%s", got, h.describe())
	}
	if r := h.reply("c0", seq); r != nil {
		t.Fatalf("the put was answered before s1 was removed: %+v", r)
	}
	h.inject(protocol.External, "s0", &protocol.ConnectionLost{Peer: h.id("s1")})
	h.stabilize()
	if h.server("s0").gms.InView(h.server("s1").Self()) {
		t.Fatalf("s0 keeps s1 in its view after their connection broke:\n%s", h.describe())
	}
	if r := h.reply("c0", seq); r == nil || r.Status != replyOK {
		t.Fatalf("the put was not acknowledged once s1 left: %+v\n%s", r, h.describe())
	}
	if !h.server("s1").Stopped() {
		t.Fatalf("s1 should have disconnected on learning of its removal:\n%s", h.describe())
	}
}

// The older end alone reports the break when the younger end never learns of it: s1's report
// reaches the coordinator s0 as an EvictRequest when s1 is not the coordinator.
func TestBrokenConnectionReportedByANonCoordinator(t *testing.T) {
	h := newHarness(t, harnessConfig())
	h.write("c0", "s0", protocol.OpPut, "k", "v1")
	log := h.inject(protocol.External, "s1", &protocol.ConnectionLost{Peer: h.id("s2")})
	expectInOrder(t, "report", log, "s1 event connection-lost member=s2", "s1 -> s0 evict-request member=s2")
	h.stabilize()
	if h.server("s0").gms.InView(h.server("s2").Self()) {
		t.Fatalf("the coordinator kept s2 after s1's report:\n%s", h.describe())
	}
	if !h.server("s0").gms.InView(h.server("s1").Self()) {
		t.Fatalf("the coordinator removed s1, the older end:\n%s", h.describe())
	}
}

// A connection broken with a restarted member whose admission has not reached this end is with the
// new incarnation, the youngest member, even though this end's view still lists the previous one,
// older than this end (steady-monkey seeds 4167, 8821: the older end asked for its own removal).
// The older end has the joiner removed, asking until the coordinator has admitted it; the joiner,
// outside any view when the connection broke, leaves it to the older end (steady-monkey seed 4660).
//
// Four servers. s3 crashes and restarts; s0 admits s3#1 in a view that reaches neither s2 nor
// s3#1, and the connection between s2 and s3#1 breaks.
func TestBrokenConnectionWithAJoinerRemovesTheJoiner(t *testing.T) {
	cfg := harnessConfig()
	cfg.Servers = 4
	h := newHarness(t, cfg)
	h.crash("s3")
	h.hold("s0", "s2") // s0's view admitting s3#1 is still on its way to s2, and to s3#1
	h.hold("s0", "s3")
	h.restart("s3")
	h.stabilize()
	if h.server("s2").view.hasMember(Member{ID: 3, Inc: 1}) || h.server("s3").Joined() || !h.server("s0").gms.InView(Member{ID: 3, Inc: 1}) {
		t.Fatalf("s0 should have admitted s3#1 in a view neither s2 nor s3#1 has installed:\n%s", h.describe())
	}
	log := h.inject(protocol.External, "s2", &protocol.ConnectionLost{Peer: h.id("s3")})
	if !strings.Contains(log, "s2 -> s0 evict-request member=s3#1") || strings.Contains(log, "member=s2") {
		t.Fatalf("s2, the older end, should ask for the removal of s3#1:\n%s", log)
	}
	if !h.server("s2").gms.brokenConnection(Member{ID: 3, Inc: 1}) {
		t.Fatalf("s2 should refuse s3#1's bucket messages until s3#1 is removed:\n%s", h.describe())
	}
	h.inject(protocol.External, "s3", &protocol.ConnectionLost{Peer: h.id("s2")})
	h.releaseAll()
	h.stabilize()
	if !h.server("s0").gms.InView(h.server("s2").Self()) || h.server("s0").gms.InView(Member{ID: 3, Inc: 1}) {
		t.Fatalf("the coordinator should keep s2 and remove s3#1:\n%s", h.describe())
	}
}
