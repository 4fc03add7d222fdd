package kv

import "testing"

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
	if s1 := h.server("s1"); !s1.IsCoordinator() {
		t.Fatalf("s1 should coordinate after taking over from s0:\n%s", h.describe())
	}
	if !h.server("s3").Joined() {
		t.Fatalf("s3#1 should be in s1's view:\n%s", h.describe())
	}
}
