package kv

import (
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

// A rebalance that removes the primary's copy hands the primary role to the target. The old primary
// learns of it from the view, which may be late: the new primary must fence it before serving, or
// the old one could still answer a read with a value the new one has already overwritten.
//
// Four servers; bucket 1 on s1 (primary) and s2; s1 holds two copies, so when the rebalance's
// target s3 is initialized s1's copy is removed and s3 becomes primary. The view to s1 is held.
func TestHandoffFencesTheOldPrimary(t *testing.T) {
	cfg := harnessConfig()
	cfg.Servers, cfg.Buckets, cfg.Redundancy = 4, 2, 2
	h := newHarness(t, cfg)
	key := keyInBucket(cfg, 1)
	h.write("c0", "s1", protocol.OpPut, key, "old")
	h.rebalance(1, "s3")
	h.until("s3", protocol.EventInitialized)
	h.hold("s0", "s1") // the coordinator's view to s1 is late
	h.stabilize()
	if b := h.server("s3").buckets[1]; b == nil || b.role != roleServing {
		t.Fatalf("s3 should serve bucket 1 by now:\n%s", h.describe())
	}
	h.write("c0", "s3", protocol.OpPut, key, "new")
	r := h.get("c1", "s1", key)
	switch {
	case r == nil:
		t.Fatalf("no answer from s1")
	case r.Status == replyOK:
		t.Fatalf("the old primary answered a read (found=%v value=%q) after the new primary acknowledged %q", r.Found, r.Value, "new")
	case r.Status != replyRedirect || r.Primary != 3:
		t.Fatalf("the old primary should redirect to s3: %+v", r)
	}
	h.releaseAll()
	h.stabilize()
	if got := h.get("c1", "s3", key); got == nil || got.Value != "new" {
		t.Fatalf("read at s3: %+v", got)
	}
}

// keyInBucket returns the first key "k<n>" that hashes to bucket.
func keyInBucket(cfg Config, bucket int) string {
	for n := 0; ; n++ {
		if k := "k" + itoa(n); BucketOf(k, cfg.Buckets) == bucket {
			return k
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// A new primary collects from every holder, including a copy just assigned to a restarted member
// that has not yet installed the view admitting it. That member, outside any view, must still
// answer (it holds nothing), or the new primary waits for it forever and the bucket never serves.
//
// Four servers, four buckets, two copies each: bucket 2 on s2 (primary) and s3. s2 crashes and
// restarts at once; its join makes the coordinator s0 publish a view in which s3 is bucket 2's
// primary and the restarted s2 gets a new copy of it. The views to s2 are late, so s3's collect
// reaches s2 before s2 has joined.
func TestNewPrimaryIsNotStuckOnAJoiningHolder(t *testing.T) {
	cfg := harnessConfig()
	cfg.Servers, cfg.Buckets = 4, 4
	h := newHarness(t, cfg)
	key := keyInBucket(cfg, 2)
	h.write("c0", "s2", protocol.OpPut, key, "v1")
	h.crash("s2")
	h.hold("s0", "s2") // the coordinator's views to the restarted s2 are late
	h.restart("s2")
	h.stabilize()
	meta := h.server("s3").view.Buckets[2]
	if meta.Primary != (Member{ID: 3}) || meta.holder(Member{ID: 2, Inc: 1}) < 0 {
		t.Fatalf("the join should make s3 bucket 2's primary and give s2#1 a copy:\n%s", h.describe())
	}
	if h.server("s2").Joined() {
		t.Fatalf("s2#1 should not have joined yet:\n%s", h.describe())
	}
	h.releaseAll()
	h.stabilize()
	if b := h.server("s3").buckets[2]; b == nil || b.role != roleServing {
		t.Fatalf("s3 should serve bucket 2 once s2#1 has joined:\n%s", h.describe())
	}
	if r := h.get("c1", "s3", key); r == nil || r.Status != replyOK || r.Value != "v1" {
		t.Fatalf("get %s at s3: %+v\n%s", key, r, h.describe())
	}
}
