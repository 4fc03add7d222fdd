package kv

import (
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
	if h.server("s0").InView(h.server("s1").Self()) {
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
	if h.server("s0").InView(h.server("s2").Self()) {
		t.Fatalf("the coordinator kept s2 after s1's report:\n%s", h.describe())
	}
	if !h.server("s0").InView(h.server("s1").Self()) {
		t.Fatalf("the coordinator removed s1, the older end:\n%s", h.describe())
	}
}
