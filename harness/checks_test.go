package harness

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/trace"
)

// Every check the harness runs can fail: each test here builds or runs a case where one must fire
// and asserts that it does. (The linearizability package's tests do the same for its checkers on
// hand-written histories; these cover the harness's own checks and its wiring.)

// firstSeedCaughtBy runs seeds of scn until one is caught by check, and fails after budget seeds.
func firstSeedCaughtBy(t *testing.T, scn Scenario, check string, budget int) *Outcome {
	t.Helper()
	for seed := uint64(1); seed <= uint64(budget); seed++ {
		o, err := Run(scn, seed, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(o.CaughtBy, check) {
			return o
		}
	}
	t.Fatalf("no seed of %d caught by %s", budget, check)
	return nil
}

func withMutant(t *testing.T, scn Scenario, name string) Scenario {
	t.Helper()
	m, err := kv.ParseMutant(name)
	if err != nil {
		t.Fatal(err)
	}
	scn.KV.Mutants = kv.NewMutants(m)
	return scn
}

// The online invariants fire on the mutants that break what they guard, at the step of the break.
func TestOnlineInvariantsCatchTheirMutants(t *testing.T) {
	base := mustScenario(t, "steady-monkey")
	for _, tc := range []struct{ mutant, check string }{
		{"skip-flush", FlushCheck},
		{"count-on-receipt", FlushCheck},
		{"no-wait-in-progress", CopyCompleteCheck},
		{"mitt-ignores-deletes", CopyCompleteCheck},
		{"wrong-version-order", MonotonicVersionCheck},
		{"image-overwrites-mitt", MonotonicVersionCheck},
		{"no-epoch-fence", FenceCheck},
		{"promote-uninitialized", UninitializedAnswerCheck},
		{"serve-uninitialized", UninitializedAnswerCheck},
		{"no-tombstones", CopyCompleteCheck},
	} {
		t.Run(tc.mutant, func(t *testing.T) {
			o := firstSeedCaughtBy(t, withMutant(t, base, tc.mutant), tc.check, 20)
			for _, v := range o.Violations {
				if string(v.Check) == tc.check && (!strings.HasPrefix(v.Message, "at step ") || len(v.TraceSeqs) == 0) {
					t.Fatalf("an online violation names its step and trace positions: %v", v)
				}
			}
		})
	}
}

// Each mutant of a safety mechanism other than the flush is caught, in the default scenario, by the
// end-to-end check that guards what the mechanism is for (the mutation table in the README lists
// every check that catches each, and how soon).
func TestMechanismMutantsCaughtByTheirChecks(t *testing.T) {
	base := mustScenario(t, DefaultScenario)
	for _, tc := range []struct {
		mutant string
		check  linearizability.CheckName
	}{
		{"ack-before-replicas", linearizability.AcknowledgedWriteCheck},
		{"no-dedupe-writes", linearizability.AtMostOnceCheck},
		{"no-dedupe-image", linearizability.ConvergenceCheck},
		{"no-dedupe-failover", linearizability.AtMostOnceCheck},
		{"merge-keeps-own", linearizability.AcknowledgedWriteCheck},
		{"serve-uninitialized", linearizability.LinearizabilityCheck},
		{"tombstone-old-version", linearizability.LinearizabilityCheck},
		{"recovery-picks-departed", linearizability.RedundancyCheck},
	} {
		t.Run(tc.mutant, func(t *testing.T) {
			firstSeedCaughtBy(t, withMutant(t, base, tc.mutant), string(tc.check), 30)
		})
	}
}

// liveWorld returns a run's world at its end, for feeding the online checker hand-made records
// about real servers.
func liveWorld(t *testing.T) (*kvWorld, *onlineChecker) {
	t.Helper()
	scn := mustScenario(t, "small")
	factory, err := kv.NewFactory(scn.KV, scn.Workload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sim.Config{Seed: 1, Nodes: nodeSpecs(scn, factory), Network: network(scn, sim.PRNGSource(1)("topology")),
		TimeBudget: scn.SafetyPhase + scn.QuiesceBudget, StepBudget: defaultSteps, Trace: sim.TraceEvents})
	if err != nil {
		t.Fatal(err)
	}
	s.RunUntil(protocol.Time(scn.SafetyPhase))
	world := &kvWorld{sim: s, cfg: scn.KV}
	return world, newOnlineChecker(world)
}

func event(seq uint64, node int32, name string, attrs ...string) *trace.Record {
	r := &trace.Record{Seq: seq, Kind: trace.KindEvent, Node: node, Name: name}
	for i := 0; i+1 < len(attrs); i += 2 {
		r.Attrs = append(r.Attrs, trace.Attr{Key: attrs[i], Value: attrs[i+1]})
	}
	return r
}

func checks(vs []linearizability.Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, string(v.Check))
	}
	return out
}

func TestOnePrimaryPerEpoch(t *testing.T) {
	_, c := liveWorld(t)
	c.Observe(*event(1, 0, protocol.EventPrimaryChange, "bucket", "0", "primary", "s0", "epoch", "7"), nil)
	c.Observe(*event(2, 0, protocol.EventPrimaryChange, "bucket", "0", "primary", "s0", "epoch", "8"), nil)
	if len(c.violations) != 0 {
		t.Fatalf("one primary per epoch: false alarm %v", c.violations)
	}
	c.Observe(*event(3, 1, protocol.EventPrimaryChange, "bucket", "0", "primary", "s1", "epoch", "8"), nil)
	if got := checks(c.violations); !slices.Equal(got, []string{OnePrimaryCheck}) || !strings.Contains(c.violations[0].Message, "two primaries in epoch 8") {
		t.Fatalf("want a one-primary violation, got %v", c.violations)
	}
}

func TestFalseLoss(t *testing.T) {
	world, c := liveWorld(t)
	holder := -1
	for id := 0; id < world.cfg.Servers && holder < 0; id++ {
		if srv := world.server(protocol.NodeID(id)); srv != nil && slices.Contains(srv.InitializedBuckets(), 0) {
			holder = id
		}
	}
	if holder < 0 {
		t.Fatal("no live server holds bucket 0")
	}
	c.Observe(*event(1, 0, protocol.EventDataLost, "bucket", "0"), nil)
	if got := checks(c.violations); !slices.Equal(got, []string{FalseLossCheck}) || !strings.Contains(c.violations[0].Message, kv.NodeName(world.cfg, protocol.NodeID(holder))) {
		t.Fatalf("bucket 0 declared lost while %d holds it: want a false-loss violation naming it, got %v", holder, c.violations)
	}
}

func TestUninitializedCopyNeverAnswers(t *testing.T) {
	world, c := liveWorld(t)
	for id := 0; id < world.cfg.Servers; id++ {
		srv := world.server(protocol.NodeID(id))
		for bucket := 0; bucket < world.cfg.Buckets; bucket++ {
			held, initialized := srv.CopyState(bucket)
			reply := &trace.Record{Seq: uint64(100*id + bucket + 1), Kind: trace.KindSend, Node: int32(id), Peer: int32(world.cfg.Servers)}
			before := len(c.violations)
			c.Observe(*reply, &kv.ClientReply{Read: true, Bucket: bucket})
			if fired := len(c.violations) > before; fired == initialized {
				t.Fatalf("server %d bucket %d (held %v, initialized %v) answered a read: violation %v", id, bucket, held, initialized, fired)
			}
		}
	}
	if len(c.violations) == 0 {
		t.Fatal("the small scenario should have servers without a copy of some bucket")
	}
}

func TestVersionsNeverGoBackwards(t *testing.T) {
	_, c := liveWorld(t)
	id := copyID{node: 0, inc: 0, bucket: 0}
	r := event(1, 0, "test")
	c.observeVersion(r, id, "k", kv.Version{Epoch: 1, Counter: 5})
	c.observeVersion(r, id, "k", kv.Version{Epoch: 2, Counter: 1})
	if len(c.violations) != 0 {
		t.Fatalf("newer versions: false alarm %v", c.violations)
	}
	c.observeVersion(event(2, 0, "test"), id, "k", kv.Version{Epoch: 1, Counter: 9})
	if got := checks(c.violations); !slices.Equal(got, []string{MonotonicVersionCheck}) {
		t.Fatalf("want a monotonic-versions violation, got %v", c.violations)
	}
}

// A copy that answers a final read otherwise than the primary is a violation, and the primary's
// answers join the history that porcupine judges.
func TestFinalReads(t *testing.T) {
	o := &Outcome{Drawn: mustScenario(t, "small")}
	h := linearizability.History{{Client: 5, Seq: 1, Kind: linearizability.OpPut, Key: "k1", Value: "c0-1;", Status: linearizability.StatusOK, CallUS: 0, ReturnUS: 10}}
	entries := func(v string) []linearizability.Entry {
		return []linearizability.Entry{{Key: "k1", Value: v, Version: "1.1@s0"}}
	}
	holdings := []linearizability.Holding{
		{Node: 0, NodeName: "s0", Bucket: 0, Primary: true, Initialized: true, Entries: entries("c0-1;")},
		{Node: 1, NodeName: "s1", Bucket: 0, Initialized: true, Entries: entries("stale")},
		{Node: 2, NodeName: "s2", Bucket: 0, Initialized: false, Entries: nil},
	}
	finals, vs := o.finalReads(h, holdings, func(string) int { return 0 })
	if len(finals) != 1 || finals[0].Output != "c0-1;" || !finals[0].Found || finals[0].CallUS <= h[0].ReturnUS {
		t.Fatalf("want one final read of k1 at the primary after every operation, got %+v", finals)
	}
	if len(vs) != 1 || vs[0].Check != FinalReadCheck || !strings.Contains(vs[0].Message, "s1") {
		t.Fatalf("want s1's stale answer reported (not the uninitialized s2's), got %v", vs)
	}
	// A primary that lost the acknowledged put: porcupine sees the final read.
	holdings[0].Entries = nil
	finals, _ = o.finalReads(h, holdings, func(string) int { return 0 })
	v, err := linearizability.CheckHistory(append(slices.Clone(h), finals...), time.Second)
	if err != nil || v.Result != linearizability.Illegal {
		t.Fatalf("a final read that misses an acknowledged put is not linearizable: %v %v", v, err)
	}
}

func TestMonitorAlarmsOnUnplannedLosses(t *testing.T) {
	records := []trace.Record{
		*event(1, 0, protocol.EventViewChange, "view", "t1.1", "members", "s0,s1,s2"),
		{Seq: 2, Kind: trace.KindCrash, Node: 2, Attrs: []trace.Attr{{Key: "by", Value: scriptLabel}}},
		*event(3, 0, protocol.EventViewChange, "view", "t1.2", "members", "s0,s1"),
	}
	if alarms := monitor(records, kv.DefaultConfig().FailureDetectionTimeout); len(alarms) != 0 {
		t.Fatalf("a scripted crash is planned: %v", alarms)
	}
	records = append(records, *event(4, 0, protocol.EventViewChange, "view", "t1.3", "members", "s0"))
	if alarms := monitor(records, kv.DefaultConfig().FailureDetectionTimeout); len(alarms) != 1 || alarms[0].Node != 1 {
		t.Fatalf("s1 left the view without a crash: want one alarm, got %v", alarms)
	}
	records = append(records, *event(5, 0, kv.EventForcedDisconnect, "view", "t1.3"), trace.Record{Seq: 6, Kind: trace.KindCrash, Node: 3})
	if alarms := monitor(records, kv.DefaultConfig().FailureDetectionTimeout); len(alarms) != 3 {
		t.Fatalf("a forced disconnect and an unlabelled crash alarm too: got %v", alarms)
	}
}

// Liveness, redundancy and data loss fire on runs that break them.
func TestLivenessRedundancyAndDataLossChecksFire(t *testing.T) {
	t.Run("liveness", func(t *testing.T) {
		scn := mustScenario(t, "steady-monkey")
		scn.QuiesceBudget = 1 * protocol.Millisecond // no time to heal
		o, err := Run(scn, 1, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(o.CaughtBy, LivenessCheck) {
			t.Fatalf("a run without time to quiesce must fail liveness: %v", o.CaughtBy)
		}
	})
	t.Run("data-loss and redundancy", func(t *testing.T) {
		scn := mustScenario(t, "beyond-redundancy")
		scn.ExpectDataLoss = false
		o := firstSeedCaughtBy(t, scn, DataLossCheck, 20)
		if o.Final != VerdictViolation {
			t.Fatalf("unexpected loss is a violation, got %s", o.Final)
		}
		// The same run's holdings without their copies break the redundancy target.
		vs, err := linearizability.CheckRedundancy(nil, linearizability.RedundancyTarget{BucketCount: 2, CopiesWanted: 2, LiveMembers: 3}, nil)
		if err != nil || len(vs) != 2 {
			t.Fatalf("no copies at all: want two redundancy violations, got %v %v", vs, err)
		}
	})
}

// panicSource is a random source whose streams panic after a number of draws, as protocol code
// that panics would, inside a step.
type panicSource struct {
	*sim.PRNG
	left *int
}

func (p panicSource) Intn(n int) int {
	if *p.left--; *p.left < 0 {
		panic("planted panic inside a step")
	}
	return p.PRNG.Intn(n)
}

// A panic in the run is the verdict crash, with its message and stack, the trace up to it, and
// every later check skipped; shrinking treats it as a failure like a violation.
func TestPanicIsACrashVerdict(t *testing.T) {
	draws := 50
	source := func(stream string) protocol.Rand {
		return panicSource{PRNG: sim.NewPRNG(sim.StreamSeed(3, stream)), left: &draws}
	}
	o, err := Run(mustScenario(t, "small"), 3, Options{Source: source})
	if err != nil {
		t.Fatal(err)
	}
	if o.Final != VerdictCrash || o.Crash == nil || !strings.Contains(o.Crash.Message, "planted panic") || !strings.Contains(o.Crash.Stack, "panicSource") {
		t.Fatalf("want verdict crash with the panic and its stack, got %s %+v", o.Final, o.Crash)
	}
	if len(o.Records) == 0 || !slices.Equal(o.CaughtBy, []string{CrashCheck}) || o.Result.End != EndCrash {
		t.Fatalf("the crash keeps the trace up to the panic: %d records, caught by %v, end %s", len(o.Records), o.CaughtBy, o.Result.End)
	}
}

// TestAWriteCutByACrashInsideItsStepIsSettledByFailover: in host-failures seed 7 the primary of
// bucket 3 crashes after sending write 23 to one of its three recipients; the copy being created
// never receives it while its image source applied it. The flush and copy-complete checks judge whom
// a write was sent to, so they leave a cut write out (the checks flagged this seed before they did);
// the failover merge settles where it went, and the convergence, acknowledged-write and
// linearizability checks judge that.
func TestAWriteCutByACrashInsideItsStepIsSettledByFailover(t *testing.T) {
	o, err := Run(mustScenario(t, "host-failures"), 7, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Result.Stats.SendsLostInCrash == 0 {
		t.Fatal("seed 7 no longer cuts a step's sends: pick another seed that does")
	}
	if o.Final != VerdictPass {
		t.Fatalf("verdict %s: %v", o.Final, o.Violations)
	}
}

// A primary claim that died unheard (its claimant crashed before anything it sent after the claim
// was delivered: a host crash lost the view announcing it) does not forbid the epoch to the next
// primary; one that was heard of does.
func TestOnePrimaryPerEpochForgivesOnlyAClaimThatDiedUnheard(t *testing.T) {
	for _, heard := range []bool{false, true} {
		world, c := liveWorld(t)
		c.Observe(*event(10, 1, protocol.EventPrimaryChange, "bucket", "0", "primary", "s1", "epoch", "9"), nil)
		if heard {
			c.Observe(trace.Record{Seq: 12, Kind: trace.KindDeliver, Node: 2, Peer: 1, Cause: 11}, nil)
		}
		if err := world.sim.Crash(1, "test"); err != nil {
			t.Fatal(err)
		}
		c.Observe(*event(13, 2, protocol.EventPrimaryChange, "bucket", "0", "primary", "s2", "epoch", "9"), nil)
		if got := checks(c.violations); heard != slices.Equal(got, []string{OnePrimaryCheck}) {
			t.Fatalf("heard=%v: violations %v", heard, c.violations)
		}
	}
}
