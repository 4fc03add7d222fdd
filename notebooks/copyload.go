package notebooks

import (
	"fmt"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
)

// Copy under load, for experiments 1 and 2: the notebook cluster without faults under its steady
// write-heavy workload, and scripted rebalances that each create one new copy of one bucket at a
// known time.

// copyPlan is a copy-under-load run: which strategy creates copies, how many keys each bucket
// holds, and when each scripted copy starts.
type copyPlan struct {
	Strategy      kv.Strategy
	KeysPerBucket int
	// FirstCopyAt is when the first rebalance is requested; the others follow every CopySpacing.
	// Zero means once the key space is full (see fillTime).
	FirstCopyAt protocol.Time
	CopySpacing protocol.Duration
	// Copies is how many buckets get a new copy (one each, buckets 0, 1, ...).
	Copies int
	// Hops, when set, measures the network in hops (harness.Scenario.Hops); nil keeps the notebook
	// cluster's latency.
	Hops *harness.HopPlan
}

// scenario builds the run. Rebalance i moves bucket i to the first server after its initial
// holders (bucket b starts on servers b, b+1, ..., b+Redundancy-1), so every request is accepted
// and every copy is fed by a source other than the primary (the scenario prefers a non-primary
// source, the case the flush exists for).
func (cp copyPlan) scenario() (harness.Scenario, error) {
	scn := notebookCluster("copy-under-load", fmt.Sprintf("%d clients, write-heavy load over %d keys per bucket, %d scripted rebalances, no faults",
		notebookClients, cp.KeysPerBucket, cp.Copies))
	if cp.Copies < 1 || cp.Copies > scn.KV.Buckets {
		return harness.Scenario{}, fmt.Errorf("copy plan: Copies=%d, need 1..%d (one per bucket)", cp.Copies, scn.KV.Buckets)
	}
	if cp.KeysPerBucket < 1 {
		return harness.Scenario{}, fmt.Errorf("copy plan: KeysPerBucket=%d, need at least 1", cp.KeysPerBucket)
	}
	scn.KV.Strategy = cp.Strategy
	scn.Hops = cp.Hops
	scn.Workload.Keys = cp.KeysPerBucket * scn.KV.Buckets
	// Small chunks produced at 1 ms each make the copy last about KeysPerBucket/4 ms, long enough
	// to overlap many writes.
	scn.KV.ChunkEntries = 4
	scn.KV.ImageChunkDelay = protocol.Millisecond
	// A client waits out a write held for a whole copy (the blocking baseline) instead of giving up,
	// so its latency is measured rather than cut off.
	scn.KV.ClientOpTimeout = 2 * protocol.Second
	first := cp.FirstCopyAt
	if first == 0 {
		first = fillTime(cp.KeysPerBucket, scn.KV.Buckets)
	}
	for i := 0; i < cp.Copies; i++ {
		scn.Script = append(scn.Script, harness.Action{
			At:     first + protocol.Time(i)*protocol.Time(cp.CopySpacing),
			Kind:   harness.ActionRebalance,
			Node:   protocol.NodeID((i + scn.KV.Redundancy) % scn.KV.Servers),
			Bucket: i,
		})
	}
	workloadEnd := first + protocol.Time(cp.Copies+1)*protocol.Time(cp.CopySpacing)
	scn.Workload.OpsPerClient = opsFor(protocol.Duration(workloadEnd))
	scn.SafetyPhase = protocol.Duration(workloadEnd)
	return scn, nil
}

// fillTime is when a key space of keysPerBucket keys per bucket is about 95% written: every key
// then has been written with probability 1-e^-3, so a copy made later moves a full bucket.
func fillTime(keysPerBucket, buckets int) protocol.Time {
	writes := 3 * float64(keysPerBucket*buckets)
	seconds := writes / writeShare / (notebookClients * clientOpsPerSecond)
	return protocol.Time(seconds * float64(protocol.Second))
}

// copyRun is one copy-under-load run read back.
type copyRun struct {
	Plan      copyPlan
	Outcome   *harness.Outcome
	Creations []creation
}

// runCopyPlan runs a plan and checks that the run did what the plan says: every scripted copy
// completed, and clients were still running after the last one (so its window saw load).
func runCopyPlan(cp copyPlan, seed uint64) (copyRun, error) {
	scn, err := cp.scenario()
	if err != nil {
		return copyRun{}, err
	}
	o, err := harness.Run(scn, seed, harness.Options{})
	if err != nil {
		return copyRun{}, err
	}
	cs, err := completedCreations(o.Records)
	if err != nil {
		return copyRun{}, err
	}
	if len(cs) != cp.Copies {
		return copyRun{}, fmt.Errorf("copy-under-load (%s, %d keys per bucket, seed %d): %d copies completed, the script asked for %d",
			cp.Strategy, cp.KeysPerBucket, seed, len(cs), cp.Copies)
	}
	var lastCallUS int64
	for i := range o.History {
		lastCallUS = max(lastCallUS, o.History[i].CallUS)
	}
	for _, c := range cs {
		if c.InitializedUS > lastCallUS {
			return copyRun{}, fmt.Errorf("copy-under-load (%s, %d keys per bucket, seed %d): the workload ended at %v, before the copy of bucket %d completed at %v; raise clientOpsPerSecond's estimate",
				cp.Strategy, cp.KeysPerBucket, seed, protocol.Time(lastCallUS), c.Bucket, protocol.Time(c.InitializedUS))
		}
	}
	return copyRun{Plan: cp, Outcome: o, Creations: cs}, nil
}

// windowOps returns the completed, successful operations on a bucket invoked in [fromUS, toUS].
func (r copyRun) windowOps(bucket int, fromUS, toUS int64) []*linearizability.Operation {
	var ops []*linearizability.Operation
	buckets := r.Outcome.Drawn.KV.Buckets
	for i := range r.Outcome.History {
		op := &r.Outcome.History[i]
		if completed(op) && op.Status == linearizability.StatusOK && kv.BucketOf(op.Key, buckets) == bucket &&
			op.CallUS >= fromUS && op.CallUS <= toUS {
			ops = append(ops, op)
		}
	}
	return ops
}

// writesDuringCopy returns the completed writes on the copied bucket invoked while the copy was
// under way, from the announce to initialized.
func (r copyRun) writesDuringCopy(c creation) []*linearizability.Operation {
	var writes []*linearizability.Operation
	for _, op := range r.windowOps(c.Bucket, c.AnnounceSentUS, c.InitializedUS) {
		if op.Kind.IsWrite() {
			writes = append(writes, op)
		}
	}
	return writes
}
