package notebooks

import (
	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
)

// The cluster of the experiments that measure the protocol (latency, availability, costs) rather
// than hunt bugs. It is spelled out here instead of borrowed from a built-in scenario, so that
// retuning the bug-hunting scenarios does not change these figures.

const (
	// notebookClients keep the servers busy: about 2,400 operations per virtual second in all.
	notebookClients = 8
	// clientOpsPerSecond is what one client of this cluster completes per virtual second (measured:
	// 1.1 ms mean think time plus about 2 ms per operation). It only sizes workloads so that they
	// last as long as an experiment needs; experiments check that they did.
	clientOpsPerSecond = 300
	// writeShare is the fraction of operations that write (puts, deletes and appends of notebookMix).
	writeShare = 0.7
)

// notebookMix is write-heavy so that key spaces fill quickly and a copy overlaps many writes.
var notebookMix = kv.OpMix{Get: 30, Put: 50, Delete: 5, Append: 15}

// notebookCluster is the store's default configuration (5 servers, 4 buckets, 8-entry image chunks,
// 20 µs distribution and 10 µs apply delays) with three copies per bucket and a non-primary image
// source (the case the flush exists for), 8 clients running the write-heavy mix over 400 keys, and
// exponential link latency (0.1 ms minimum, 0.5 ms mean, 5 ms cap). No faults; callers add them.
func notebookCluster(name, description string) harness.Scenario {
	cfg := kv.DefaultConfig()
	cfg.Redundancy = 3
	cfg.SourceChoice = kv.PreferNonPrimary
	cfg.Clients = notebookClients
	work := kv.DefaultWorkload()
	work.Keys = 400
	work.Mix = notebookMix
	return harness.Scenario{
		Name:          name,
		Description:   description,
		KV:            cfg,
		Workload:      work,
		Latency:       sim.Latency{Kind: sim.Exponential, Min: 100 * protocol.Microsecond, Mean: 500 * protocol.Microsecond, Max: 5 * protocol.Millisecond},
		SafetyPhase:   1500 * protocol.Millisecond,
		QuiesceBudget: 3 * protocol.Second,
	}
}

// opsFor is how many operations a client of the notebook cluster runs in the given virtual time.
func opsFor(d protocol.Duration) int {
	return int(clientOpsPerSecond * float64(d) / float64(protocol.Second))
}

// timeFor is how long a client of the notebook cluster takes to run the given operations.
func timeFor(opsPerClient int) protocol.Duration {
	return protocol.Duration(float64(opsPerClient) / clientOpsPerSecond * float64(protocol.Second))
}
