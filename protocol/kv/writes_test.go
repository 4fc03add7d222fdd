package kv

import (
	"fmt"
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

// The image source is the primary, the origin of every write. A put arrives there while the source
// streams its image: the key's chunk has already gone out, the last chunk (with the event-id table)
// has not. The source then dies before the put is on the wire, so no holder ever receives it, and
// the new copy becomes primary. The client's retry must then be applied (or the put must be
// visible): an image whose event-id table claims the put while no entry reflects it turns the retry
// into an acknowledged write that is lost.
//
// Three servers; bucket 0 on s0 (primary, also the coordinator) and s1, keys a and b, one entry per
// chunk. s1 crashes, so redundancy recovery creates a copy on s2 from the only source, s0.
func TestOriginDyingMidDistributionLosesNoAcknowledgedWrite(t *testing.T) {
	h := newHarness(t, harnessConfig())
	h.write("c0", "s0", protocol.OpPut, "a", "1")
	h.write("c0", "s0", protocol.OpPut, "b", "2")

	h.holdTimer("s0", timerImageChunk) // s0 sends chunk 0 (key a) at once, chunk 1 only when told
	h.crash("s1")
	h.advance(3 * h.cfg.FailureDetectionTimeout)
	if b := h.server("s2").buckets[0]; b == nil || b.creation == nil || b.creation.phase != phaseCopying || b.creation.source != (Member{ID: 0}) {
		t.Fatalf("s2 should be copying bucket 0 from s0 by now:\n%s", h.describe())
	}

	seq := h.request("c1", "s0", protocol.OpPut, "a", "3")
	h.holdTimer("s0", timerDistribute) // s0 will die before the put is on the wire
	h.deliver("c1", "s0")
	h.releaseTimer("s0", timerImageChunk)
	h.fire("s0", timerImageChunk) // the last chunk, with the event-id table
	h.until("s2", protocol.EventInitialized)
	h.promote("s0") // s2 takes over as coordinator and becomes primary

	if b := h.server("s2").buckets[0]; b == nil || b.role != roleServing {
		t.Fatalf("s2 should serve bucket 0 by now:\n%s", h.describe())
	}
	h.retry("c1", "s2")
	h.stabilize()
	if r := h.reply("c1", seq); r == nil || r.Status != replyOK {
		t.Fatalf("the retried put a=3 at s2 should be acknowledged: %+v\n%s", r, h.describe())
	}
	if r := h.get("c0", "s2", "a"); r == nil || r.Status != replyOK || !r.Found || r.Value != "3" {
		t.Fatalf("get a at s2 after the acknowledged put a=3: %+v, want found value 3\n%s", r, h.describe())
	}
}

// TestKeyNameMatchesSprintf: the client's cached key names are the names it formatted before.
func TestKeyNameMatchesSprintf(t *testing.T) {
	c := &Client{}
	for _, i := range []int{3, 0, 3, 99, 1000, 1 << 16, -1} {
		if got, want := c.keyName(i), fmt.Sprintf("k%d", i); got != want {
			t.Errorf("keyName(%d) = %q, want %q", i, got, want)
		}
	}
}

// TestConfigVersionStringMatchesSprintf: heartbeats' trace attrs must not change with the faster
// formatting.
func TestConfigVersionStringMatchesSprintf(t *testing.T) {
	for _, v := range []ConfigVersion{{}, {Term: 1, Seq: 2}, {Term: 300, Seq: 99999}, {Term: ^uint64(0), Seq: 1 << 33}} {
		if got, want := v.String(), fmt.Sprintf("t%d.%d", v.Term, v.Seq); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}
