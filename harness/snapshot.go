package harness

import (
	"fmt"
	"slices"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/trace"
)

// Snapshots in scenarios.
//
// A scenario with Snapshots.MeanGap > 0 asks a random live server, now and then during the safety
// phase, to take a Chandy–Lamport snapshot of the store (kv.StartSnapshot, see protocol/kv's
// snapshot.go): its own stream ("nemesis/snapshots") draws the gaps and the initiators, so snapshots
// leave every other choice of the seed in place. Such runs keep the full trace, because the
// consistent-cut check reads the sends and deliveries. The checks add:
//
//   - consistent-cut: every completed snapshot is read back from the trace and checked with
//     linearizability.CheckCut (the cut is closed under happens-before, and each channel recorded
//     exactly the messages sent inside the cut and delivered outside it);
//   - linearizability: a successful snapshot is an operation of the history (client = its
//     initiator), so CheckHistory checks the whole history with the whole-store model;
//   - liveness: no snapshot may still be running, nor any write held for one, when the run ends,
//     and every snapshot whose initiator is alive at the end has returned.
//
// With Scenario.Reorder the network lets messages overtake each other on every link, which breaks
// the FIFO assumption of the marker algorithm (and of the state flush): the consistent-cut check is
// expected to catch it.

// SnapshotPlan is a scenario's snapshot workload. The zero value takes no snapshots.
type SnapshotPlan struct {
	// MeanGap, when > 0, is the mean of the exponentially distributed gaps between snapshot
	// requests during the safety phase.
	MeanGap protocol.Duration `json:"mean_gap_us"`
	// Variant is how snapshots are taken: plain (the marker algorithm alone: a consistent cut, not
	// necessarily linearizable) or flush (writes drained and held: linearizable).
	Variant kv.SnapshotVariant `json:"variant"`
	// Mutant switches on a bug of the snapshot algorithm (kv.SnapshotMutantNames).
	Mutant kv.SnapshotMutant `json:"mutant,omitempty"`
}

// Enabled reports whether the plan takes snapshots.
func (p SnapshotPlan) Enabled() bool { return p.MeanGap > 0 }

func (p SnapshotPlan) validate(scenario string) error {
	if p.MeanGap < 0 {
		return fmt.Errorf("scenario %s: Snapshots.MeanGap=%d µs is negative", scenario, p.MeanGap)
	}
	if _, err := p.Variant.MarshalText(); err != nil {
		return fmt.Errorf("scenario %s: Snapshots.Variant: %w", scenario, err)
	}
	if _, err := p.Mutant.MarshalText(); err != nil {
		return fmt.Errorf("scenario %s: Snapshots.Mutant: %w", scenario, err)
	}
	return nil
}

// describe renders the plan in one line ("" when it takes no snapshots).
func (p SnapshotPlan) describe() string {
	if !p.Enabled() {
		return ""
	}
	s := fmt.Sprintf("%s snapshots every %dms on average", p.Variant, p.MeanGap/protocol.Millisecond)
	if p.Mutant != kv.NoSnapshotMutant {
		s += ", snapshot mutant " + p.Mutant.String()
	}
	return s
}

// armSnapshots schedules the scenario's snapshot requests: each goes to a live server that is in a
// view, chosen at random, and names the snapshot "snap-N" (N counts the requests of the run, so IDs
// are unique).
func (n *nemesis) armSnapshots() {
	plan := n.scn.Snapshots
	if !plan.Enabled() {
		return
	}
	count := 0
	n.every("nemesis/snapshots", plan.MeanGap, func(r protocol.Rand) protocol.Duration {
		var candidates []protocol.NodeID
		for id := 0; id < n.scn.KV.Servers; id++ {
			if srv := n.world.server(protocol.NodeID(id)); srv != nil && srv.Joined() {
				candidates = append(candidates, protocol.NodeID(id))
			}
		}
		if len(candidates) == 0 {
			return 0
		}
		to := candidates[r.Intn(len(candidates))]
		count++
		m := &kv.StartSnapshot{ID: fmt.Sprintf("snap-%d", count), Variant: plan.Variant, Mutant: plan.Mutant}
		if err := n.sim.Inject(n.sim.Now(), to, m); err != nil {
			panic(fmt.Sprintf("harness: injecting a snapshot request: %v", err))
		}
		return 0
	})
}

// checkSnapshots runs the snapshot checks of a run that takes snapshots: the consistent-cut check
// of every completed snapshot, and the snapshots' liveness.
func (o *Outcome) checkSnapshots(world *kvWorld) []linearizability.Violation {
	if !o.Drawn.Snapshots.Enabled() {
		return nil
	}
	var out []linearizability.Violation
	// The store's snapshots are consistent cuts of the servers' own causality: clients are its
	// environment (a client that reads at a member after its cut and then writes at a member
	// before its cut makes a causal path the protocol does not close; linearizability judges
	// what such a path can break). Paths through servers outside the snapshot are followed.
	var clients []int32
	for c := o.Drawn.KV.Servers; c < o.Drawn.KV.Servers+o.Drawn.KV.Clients; c++ {
		clients = append(clients, int32(c))
	}
	cuts, err := linearizability.CheckCuts(o.Records, nil, clients)
	if err != nil {
		out = append(out, linearizability.Violation{Check: linearizability.ConsistentCutCheck, Bucket: linearizability.NoBucket, Message: err.Error()})
	}
	for _, cut := range cuts {
		out = append(out, cut.Violations...)
	}
	liveness := func(format string, args ...any) {
		out = append(out, linearizability.Violation{Check: LivenessCheck, Bucket: linearizability.NoBucket, Message: fmt.Sprintf(format, args...)})
	}
	cfg := o.Drawn.KV
	for id := 0; id < cfg.Servers; id++ {
		srv := world.server(protocol.NodeID(id))
		if srv == nil || srv.Stopped() {
			continue
		}
		if active := srv.ActiveSnapshots(); len(active) > 0 {
			liveness("%s still takes part in snapshots %v at the end of the run", kv.NodeName(cfg, protocol.NodeID(id)), active)
		}
		if held := srv.HeldSnapshotWrites(); held > 0 {
			liveness("%s still holds %d client writes for snapshots at the end of the run", kv.NodeName(cfg, protocol.NodeID(id)), held)
		}
	}
	// A snapshot operation without a return is legitimate only if its initiator crashed after
	// invoking it.
	for _, op := range o.History {
		if op.Kind != linearizability.OpSnapshot || op.ReturnSeq != 0 {
			continue
		}
		crashed := slices.ContainsFunc(o.Records, func(r trace.Record) bool {
			return r.Kind == trace.KindCrash && r.Node == op.Client && r.Seq > op.InvokeSeq
		})
		if !crashed {
			liveness("snapshot operation %d of %s never returned although its initiator did not crash", op.Seq, kv.NodeName(cfg, protocol.NodeID(op.Client)))
		}
	}
	return out
}

// SnapshotStats summarises a run's snapshots from its trace.
type SnapshotStats struct {
	Requested, Completed, Aborted int
}

// SnapshotStatsOf counts the snapshots requested (op-invoke of op snapshot), completed
// (snapshot-complete) and aborted (snapshot-aborted) in a trace.
func SnapshotStatsOf(records []trace.Record) SnapshotStats {
	var st SnapshotStats
	for i := range records {
		r := &records[i]
		if r.Kind != trace.KindEvent {
			continue
		}
		switch r.Name {
		case protocol.EventOpInvoke:
			if op, _ := r.Get("op"); op == protocol.OpSnapshot {
				st.Requested++
			}
		case protocol.EventSnapshotComplete:
			st.Completed++
		case protocol.EventSnapshotAborted:
			st.Aborted++
		}
	}
	return st
}

// WriteLatenciesDuringSnapshots returns, sorted, the latencies (virtual µs) of the successful client
// writes (put, delete, append) invoked while some snapshot operation was in progress (between its
// invocation and its return, or the end of the run when it never returned).
func WriteLatenciesDuringSnapshots(h linearizability.History) []int64 {
	type span struct{ from, to int64 }
	var spans []span
	for _, op := range h {
		if op.Kind == linearizability.OpSnapshot {
			spans = append(spans, span{op.CallUS, op.ReturnUS})
		}
	}
	var out []int64
	for _, op := range h {
		if !op.Kind.IsWrite() || op.Status != linearizability.StatusOK {
			continue
		}
		if slices.ContainsFunc(spans, func(s span) bool { return op.CallUS >= s.from && op.CallUS <= s.to }) {
			out = append(out, op.ReturnUS-op.CallUS)
		}
	}
	slices.Sort(out)
	return out
}

// snapshotsScenario is the built-in scenario "snapshots": a small store under a steady write load,
// with a snapshot requested every 10 ms on average. It is small on purpose: a history with snapshots
// is checked by the whole-store model, whose cost grows exponentially with concurrency. The default
// variant is flush (linearizable); Snapshots.Variant = kv.SnapshotPlain shows that a plain
// Chandy–Lamport snapshot need not be a linearizable point (see traces/README.md).
func snapshotsScenario() Scenario {
	s := base()
	s.Name = "snapshots"
	s.Description = "3 servers, 3 clients, 2 buckets, 60 ops over 4 keys, a flush snapshot every 10ms on average from a random server; no faults"
	s.KV.Servers, s.KV.Clients, s.KV.Buckets, s.KV.Redundancy = 3, 3, 2, 2
	s.KV.SourceChoice = kv.PreferPrimary
	s.Workload.OpsPerClient = 20
	s.Workload.Keys = 4
	s.Workload.Mix = kv.OpMix{Get: 20, Put: 40, Delete: 5, Append: 35}
	s.KV.DistributionDelay = 100 * protocol.Microsecond
	s.KV.ApplyDelay = 50 * protocol.Microsecond
	s.SafetyPhase = 150 * protocol.Millisecond
	s.QuiesceBudget = 1 * protocol.Second
	s.Snapshots = SnapshotPlan{MeanGap: 10 * protocol.Millisecond, Variant: kv.SnapshotFlush}
	return s
}
