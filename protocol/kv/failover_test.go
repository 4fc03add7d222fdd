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
