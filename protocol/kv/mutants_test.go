package kv

import (
	"errors"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

// Each mutant of the reference description gets the interleaving that description gives, delivered
// exactly by the scripted harness, once with the mutant off (the right outcome) and once on (the
// wrong one). Roles: P0 = s0 (primary and coordinator), S = s1 (the image source: sources are
// chosen prefer-non-primary), R = s2 (the new copy, created by a rebalance). "Promote R" crashes
// P0 and S so that R becomes primary, then reads through it.

// mutantHarness builds the cluster: bucket 0 on s0 (primary) and s1, or on s0, s1, s2 with four
// servers (then R = s3).
func mutantHarness(t *testing.T, m Mutant, on bool, servers int) *harness {
	return mutantHarnessOver(t, 0, m, on, servers)
}

// mutantHarnessOver is mutantHarness with the mutants of base switched on in both runs: for a
// mechanism that another one backs up, the schedule removes the backup to show what the mechanism
// alone prevents.
func mutantHarnessOver(t *testing.T, base Mutants, m Mutant, on bool, servers int) *harness {
	cfg := harnessConfig()
	cfg.Servers = servers
	cfg.Redundancy = servers - 1
	cfg.SourceChoice = PreferNonPrimary
	cfg.Mutants = base
	if on {
		cfg.Mutants = cfg.Mutants.With(m)
	}
	return newHarness(t, cfg)
}

// outcome is what a schedule observed at the end.
type outcome struct {
	found bool
	value string
}

func readOutcome(t *testing.T, h *harness, server, key string) outcome {
	t.Helper()
	r := h.get("c1", server, key)
	if r == nil || r.Status != replyOK {
		t.Fatalf("get %s at %s after promotion: no answer (reply %+v)\n%s", key, server, r, h.describe())
	}
	return outcome{found: r.Found, value: r.Value}
}

func runMutantSchedule(t *testing.T, m Mutant, right, wrong outcome, schedule func(t *testing.T, h func() *harness) outcome, servers int) {
	t.Helper()
	runMutantScheduleOver(t, 0, m, right, wrong, schedule, servers)
}

// runMutantScheduleOver is runMutantSchedule on mutantHarnessOver.
func runMutantScheduleOver(t *testing.T, base Mutants, m Mutant, right, wrong outcome, schedule func(t *testing.T, h func() *harness) outcome, servers int) {
	t.Helper()
	for _, on := range []bool{false, true} {
		h := mutantHarnessOver(t, base, m, on, servers)
		got := schedule(t, func() *harness { return h })
		want := right
		if on {
			want = wrong
		}
		if got != want {
			t.Errorf("%s on=%v: outcome %+v, want %+v\n%s", m, on, got, want, h.describe())
		}
	}
	if right == wrong {
		t.Fatalf("%s: the schedule cannot tell the mutant apart", m)
	}
}

// putInFlightToS: a client put at P0 is applied there and its replicated write is on the wire to S
// but not delivered (the channel P0 -> S is held).
func putInFlightToS(h *harness, key, value, source string) uint64 {
	seq := h.request("c0", "s0", protocol.OpPut, key, value)
	h.deliver("c0", "s0")
	h.fire("s0", timerDistribute)
	h.hold("s0", source)
	return seq
}

func mustBeAcked(t *testing.T, h *harness, seq uint64) {
	t.Helper()
	if r := h.reply("c0", seq); r == nil || r.Status != replyOK {
		t.Fatalf("put seq %d not acknowledged: %+v\n%s", seq, r, h.describe())
	}
}

var (
	foundV1  = outcome{found: true, value: "v1"}
	foundV2  = outcome{found: true, value: "v2"}
	notFound = outcome{}
)

// lostPreAnnounceWrite is the schedule of skip-flush and observer-early: a pre-announce write
// P0 -> S is still in flight while R copies.
func lostPreAnnounceWrite(t *testing.T, hf func() *harness) outcome {
	h := hf()
	seq := putInFlightToS(h, "k", "v1", "s1")
	h.rebalance(0, "s2")
	h.stabilize() // the copy runs as far as it can without the write reaching S
	h.releaseAll()
	h.stabilize()
	mustBeAcked(t, h, seq)
	h.promote("s0", "s1")
	return readOutcome(t, h, "s2", "k")
}

func TestMutantSkipFlush(t *testing.T) {
	runMutantSchedule(t, SkipFlush, foundV1, notFound, lostPreAnnounceWrite, 3)
}

func TestMutantObserverEarly(t *testing.T) {
	runMutantSchedule(t, ObserverEarly, foundV1, notFound, lostPreAnnounceWrite, 3)
}

// P0 has chosen the recipients {S} of a write but not put it on the wire when R's announce arrives.
func TestMutantNoWaitInProgress(t *testing.T) {
	runMutantSchedule(t, NoWaitInProgress, foundV1, notFound, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		seq := h.request("c0", "s0", protocol.OpPut, "k", "v1")
		h.deliver("c0", "s0")
		h.holdTimer("s0", timerDistribute)
		h.rebalance(0, "s2")
		h.stabilize()
		h.releaseAll()
		h.stabilize()
		mustBeAcked(t, h, seq)
		h.promote("s0", "s1")
		return readOutcome(t, h, "s2", "k")
	}, 3)
}

// S has received P0's write but not applied it (its apply step is held) when P0's flush record
// arrives.
func TestMutantCountOnReceipt(t *testing.T) {
	runMutantSchedule(t, CountOnReceipt, foundV1, notFound, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		seq := h.request("c0", "s0", protocol.OpPut, "k", "v1")
		h.deliver("c0", "s0")
		h.fire("s0", timerDistribute)
		h.deliver("s0", "s1")
		h.holdTimer("s1", timerApply)
		h.rebalance(0, "s2")
		h.stabilize()
		h.releaseAll()
		h.stabilize()
		mustBeAcked(t, h, seq)
		h.promote("s0", "s1")
		return readOutcome(t, h, "s2", "k")
	}, 3)
}

// Four servers: bucket 0 on s0 (P0), s1 (S1) and s2 (S2); R = s3. P0's write reached S1 but is
// still in flight to S2. S1 dies after the flush completed; R retries from S2.
func TestMutantFlushNotBoundToSource(t *testing.T) {
	runMutantSchedule(t, FlushNotBoundToSource, foundV1, notFound, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		seq := h.request("c0", "s0", protocol.OpPut, "k", "v1")
		h.deliver("c0", "s0")
		h.fire("s0", timerDistribute)
		h.hold("s0", "s2")
		h.rebalance(0, "s3")
		h.until("s3", protocol.EventFlushComplete)
		if src := h.server("s3").buckets[0].creation.source; src.ID != 1 {
			t.Fatalf("first source is %s, want s1", src)
		}
		h.crash("s1")
		h.advance(3 * h.cfg.FailureDetectionTimeout) // s1 leaves the view; R retries from s2
		h.stabilize()
		h.releaseAll()
		h.stabilize()
		mustBeAcked(t, h, seq)
		h.promote("s0", "s2")
		return readOutcome(t, h, "s3", "k")
	}, 4)
}

// S scans k (absent) before R's profile is installed at P0; P0 then writes k with recipients {S}.
func TestMutantLateAnnounce(t *testing.T) {
	runMutantSchedule(t, LateAnnounce, foundV1, notFound, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		h.rebalance(0, "s2")
		h.until("s2", protocol.EventFlushComplete)
		h.hold("s2", "s0") // with the mutant, R's announce to P0 is still to come
		h.until("s1", protocol.EventImageChunkSent)
		seq := h.request("c0", "s0", protocol.OpPut, "k", "v1")
		h.stabilize()
		h.releaseAll()
		h.stabilize()
		mustBeAcked(t, h, seq)
		h.promote("s0", "s1")
		return readOutcome(t, h, "s2", "k")
	}, 3)
}

// copyWithChunkInFlight: k=v1 is everywhere; R's copy is under way and S's chunk with k=v1 is in
// flight to R (channel S -> R held) when the client's second write to k reaches R directly.
func copyWithChunkInFlight(t *testing.T, h *harness, op, value string) {
	h.write("c0", "s0", protocol.OpPut, "k", "v1")
	h.rebalance(0, "s2")
	h.until("s1", protocol.EventImageChunkSent)
	h.hold("s1", "s2")
	h.write("c0", "s0", op, "k", value)
	h.releaseAll()
	h.stabilize()
	h.promote("s0", "s1")
}

func TestMutantNoMitt(t *testing.T) {
	runMutantSchedule(t, NoMitt, foundV2, foundV1, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		copyWithChunkInFlight(t, h, protocol.OpPut, "v2")
		return readOutcome(t, h, "s2", "k")
	}, 3)
}

func TestMutantImageOverwritesMitt(t *testing.T) {
	runMutantSchedule(t, ImageOverwritesMitt, foundV2, foundV1, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		copyWithChunkInFlight(t, h, protocol.OpPut, "v2")
		return readOutcome(t, h, "s2", "k")
	}, 3)
}

func TestMutantMittIgnoresDeletes(t *testing.T) {
	runMutantSchedule(t, MittIgnoresDeletes, notFound, foundV1, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		copyWithChunkInFlight(t, h, protocol.OpDelete, "")
		return readOutcome(t, h, "s2", "k")
	}, 3)
}

func TestMutantWrongVersionOrder(t *testing.T) {
	runMutantSchedule(t, WrongVersionOrder, notFound, foundV1, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		copyWithChunkInFlight(t, h, protocol.OpDelete, "")
		return readOutcome(t, h, "s2", "k")
	}, 3)
}

// Both chunks (k1, k2) have reached R, none is applied yet (R's apply step is held); a get that any
// initialized copy may answer goes to R.
func TestMutantPrematureCompletion(t *testing.T) {
	runMutantSchedule(t, PrematureCompletion, outcome{found: true, value: "redirected"}, notFound, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		h.write("c0", "s0", protocol.OpPut, "k1", "v1")
		h.write("c0", "s0", protocol.OpPut, "k2", "v2")
		h.holdTimer("s2", timerChunkApply)
		h.rebalance(0, "s2")
		h.stabilize()
		if q := len(h.server("s2").buckets[0].imageQueue); q != 2 {
			t.Fatalf("R holds %d unapplied chunks, want 2\n%s", q, h.describe())
		}
		r := h.getAnyCopy("c1", "s2", "k1")
		h.releaseAll()
		h.stabilize()
		if got := readOutcome(t, h, "s0", "k1"); got != foundV1 {
			t.Fatalf("primary lost k1: %+v", got)
		}
		switch {
		case r == nil:
			t.Fatalf("no reply to the read at R")
		case r.Status == replyRedirect:
			return outcome{found: true, value: "redirected"}
		case r.Status != replyOK:
			t.Fatalf("read at R: %+v", r)
		}
		return outcome{found: r.Found, value: r.Value}
	}, 3)
}

// S dies after R applied the first of two chunks (k1); the second (k2) is never sent.
func TestMutantPartialImageAccepted(t *testing.T) {
	runMutantSchedule(t, PartialImageAccepted, outcome{found: true, value: "v2"}, notFound, func(t *testing.T, hf func() *harness) outcome {
		h := hf()
		h.write("c0", "s0", protocol.OpPut, "k1", "v1")
		h.write("c0", "s0", protocol.OpPut, "k2", "v2")
		h.holdTimer("s1", timerImageChunk)
		h.rebalance(0, "s2")
		h.until("s2", protocol.EventImageChunkApplied)
		h.crash("s1")
		h.releaseAll()
		h.advance(3 * h.cfg.FailureDetectionTimeout)
		h.stabilize()
		h.promote("s0")
		return readOutcome(t, h, "s2", "k2")
	}, 3)
}

// Every mutant has a test (above, and in mechanism_mutants_test.go), the twelve state flush mutants
// come first with the names of the reference, and every other mutant names its mechanism.
func TestMutantNamesAndParse(t *testing.T) {
	want := []string{"skip-flush", "no-wait-in-progress", "observer-early", "count-on-receipt",
		"flush-not-bound-to-source", "late-announce", "no-mitt", "image-overwrites-mitt",
		"mitt-ignores-deletes", "premature-completion", "wrong-version-order", "partial-image-accepted",
		"ack-before-replicas", "no-dedupe-writes", "no-dedupe-image", "no-dedupe-failover", "no-epoch-fence",
		"merge-keeps-own", "promote-uninitialized", "serve-uninitialized", "no-tombstones",
		"tombstone-old-version", "recovery-picks-departed", "ignore-lapse", "takeover-skips-quorum", "local-reads",
		"ignore-connection-loss"}
	if got := MutantNames(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("MutantNames() = %v, want %v", got, want)
	}
	for i, name := range want {
		m, err := ParseMutant(name)
		if err != nil || int(m) != i+1 || m.String() != name {
			t.Errorf("ParseMutant(%q) = %v, %v", name, m, err)
		}
	}
	if _, err := ParseMutant("skip-flsh"); !errors.Is(err, ErrUnknownMutant) || !strings.Contains(err.Error(), "skip-flsh") {
		t.Errorf("ParseMutant of an unknown name: %v, want ErrUnknownMutant naming it", err)
	}
	for i, m := range AllMutants() {
		if flush := i < 12; flush != (m.Mechanism() == MechFlush) {
			t.Errorf("%s: mechanism %q", m, m.Mechanism())
		}
	}
	set, err := ParseMutants("no-mitt, late-announce")
	if err != nil || !set.Has(NoMitt) || !set.Has(LateAnnounce) || set.Len() != 2 || set.String() != "late-announce,no-mitt" {
		t.Errorf("ParseMutants: %v %v (%s)", set, err, set)
	}
}

// The Naive baseline copies without the flush: on the reference interleaving of skip-flush it loses
// the acknowledged write as well.
func TestNaiveStrategyLosesPreAnnounceWrite(t *testing.T) {
	for _, strategy := range []Strategy{StateFlush, Naive} {
		cfg := harnessConfig()
		cfg.SourceChoice = PreferNonPrimary
		cfg.Strategy = strategy
		h := newHarness(t, cfg)
		got := lostPreAnnounceWrite(t, func() *harness { return h })
		want := foundV1
		if strategy == Naive {
			want = notFound
		}
		if got != want {
			t.Errorf("%s: %+v, want %+v", strategy, got, want)
		}
	}
}

// A copy that cannot complete (P0's record stays behind a write that never reaches S) warns with
// copy-waiting, again and again, and never proceeds unflushed.
func TestStuckCopyWarnsAndKeepsWaiting(t *testing.T) {
	h := mutantHarness(t, 0, false, 3)
	putInFlightToS(h, "k", "v1", "s1")
	h.rebalance(0, "s2")
	h.stabilize()
	h.advance(3 * h.cfg.CopyWarnAfter)
	warnings := h.eventsNamed(EventCopyWaiting)
	if len(warnings) < 2 {
		t.Fatalf("%d copy-waiting warnings after %v, want at least 2", len(warnings), 3*h.cfg.CopyWarnAfter)
	}
	if w := warnings[0]; w.get("phase") != "flushing" || w.get("waiting") != "s0" {
		t.Errorf("warning %v: want phase flushing, waiting for s0", w.attrs)
	}
	if c := h.server("s2").buckets[0].creation; c == nil || c.phase != phaseFlushing {
		t.Fatalf("the copy moved on without its flush:\n%s", h.describe())
	}
	h.releaseAll()
	h.stabilize()
	if len(h.eventsNamed(protocol.EventInitialized)) != 1 || h.entriesOf("s2", 0) != `[k="v1"@1.1@s0]` {
		t.Fatalf("after the write reached S the copy should complete with it:\n%s", h.describe())
	}
}
