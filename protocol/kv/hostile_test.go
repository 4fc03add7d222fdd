package kv_test

import (
	"os"
	"testing"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/chaos"
)

// hostileConfig loads the cluster hard so that many writes land inside copies: eight clients with
// almost no think time, writes in progress and unapplied for longer, slower image streaming, and
// sources chosen prefer-non-primary (so the primary's writes to the source matter).
func hostileConfig() testCluster {
	cfg := randomConfig()
	cfg.Clients = 8
	cfg.Workload.OpsPerClient = 60
	cfg.Workload.ThinkTimeMin = 0
	cfg.Workload.ThinkTimeMax = 1 * protocol.Millisecond
	cfg.Workload.Keys = 200
	cfg.Workload.Mix = kv.OpMix{Get: 30, Put: 30, Delete: 15, Append: 25}
	cfg.DistributionDelay = 200 * protocol.Microsecond
	cfg.ApplyDelay = 100 * protocol.Microsecond
	cfg.ImageChunkDelay = 500 * protocol.Microsecond
	cfg.ChunkApplyDelay = 300 * protocol.Microsecond
	cfg.SourceChoice = kv.PreferNonPrimary
	return cfg
}

// hostileNemeses crash, rebalance and slow server links throughout the safety phase.
func hostileNemeses() harness.Nemeses {
	return harness.Nemeses{
		Monkey:            &chaos.Config{MeanTimeBetweenKills: 50 * protocol.Millisecond, MinGapBetweenKills: 20 * protocol.Millisecond, RestartAfter: 80 * protocol.Millisecond},
		RebalanceMeanGap:  60 * protocol.Millisecond,
		DelaySpikeMeanGap: 40 * protocol.Millisecond, DelaySpikeLatency: 8 * protocol.Millisecond, DelaySpikeMax: 30 * protocol.Millisecond,
	}
}

// hostileSeeds is 150, or 1500 with STATEFLUSH_LONG=1.
func hostileSeeds() int {
	if os.Getenv("STATEFLUSH_LONG") != "" {
		return 1500
	}
	return 150
}

// storeScenario is a harness scenario of the given store configuration and nemeses (drawn per seed
// by swarm testing), on the default scenario's network and phases.
func storeScenario(t *testing.T, name string, cfg testCluster, nemeses harness.Nemeses) harness.Scenario {
	t.Helper()
	scn, err := harness.LookupScenario("steady-monkey")
	if err != nil {
		t.Fatal(err)
	}
	scn.Name, scn.Description = name, "a protocol/kv test scenario"
	scn.KV, scn.Workload, scn.Nemeses = cfg.Config, cfg.Workload, nemeses
	scn.SafetyPhase = 400 * protocol.Millisecond
	if err := scn.Validate(); err != nil {
		t.Fatal(err)
	}
	return scn
}

// requirePass runs seeds 1..seeds of scn through every check of package harness. Anything but a pass
// fails the test: a violation, a crash, and an unknown verdict too (unknown is never a pass).
func requirePass(t *testing.T, scn harness.Scenario, seeds int) {
	t.Helper()
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		o, err := harness.Run(scn, seed, harness.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if o.Final != harness.VerdictPass {
			t.Fatalf("%s\nverdict %s (caught by %v):\n%v", o.Banner(), o.Final, o.CaughtBy, o.Violations)
		}
	}
}

// TestHostileSchedulesConverge: under heavy load, crashes, rebalances and slow links, both the
// state flush and the blocking baseline pass every check. STATEFLUSH_LONG=1 runs ten times the
// seeds (as do the two tests below).
func TestHostileSchedulesConverge(t *testing.T) {
	for _, strategy := range []kv.Strategy{kv.StateFlush, kv.Blocking} {
		cfg := hostileConfig()
		cfg.Strategy = strategy
		requirePass(t, storeScenario(t, "hostile-"+strategy.String(), cfg, hostileNemeses()), hostileSeeds())
	}
}

// TestDuplicatingNetworkConverges: a network that delivers some server messages twice does not
// break the store (replicated writes carry per-channel sequence numbers; every other handler is
// idempotent).
func TestDuplicatingNetworkConverges(t *testing.T) {
	n := hostileNemeses()
	n.ServerDupProb = 0.05
	requirePass(t, storeScenario(t, "hostile-duplicating", hostileConfig(), n), hostileSeeds())
}

// TestLossyClientLinksConverge: clients whose requests and replies are lost or duplicated retry
// with the same event id; writes are still applied at most once and the history stays linearizable.
func TestLossyClientLinksConverge(t *testing.T) {
	n := hostileNemeses()
	n.ClientLossProb, n.ClientDupProb = 0.05, 0.05
	requirePass(t, storeScenario(t, "hostile-lossy-clients", hostileConfig(), n), hostileSeeds())
}
