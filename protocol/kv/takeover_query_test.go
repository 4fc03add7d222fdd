package kv

import (
	"strings"
	"testing"
)

// TestTakeoverAskedAgainIsAnswered: a member that promised a takeover answers the same taker again
// when it asks again under the same term. A taker can drop a first answer (it had just found the
// member's earlier incarnation failed) and ask again once another answer's newer view lists the
// new incarnation; unanswered, it waited for good, the member's heartbeats keeping it from ever
// counting as silent (found by the harness's steady-monkey seed 250 with 4 clients of 2 operations
// and every nemesis on, under a change that removed self-evicting members at once).
func TestTakeoverAskedAgainIsAnswered(t *testing.T) {
	h := newHarness(t, harnessConfig())
	h.stabilize()
	h.takeLog()
	query := &TakeoverQuery{Hdr: Hdr{FromInc: 0, ToInc: 0}, Term: 7}
	for i := 1; i <= 2; i++ {
		log := h.inject(2, "s1", query)
		if !strings.Contains(log, "takeover-reply") || strings.Contains(log, "refused") {
			t.Fatalf("query %d of the same takeover: s1 answered\n%s", i, log)
		}
	}
	if log := h.inject(2, "s1", &TakeoverQuery{Hdr: Hdr{FromInc: 0, ToInc: 0}, Term: 6}); !strings.Contains(log, "refused") {
		t.Errorf("an older takeover's query: s1 answered\n%s", log)
	}
}
