package kv

import (
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

// One slow link (nothing on it arrives, heartbeats included) makes the watcher at its far end
// suspect a healthy member. The final check, made by another member over its own link, finds the
// suspect alive, so nobody is removed. Both watchers are tried: an ordinary member (s3 watches
// s2) and the coordinator itself (s0 watches s3, the youngest), whose suspicion another member
// must check because the coordinator's own link is the one in doubt.
func TestSlowLinkDoesNotRemoveHealthyMember(t *testing.T) {
	for _, link := range [][2]string{{"s2", "s3"}, {"s3", "s0"}} {
		t.Run(link[0]+"->"+link[1], func(t *testing.T) {
			cfg := harnessConfig()
			cfg.Servers = 4
			h := newHarness(t, cfg)
			h.slowLink(link[0], link[1])
			h.advance(20 * cfg.FailureDetectionTimeout)
			if h.sent["suspect"] == 0 && h.sent["check-request"] == 0 {
				t.Fatalf("the watcher behind the slow link %s->%s never suspected %s: the test shows nothing", link[0], link[1], link[0])
			}
			if failed := h.eventsNamed(EventMemberFailed); len(failed) > 0 {
				t.Fatalf("%s found %s failed although only the link %s->%s is slow:\n%s", h.name(failed[0].node), failed[0].get("member"), link[0], link[1], h.describe())
			}
			for _, name := range []string{"s0", "s1", "s2", "s3"} {
				if s := h.server(name); !s.Joined() || len(s.view.Members) != 4 {
					t.Fatalf("%s: joined=%v, view %v; every member should stay:\n%s", name, s.Joined(), s.view.memberNames(), h.describe())
				}
			}
		})
	}
}

// A crashed member is removed within the detector's bound: its watcher suspects it after the
// failure-detection timeout (seen at the next heartbeat tick), and the final check waits one more
// timeout. The scripted environment delivers messages at once, so the bound has no latency term.
// The coordinator's crash is detected the same way, by the member that takes over.
func TestDeadMemberRemovedWithinTimeoutBound(t *testing.T) {
	for _, victim := range []string{"s2", "s0"} {
		t.Run(victim, func(t *testing.T) {
			cfg := harnessConfig()
			cfg.Servers = 5
			h := newHarness(t, cfg)
			h.advance(35 * protocol.Millisecond) // heartbeats under way, mid-interval
			h.crash(victim)
			crashedAt := h.now
			observer := "s1"
			if victim == "s0" {
				observer = "s3"
			}
			dead := h.servers[h.id(victim)].srv.Self()
			bound := protocol.Time(2*cfg.FailureDetectionTimeout + cfg.HeartbeatInterval)
			for h.server(observer).view.hasMember(dead) {
				if h.now-crashedAt > bound+protocol.Time(cfg.HeartbeatInterval) {
					t.Fatalf("%s still in %s's view %v after %v (bound %v):\n%s", victim, observer, h.server(observer).view.memberNames(),
						protocol.Duration(h.now-crashedAt), protocol.Duration(bound), h.describe())
				}
				h.advance(protocol.Millisecond)
			}
			if took := h.now - crashedAt; took > bound {
				t.Fatalf("%s removed %v after its crash; the bound is %v", victim, protocol.Duration(took), protocol.Duration(bound))
			} else if took < protocol.Time(cfg.FailureDetectionTimeout) {
				t.Fatalf("%s removed %v after its crash, sooner than the failure-detection timeout %v", victim, protocol.Duration(took), cfg.FailureDetectionTimeout)
			}
		})
	}
}

// Heartbeat traffic grows linearly with the members: each member sends one heartbeat per
// interval, to its watcher only. Doubling the cluster doubles the heartbeats (all-to-all
// heartbeats would more than quadruple them).
func TestHeartbeatTrafficIsLinear(t *testing.T) {
	count := func(servers int) int {
		cfg := harnessConfig()
		cfg.Servers = servers
		h := newHarness(t, cfg)
		h.advance(protocol.Second)
		return h.sent["heartbeat"]
	}
	const n = 6
	small, large := count(n), count(2*n)
	intervals := int(protocol.Second / harnessConfig().HeartbeatInterval)
	if small < n*(intervals-1) {
		t.Fatalf("heartbeats in 1s at %d servers: %d, want one per member per interval (%d intervals)", n, small, intervals)
	}
	if small > n*intervals || large > 2*n*intervals {
		t.Fatalf("heartbeats in 1s: %d at %d servers, %d at %d; at most one per member per interval (%d intervals)", small, n, large, 2*n, intervals)
	}
	if ratio := float64(large) / float64(small); ratio < 1.9 || ratio > 2.1 {
		t.Fatalf("heartbeats in 1s: %d at %d servers, %d at %d: ratio %.2f, want about 2", small, n, large, 2*n, ratio)
	}
}
