package kv

import (
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

// The mutants of the store's safety mechanisms other than the flush, each on a schedule where the
// mechanism is what decides the outcome: run once with the mutant off (the right outcome) and once
// on (the wrong one), as the state flush mutants are in mutants_test.go. Bucket 0 starts on s0
// (primary and coordinator) and s1, or on s0, s1 and s2 with four servers.

// answered is the outcome "the client got an ok reply" (found), with the value read, if any.
func answered(r *ClientReply) outcome {
	if r == nil || r.Status != replyOK {
		return outcome{}
	}
	return outcome{found: true, value: r.Value}
}

var (
	acked    = outcome{found: true}
	notAcked = outcome{}
)

// Synchronous acknowledgement: a write whose replicated message to s1 is held is on the wire, but
// not applied by every recipient, so it is not yet acknowledged.
func TestMutantAckBeforeReplicas(t *testing.T) {
	runMutantSchedule(t, AckBeforeReplicas, notAcked, acked, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		seq := putInFlightToS(h, "k", "v1", "s1")
		h.stabilize()
		return answered(h.reply("c0", seq))
	}, 3)
}

// Event-id dedupe in writes: the client's append is acknowledged, its reply is lost, and the client
// retries with the same event id at the same primary.
func TestMutantNoDedupeWrites(t *testing.T) {
	runMutantSchedule(t, NoDedupeWrites, outcome{found: true, value: "a"}, outcome{found: true, value: "aa"}, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		h.write("c0", "s0", protocol.OpAppend, "k", "a")
		h.retry("c0", "s0")
		h.stabilize()
		return answered(h.get("c1", "s0", "k"))
	}, 3)
}

// Event-id dedupe in images: the append reaches the new copy s2 only through the image (it was
// acknowledged before s2 was created); the rebalance then removes s1's copy, s0 crashes, and the
// client's retry reaches s2 as the new primary.
func TestMutantNoDedupeImage(t *testing.T) {
	runMutantSchedule(t, NoDedupeImage, outcome{found: true, value: "a"}, outcome{found: true, value: "aa"}, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		h.write("c0", "s0", protocol.OpAppend, "k", "a")
		h.rebalance(0, "s2")
		h.stabilize()
		if b := h.server("s1").buckets[0]; b != nil {
			t.Fatalf("the rebalance should have removed s1's copy:\n%s", h.describe())
		}
		h.promote("s0")
		h.retry("c0", "s2")
		h.stabilize()
		return answered(h.get("c1", "s2", "k"))
	}, 3)
}

// Event-id dedupe in failover: the append is acknowledged, s0 crashes, and the client's retry
// reaches s1 as the new primary.
func TestMutantNoDedupeFailover(t *testing.T) {
	runMutantSchedule(t, NoDedupeFailover, outcome{found: true, value: "a"}, outcome{found: true, value: "aa"}, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		h.write("c0", "s0", protocol.OpAppend, "k", "a")
		h.promote("s0")
		h.retry("c0", "s1")
		h.stabilize()
		return answered(h.get("c1", "s1", "k"))
	}, 3)
}

// Epoch fencing: a rebalance hands bucket 1's primary role from s1 to s3 (s1 holds two copies, so
// its copy is the one removed). s1 has just put a write on the wire to s2 and s3 and crashes before
// either receives it. s2 answers s3's synchronization, which waits for s1 to be suspected; only
// then does s1's write reach s2. Fenced, s2 rejects it; without the fence s2 applies a write that
// the new primary's merge never saw and that s3 never gets, and the copies differ for good.
func TestMutantNoEpochFence(t *testing.T) {
	type result struct{ atS2, atS3 bool }
	for _, on := range []bool{false, true} {
		cfg := harnessConfig()
		cfg.Servers, cfg.Buckets, cfg.Redundancy = 4, 2, 2
		if on {
			cfg.Mutants = NewMutants(NoEpochFence)
		}
		h := newHarness(t, cfg)
		key := keyInBucket(cfg, 1)
		h.rebalance(1, "s3")
		h.until("s3", protocol.EventInitialized)
		h.request("c0", "s1", protocol.OpPut, key, "v1")
		h.deliver("c0", "s1")
		h.fire("s1", timerDistribute)
		h.hold("s1", "s2")
		h.hold("s1", "s3")
		h.crash("s1")
		h.stabilize() // s3 becomes primary, fences s2 and waits for s1's answer
		if b := h.server("s3").buckets[1]; b == nil || b.role != roleSyncing {
			t.Fatalf("s3 should be synchronizing bucket 1:\n%s", h.describe())
		}
		h.release("s1", "s2")
		h.stabilize()
		h.advance(6 * cfg.FailureDetectionTimeout) // s1 is suspected; s3 pushes and serves
		h.releaseAll()
		h.stabilize()
		found2, _ := h.server("s2").buckets[1].read(key)
		found3, _ := h.server("s3").buckets[1].read(key)
		got, want := result{found2, found3}, result{}
		if on {
			want = result{atS2: true}
		}
		if got != want {
			t.Errorf("no-epoch-fence on=%v: the replaced primary's write at s2, s3: %+v, want %+v\n%s", on, got, want, h.describe())
		}
	}
}

// The failover merge: s0's put reaches s2 but not s1 before s0 crashes; s1 becomes primary and
// must take the write from s2's answer, as the highest version of the key.
func TestMutantMergeKeepsOwn(t *testing.T) {
	runMutantSchedule(t, MergeKeepsOwn, foundV1, notFound, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		putInFlightToS(h, "k", "v1", "s1")
		h.stabilize() // s2 applies the write
		h.promote("s0")
		h.releaseAll()
		h.stabilize()
		return readOutcome(t, h, "s1", "k")
	}, 4)
}

// Initialized-only promotion: four servers, two buckets; bucket 1 on s1 (primary) and s2. A
// rebalance creates a copy of bucket 1 on s0, whose second image chunk is held, and s1
// crashes meanwhile. The coordinator must make s2 primary; the mutant picks s0, the lowest-id
// holder, which then serves client operations without being initialized.
func TestMutantPromoteUninitialized(t *testing.T) {
	for _, on := range []bool{false, true} {
		cfg := harnessConfig()
		cfg.Servers, cfg.Buckets, cfg.Redundancy = 4, 2, 2
		if on {
			cfg.Mutants = NewMutants(PromoteUninitialized)
		}
		h := newHarness(t, cfg)
		keys := keysInBucket(cfg, 1, 2)
		h.write("c0", "s1", protocol.OpPut, keys[0], "v1")
		h.write("c0", "s1", protocol.OpPut, keys[1], "v2") // a second chunk, which the held timer keeps back
		h.holdTimer("s1", timerImageChunk)                 // whichever copy is the source
		h.holdTimer("s2", timerImageChunk)
		h.rebalance(1, "s0")
		h.stabilize()
		if b := h.server("s0").buckets[1]; b == nil || b.initialized {
			t.Fatalf("s0 should hold an uninitialized copy of bucket 1:\n%s", h.describe())
		}
		h.promote("s1")
		primary := h.server("s0").view.Buckets[1].Primary
		r := h.get("c1", "s0", keys[1])
		switch {
		case r == nil:
			t.Fatalf("on=%v: no answer from s0\n%s", on, h.describe())
		case !on && (primary.ID != 2 || r.Status != replyRedirect):
			t.Errorf("s2, the only initialized copy, should be primary (is %v) and the uninitialized s0 redirect (reply %+v)\n%s", primary, r, h.describe())
		case on && (primary.ID != 0 || r.Status != replyOK):
			t.Errorf("promote-uninitialized: s0 should be primary (is %v) and serve (reply %+v)\n%s", primary, r, h.describe())
		}
		if b := h.server("s0").buckets[1]; on && (b == nil || b.initialized) {
			t.Errorf("promote-uninitialized: s0 should serve while still uninitialized\n%s", h.describe())
		}
	}
}

// keysInBucket returns the first n keys "k<i>" that hash to bucket.
func keysInBucket(cfg Config, bucket, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		if k := "k" + itoa(i); BucketOf(k, cfg.Buckets) == bucket {
			out = append(out, k)
		}
	}
	return out
}

// Initialized-only serving: a read reaches s2 while its copy is being created (the second image
// chunk is held). It must redirect; the mutant answers from the empty copy.
func TestMutantServeUninitialized(t *testing.T) {
	runMutantSchedule(t, ServeUninitialized, notAcked, outcome{found: true}, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		h.write("c0", "s0", protocol.OpPut, "k", "v1")
		h.write("c0", "s0", protocol.OpPut, "k2", "v2") // a second chunk, which the held timer keeps back
		h.holdTimer("s1", timerImageChunk)
		h.rebalance(0, "s2")
		h.stabilize()
		if b := h.server("s2").buckets[0]; b == nil || b.initialized {
			t.Fatalf("s2 should hold an uninitialized copy:\n%s", h.describe())
		}
		return answered(h.get("c1", "s2", "k2"))
	}, 3)
}

// Tombstones: k=v1 is everywhere; its delete reaches s2 but not s1 before s0 crashes. s1 becomes
// primary and merges s2's answer: the tombstone, newer than s1's v1, wins. Without tombstones s2
// has nothing for k, s1's v1 is the newest the merge sees, and the key comes back.
func TestMutantNoTombstones(t *testing.T) {
	runMutantSchedule(t, NoTombstones, notFound, foundV1, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		h.write("c0", "s0", protocol.OpPut, "k", "v1")
		seq := h.request("c0", "s0", protocol.OpDelete, "k", "")
		h.deliver("c0", "s0")
		h.fire("s0", timerDistribute)
		h.hold("s0", "s1")
		h.stabilize()
		if r := h.reply("c0", seq); r != nil {
			t.Fatalf("the delete should not be acknowledged while s1 has not applied it: %+v", r)
		}
		h.promote("s0")
		h.releaseAll()
		h.stabilize()
		return readOutcome(t, h, "s1", "k")
	}, 4)
}

// Tombstones' versions: k=v1 is deleted (acknowledged by both copies); s0 crashes and s1, the new
// primary, answers the read. A tombstone with v1's own version is taken by s1 for v1 itself.
func TestMutantTombstoneOldVersion(t *testing.T) {
	runMutantSchedule(t, TombstoneOldVersion, notFound, foundV1, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		h.write("c0", "s0", protocol.OpPut, "k", "v1")
		h.write("c0", "s0", protocol.OpDelete, "k", "")
		h.promote("s0")
		return readOutcome(t, h, "s1", "k")
	}, 3)
}

// Redundancy recovery's choice: s1 crashes; the coordinator removes it and, in the same view,
// places the replacement copy. It must go to s2, the only live member without one; the mutant
// places it on s1, just removed, and the bucket stays below its redundancy.
func TestMutantRecoveryPicksDeparted(t *testing.T) {
	runMutantSchedule(t, RecoveryPicksDeparted, outcome{found: true}, outcome{}, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		h.write("c0", "s0", protocol.OpPut, "k", "v1")
		h.promote("s1")
		b := h.server("s2").buckets[0]
		return outcome{found: b != nil && b.initialized}
	}, 3)
}

// The lapse quarantine: s0, primary of bucket 0 and coordinator, is paused (it runs nothing and
// nothing reaches it) longer than failure detection; s1 takes over, is made primary and a write of
// v2 is acknowledged. s0 resumes before the view that removed it reaches it, and a client with a
// stale idea of the primary asks it for the key: a server that lapsed answers nothing, while one
// that ignores the lapse answers v1 from its stale copy. The read fence (reads.go) would stop that
// read too (s1 refuses s0's epoch), so the schedule runs without it (local-reads in both runs): the
// quarantine is the protection of a resumed primary that does not depend on reaching its holders.
func TestMutantIgnoreLapse(t *testing.T) {
	runMutantScheduleOver(t, NewMutants(LocalReads), IgnoreLapse, outcome{}, outcome{found: true, value: "v1"}, staleReadAtOldPrimary, 3)
}

// staleReadAtOldPrimary: s0, primary of bucket 0 with v1, hears nothing and is heard by nobody for
// longer than failure detection (its timers held too); s1 takes over, becomes primary and v2 is
// acknowledged. Then the cut lifts except for what s1 and s2 send s0 (the views removing s0 have
// not reached it), and a client with a stale idea of the primary asks s0 for the key.
func staleReadAtOldPrimary(t *testing.T, hf func() *harness) outcome {
	h := hf()
	h.write("c0", "s0", protocol.OpPut, "k", "v1")
	h.isolate("s0")
	h.holdTimer("s0", timerHeartbeat)
	h.holdTimer("s0", timerFinalCheck)
	h.advance(6 * h.cfg.FailureDetectionTimeout)
	h.stabilize()
	h.write("c0", "s1", protocol.OpPut, "k", "v2")
	h.releaseAll()
	h.hold("s1", "s0")
	h.hold("s2", "s0")
	return answered(h.get("c1", "s0", "k"))
}

// The read fence: in staleReadAtOldPrimary, s0 asks s1 whether it still accepts s0's epoch before
// answering; s1 refuses and the client is told to retry. The mutant answers v1 from s0's copy
// after v2 was acknowledged. The lapse quarantine would stop the read too (s0's timers stood still
// as a paused process's do), so the schedule runs without it (ignore-lapse in both runs): the fence
// is what stops a primary that was cut off without pausing, as by a partition.
func TestMutantLocalReads(t *testing.T) {
	runMutantScheduleOver(t, NewMutants(IgnoreLapse), LocalReads, outcome{}, outcome{found: true, value: "v1"}, staleReadAtOldPrimary, 3)
}

// The partition rule binds a member that takes over: s1, holder of bucket 0, is cut off from s0
// (primary, coordinator) and s2 for longer than failure detection. Taking over alone would lose 25
// of 35 weight: s1 shuts down instead. The mutant makes itself primary beside s0 (split brain).
func TestMutantTakeoverSkipsQuorum(t *testing.T) {
	for _, on := range []bool{false, true} {
		cfg := harnessConfig()
		cfg.Partition = DefaultPartitionConfig()
		if on {
			cfg.Mutants = NewMutants(TakeoverSkipsQuorum)
		}
		h := newHarness(t, cfg)
		h.write("c0", "s0", protocol.OpPut, "k", "v1")
		h.isolate("s1")
		h.advance(8 * cfg.FailureDetectionTimeout)
		s1 := h.server("s1")
		switch {
		case !on && (!s1.Stopped() || s1.IsPrimaryOfAny()):
			t.Fatalf("correct: s1 should have shut down for the partition rule:\n%s", h.describe())
		case on && (s1.Stopped() || !s1.IsPrimaryOfAny()):
			t.Fatalf("mutant: s1 should serve as a second primary:\n%s", h.describe())
		}
		if !h.server("s0").IsPrimaryOfAny() {
			t.Fatalf("on=%v: s0, on the side that keeps the weight, should still be primary:\n%s", on, h.describe())
		}
	}
}

// Connection loss: the connection s0 (primary of bucket 0, coordinator) to s1 (holder) breaks with
// s0's replicated put on it, lost. The store removes s1, the younger end, and the put is
// acknowledged without it; the mutant ignores the loss, and s0 waits for s1's acknowledgement of
// a message that no longer exists, so the put is never answered (in a sweep: a copy whose image
// chunk was lost never completes).
func TestMutantIgnoreConnectionLoss(t *testing.T) {
	for _, on := range []bool{false, true} {
		cfg := harnessConfig()
		if on {
			cfg.Mutants = NewMutants(IgnoreConnectionLoss)
		}
		h := newHarness(t, cfg)
		h.write("c0", "s0", protocol.OpPut, "k", "v1")
		seq := h.request("c0", "s0", protocol.OpPut, "k", "v2")
		h.deliver("c0", "s0")
		h.fire("s0", timerDistribute)
		lost := hchan{from: h.id("s0"), to: h.id("s1")}
		if len(h.channels[lost]) == 0 {
			t.Fatalf("s0's replicated put should be on its way to s1:\n%s", h.describe())
		}
		h.channels[lost] = nil // lost with the connection
		h.inject(protocol.External, "s1", &protocol.ConnectionLost{Peer: h.id("s0")})
		h.inject(protocol.External, "s0", &protocol.ConnectionLost{Peer: h.id("s1")})
		h.advance(3 * cfg.FailureDetectionTimeout)
		h.stabilize()
		r := h.reply("c0", seq)
		switch acked := r != nil && r.Status == replyOK; {
		case !on && !acked:
			t.Fatalf("the put should be acknowledged once s1 is removed: %+v\n%s", r, h.describe())
		case on && acked:
			t.Fatalf("with %s the put was acknowledged, though its replica to s1 was lost: %+v\n%s", IgnoreConnectionLoss, r, h.describe())
		}
	}
}
