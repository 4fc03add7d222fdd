package kv

import (
	"sort"
	"strings"
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

// A copy under creation holds a partial image: entries of its first chunks, but not yet the
// event-id table, which comes with the last chunk. A new primary that merged such entries would
// hold a write without its event id, and the client's retry of that write would be applied a
// second time. An uninitialized copy therefore answers a collect with no entries: everything it
// holds is either at an initialized holder too, or is dropped when the copy starts over.
//
// Five servers, six buckets, three copies: bucket 1 on s1 (primary), s2 and s3 (s0, holding the
// most copies, is never chosen for a new one). An append to k at s1 reaches s3 only; s1 crashes.
// The coordinator s0 makes s2 bucket 1's primary and creates a copy on s4, which copies from s3
// (prefer-non-primary); the views to s2 are late. s4 applies the chunk with k, then s3 crashes; s2
// learns it is primary and collects from s4. The client retries its append.
func TestNewPrimaryMergesNoPartialImage(t *testing.T) {
	cfg := harnessConfig()
	cfg.Servers, cfg.Buckets, cfg.Redundancy = 5, 6, 3
	cfg.SourceChoice = PreferNonPrimary
	h := newHarness(t, cfg)
	var keys []string
	for n := 0; len(keys) < 3; n++ {
		if k := "k" + itoa(n); BucketOf(k, cfg.Buckets) == 1 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // the appended key comes first in the scan, so the first chunk carries it
	key := keys[0]
	for _, k := range keys[1:] {
		h.write("c1", "s1", protocol.OpPut, k, "other")
	}
	seq := h.request("c0", "s1", protocol.OpAppend, key, "x")
	h.hold("s1", "s2") // the append never reaches s2
	h.deliver("c0", "s1")
	h.fire("s1", timerDistribute)
	h.stabilize()
	h.crash("s1")

	h.hold("s0", "s2")                 // s2 learns late that it is bucket 1's primary
	h.holdTimer("s3", timerImageChunk) // s3 sends the first chunk only
	h.advance(3 * cfg.FailureDetectionTimeout)
	b := h.server("s4").buckets[1]
	if b == nil || b.creation == nil || b.creation.source != (Member{ID: 3}) || b.epoch != 2 {
		t.Fatalf("s4 should be copying bucket 1 from s3 under epoch 2:\n%s", h.describe())
	}
	if e, ok := b.entries[key]; !ok || e.Value != "x" {
		t.Fatalf("s4's partial image should hold %s=x from s3:\n%s", key, h.describe())
	}
	h.crash("s3")
	h.release("s0", "s2")
	h.advance(3 * cfg.FailureDetectionTimeout)
	h.stabilize()
	if b := h.server("s2").buckets[1]; b == nil || b.role != roleServing {
		t.Fatalf("s2 should serve bucket 1 by now:\n%s", h.describe())
	}
	h.retry("c0", "s2")
	h.stabilize()
	if r := h.reply("c0", seq); r == nil || r.Status != replyOK {
		t.Fatalf("the retried append at s2 should be acknowledged: %+v\n%s", r, h.describe())
	}
	if r := h.get("c1", "s2", key); r == nil || r.Status != replyOK || r.Value != "x" {
		t.Fatalf("get %s at s2 after one acknowledged append of x: %+v\n%s", key, r, h.describe())
	}
}

// The image source answers a flush for itself only once it refuses the writes of the holders the
// new copy counts as flushed for having left (steady-monkey seed 5659: a partition held a crashed
// primary's write to the source, which applied it after the flush completed, before it learned the
// view removing the primary).
//
// Five servers, two buckets. Bucket 1's primary s1 puts a write on the wire to s2 that stays in
// flight, and crashes. The view removing s1 makes s2 primary and places a new copy on s4; it
// reaches s4 but not s2, which s4 picks as its source.
func TestFlushWaitsForTheSourceToLearnOfADepartedHolder(t *testing.T) {
	cfg := harnessConfig()
	cfg.Servers, cfg.Buckets = 5, 2
	h := newHarness(t, cfg)
	key := keyInBucket(cfg, 1)
	h.request("c0", "s1", protocol.OpPut, key, "v1")
	h.hold("s1", "s2") // the write stays in flight to s2
	h.deliver("c0", "s1")
	h.fire("s1", timerDistribute)
	h.stabilize()
	h.crash("s1")
	h.hold("s0", "s2") // s2 learns late that s1 left
	h.advance(3 * cfg.FailureDetectionTimeout)
	b := h.server("s4").buckets[1]
	if b == nil || b.creation == nil || b.creation.source != (Member{ID: 2}) {
		t.Fatalf("s4 should be creating bucket 1's copy from s2:\n%s", h.describe())
	}
	if b.creation.phase != phaseFlushing {
		t.Fatalf("s4's flush went on (%s) while s2 could still apply s1's write:\n%s", b.creation.phase, h.describe())
	}
	h.release("s1", "s2") // s2 applies the write while it still takes s1's writes
	h.advance(cfg.ApplyDelay)
	h.releaseAll()
	h.advance(3 * cfg.FailureDetectionTimeout)
	h.stabilize()
	if got, want := h.entriesOf("s4", 1), h.entriesOf("s2", 1); got != want || !strings.Contains(want, "v1") {
		t.Fatalf("s4's copy %s, want s2's %s with v1:\n%s", got, want, h.describe())
	}
}
