package kv_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
)

// hostileConfig loads the cluster hard so that many writes land inside copies: eight clients with
// almost no think time, writes in progress and unapplied for longer, slower image streaming, and
// sources chosen prefer-non-primary (so the primary's writes to the source matter).
func hostileConfig() kv.Config {
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

var hostileFaults = faultMix{MaxCrashes: 3, Rebalances: 3, DelaySpikes: 4}

// hostileSeeds is 150, or 1500 with STATEFLUSH_LONG=1.
func hostileSeeds() uint64 {
	if os.Getenv("STATEFLUSH_LONG") != "" {
		return 1500
	}
	return 150
}

// runProblems runs one seed and lists everything wrong with it.
func runProblems(t *testing.T, seed uint64, cfg kv.Config, mix faultMix) (problems []string, desc string) {
	c, res, desc := randomRunWith(t, seed, cfg, mix, sim.TraceHashOnly)
	if res.End != sim.EndQuiescent {
		problems = append(problems, fmt.Sprintf("run ended with %s at %v, want quiescent", res.End, res.Now))
	}
	problems = append(problems, c.checkQuiescentState()...)
	if v, _, _ := c.checkLinearizable(); v == porcupine.Illegal {
		problems = append(problems, "client history is not linearizable")
	}
	return problems, desc
}

// TestHostileSchedulesConverge: under heavy load, crashes, rebalances and slow links, both the
// state flush and the blocking baseline keep every holder identical, restore redundancy and stay
// linearizable. STATEFLUSH_LONG=1 runs ten times the seeds (as do the two tests below).
func TestHostileSchedulesConverge(t *testing.T) {
	for _, strategy := range []kv.Strategy{kv.StateFlush, kv.Blocking} {
		for seed := uint64(1); seed <= hostileSeeds(); seed++ {
			cfg := hostileConfig()
			cfg.Strategy = strategy
			if problems, desc := runProblems(t, seed, cfg, hostileFaults); len(problems) > 0 {
				t.Fatalf("%s, %s:\n%v", strategy, desc, problems)
			}
		}
	}
}

// TestDuplicatingNetworkConverges: a network that delivers some messages twice does not break the
// store (replicated writes carry per-channel sequence numbers; every other handler is idempotent).
func TestDuplicatingNetworkConverges(t *testing.T) {
	mix := hostileFaults
	mix.DupProb = 0.05
	for seed := uint64(1); seed <= hostileSeeds(); seed++ {
		if problems, desc := runProblems(t, seed, hostileConfig(), mix); len(problems) > 0 {
			t.Fatalf("%s:\n%v", desc, problems)
		}
	}
}

// TestLossyClientLinksConverge: clients whose requests and replies are lost or duplicated retry
// with the same event id; writes are still applied at most once and the history stays linearizable.
func TestLossyClientLinksConverge(t *testing.T) {
	mix := hostileFaults
	mix.ClientLossProb, mix.ClientDupProb = 0.05, 0.05
	for seed := uint64(1); seed <= hostileSeeds(); seed++ {
		if problems, desc := runProblems(t, seed, hostileConfig(), mix); len(problems) > 0 {
			t.Fatalf("%s:\n%v", desc, problems)
		}
	}
}

// TestMutantDetectionRates (STATEFLUSH_MUTANT_RATES=1) runs the hostile schedules with each mutant
// switched on and logs how often the convergence and linearizability checks catch it. Random
// schedules catch the mitt mutants often and the flush mutants rarely (their windows are narrow);
// the scripted TestMutant* tests hit every one deterministically. The run fails if the correct
// protocol shows any problem.
func TestMutantDetectionRates(t *testing.T) {
	if os.Getenv("STATEFLUSH_MUTANT_RATES") == "" {
		t.Skip("set STATEFLUSH_MUTANT_RATES=1 to measure")
	}
	const seeds = 200
	for _, m := range append([]kv.Mutant{0}, kv.AllMutants()...) {
		caught := 0
		for seed := uint64(1); seed <= seeds; seed++ {
			cfg := hostileConfig()
			if m != 0 {
				cfg.Mutants = kv.NewMutants(m)
			}
			problems, desc := runProblems(t, seed, cfg, hostileFaults)
			if len(problems) > 0 {
				caught++
				if m == 0 {
					t.Errorf("correct protocol, %s: %v", desc, problems)
				}
			}
		}
		name := "(none)"
		if m != 0 {
			name = m.String()
		}
		t.Logf("%-26s caught in %3d of %d seeds", name, caught, seeds)
	}
}
