package kv_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/chaos"
)

// randomRun builds a cluster for one seed: random latencies (uniform, exponential or long-tailed, all
// well below the failure-detection timeout), crashes and restarts of servers while clients work, a
// rebalance now and then. It runs until quiescence.
// faultMix bounds the faults of a random run: up to MaxCrashes crashes (at least one when
// MaxCrashes > 0) and up to Rebalances rebalance requests.
type faultMix struct {
	MaxCrashes, Rebalances int
	// DelaySpikes slow one server-to-server link each for a while (below the failure-detection
	// timeout): writes then linger on their way to an image source.
	DelaySpikes int
	// DupProb is the probability that the network delivers a message twice.
	DupProb float64
	// ClientLossProb and ClientDupProb apply to the links between clients and servers only (server
	// channels are assumed reliable).
	ClientLossProb, ClientDupProb float64
}

var defaultFaults = faultMix{MaxCrashes: 3, Rebalances: 1}

func randomRun(t testing.TB, seed uint64, cfg testCluster, mode sim.TraceMode) (*cluster, sim.Result, string) {
	return randomRunWith(t, seed, cfg, defaultFaults, mode)
}

func randomRunWith(t testing.TB, seed uint64, cfg testCluster, mix faultMix, mode sim.TraceMode) (*cluster, sim.Result, string) {
	setup := newSeedStream(seed)
	lat := []sim.Latency{
		{Kind: sim.Uniform, Min: 50, Max: 800},
		{Kind: sim.Exponential, Min: 50, Mean: 400, Max: 5000},
		{Kind: sim.LongTail, Min: 50, Mean: 300, Max: 8000},
	}[setup.Intn(3)]
	if setup.Intn(2) == 1 {
		cfg.SourceChoice = kv.PreferNonPrimary
	}
	network := sim.Network{Default: sim.Link{Latency: lat, DupProb: mix.DupProb}, Links: map[sim.LinkKey]sim.Link{}}
	if mix.ClientLossProb > 0 || mix.ClientDupProb > 0 {
		lossy := sim.Link{Latency: lat, LossProb: mix.ClientLossProb, DupProb: mix.ClientDupProb}
		for server := 0; server < cfg.Servers; server++ {
			for client := cfg.Servers; client < cfg.Servers+cfg.Clients; client++ {
				network.Links[sim.LinkKey{From: protocol.NodeID(server), To: protocol.NodeID(client)}] = lossy
				network.Links[sim.LinkKey{From: protocol.NodeID(client), To: protocol.NodeID(server)}] = lossy
			}
		}
	}
	c := newCluster(t, seed, cfg, network, mode)
	faults := c.sim.Stream("faults")
	var plan []string
	lastFault := protocol.Time(0)
	crashes := 0
	if mix.MaxCrashes > 0 {
		crashes = 1 + faults.Intn(mix.MaxCrashes)
	}
	for i := 0; i < crashes; i++ {
		at := protocol.Time(5*protocol.Millisecond) + protocol.Time(faults.Intn(int(150*protocol.Millisecond)))
		victim := protocol.NodeID(faults.Intn(cfg.Servers))
		restartAfter := protocol.Time(30*protocol.Millisecond) + protocol.Time(faults.Intn(int(200*protocol.Millisecond)))
		restart := faults.Intn(10) < 7
		plan = append(plan, fmt.Sprintf("crash s%d at %v (restart=%v after %v)", victim, at, restart, protocol.Duration(restartAfter)))
		lastFault = max(lastFault, at+restartAfter)
		c.sim.At(at, "crash", func() {
			if !c.sim.Alive(victim) {
				return
			}
			if err := c.sim.Crash(victim, "test"); err != nil {
				t.Fatalf("crash: %v", err)
			}
			if restart {
				c.sim.At(at+restartAfter, "restart", func() {
					if !c.sim.Alive(victim) {
						_ = c.sim.Restart(victim)
					}
				})
			}
		})
	}
	for i := 0; i < mix.Rebalances; i++ {
		if mix.Rebalances == 1 && faults.Intn(3) != 0 {
			break // the default mix rebalances in a third of the runs
		}
		at := protocol.Time(faults.Intn(int(200 * protocol.Millisecond)))
		r := &kv.Rebalance{Bucket: faults.Intn(cfg.Buckets), Target: protocol.NodeID(faults.Intn(cfg.Servers))}
		to := protocol.NodeID(faults.Intn(cfg.Servers))
		plan = append(plan, fmt.Sprintf("rebalance bucket %d to s%d via s%d at %v", r.Bucket, r.Target, to, at))
		if err := c.sim.Inject(at, to, r); err != nil {
			t.Fatalf("inject: %v", err)
		}
	}
	for i := 0; i < mix.DelaySpikes; i++ {
		from := protocol.NodeID(faults.Intn(cfg.Servers))
		to := protocol.NodeID((int(from) + 1 + faults.Intn(cfg.Servers-1)) % cfg.Servers)
		at := protocol.Time(faults.Intn(int(200 * protocol.Millisecond)))
		length := protocol.Time(5*protocol.Millisecond) + protocol.Time(faults.Intn(int(30*protocol.Millisecond)))
		key := sim.LinkKey{From: from, To: to}
		slow := sim.Link{Latency: sim.Latency{Kind: sim.Uniform, Min: 2 * protocol.Millisecond, Max: 12 * protocol.Millisecond}, DupProb: mix.DupProb}
		plan = append(plan, fmt.Sprintf("slow s%d->s%d from %v for %v", from, to, at, protocol.Duration(length)))
		c.sim.At(at, "slow link", func() { _ = c.sim.SetLink(key, slow) })
		c.sim.At(at+length, "heal link", func() { _ = c.sim.ResetLink(key) })
		lastFault = max(lastFault, at+length)
	}
	// Heartbeats run on background timers, so a run can look quiescent right after a crash, before
	// anyone could notice it: let the failure detector see every fault first.
	c.sim.RunUntil(lastFault + protocol.Time(5*cfg.FailureDetectionTimeout))
	res := c.sim.Run()
	return c, res, fmt.Sprintf("seed %d latency %+v source %s: %s", seed, lat, cfg.SourceChoice, strings.Join(plan, "; "))
}

// newSeedStream is a small PRNG for the scenario's own choices (latency kind, source choice).
func newSeedStream(seed uint64) *seedStream { return &seedStream{state: seed*0x9e3779b97f4a7c15 + 1} }

type seedStream struct{ state uint64 }

func (r *seedStream) Intn(n int) int {
	r.state ^= r.state << 13
	r.state ^= r.state >> 7
	r.state ^= r.state << 17
	return int(r.state % uint64(n))
}

func randomConfig() testCluster {
	cfg := defaultCluster()
	cfg.Clients = 3
	cfg.ChunkEntries = 2
	cfg.Workload.OpsPerClient = 40
	cfg.Workload.Keys = 24
	cfg.Workload.ThinkTimeMax = 15 * protocol.Millisecond
	return cfg
}

// TestRandomCrashesConverge: over many seeds of a small store with random crashes and restarts
// and rebalances, every check of package harness passes (linearizability, at most once, final
// reads, convergence with event-id tables, acknowledged writes, redundancy, liveness, the online
// invariants). STATEFLUSH_LONG=1 runs 5000 seeds instead of 500.
func TestRandomCrashesConverge(t *testing.T) {
	seeds := 500
	if os.Getenv("STATEFLUSH_LONG") != "" {
		seeds = 5000
	}
	scn := storeScenario(t, "random-crashes", randomConfig(), harness.Nemeses{
		Monkey:           &chaos.Config{MeanTimeBetweenKills: 60 * protocol.Millisecond, MinGapBetweenKills: 20 * protocol.Millisecond, RestartAfter: 80 * protocol.Millisecond},
		RebalanceMeanGap: 150 * protocol.Millisecond,
	})
	requirePass(t, scn, seeds)
}

// TestSameSeedSameTrace: the store is deterministic: a seed replays to the same trace hash, in
// either trace mode (no map iteration order, clock or global randomness leaks into its behaviour).
func TestSameSeedSameTrace(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		_, full, _ := randomRun(t, seed, randomConfig(), sim.TraceFull)
		_, again, _ := randomRun(t, seed, randomConfig(), sim.TraceHashOnly)
		if full.Hash != again.Hash || full.Steps != again.Steps {
			t.Fatalf("seed %d: hash %x after %d steps, then %x after %d", seed, full.Hash, full.Steps, again.Hash, again.Steps)
		}
	}
	_, a, _ := randomRun(t, 1, randomConfig(), sim.TraceHashOnly)
	_, b, _ := randomRun(t, 2, randomConfig(), sim.TraceHashOnly)
	if a.Hash == b.Hash {
		t.Fatalf("seeds 1 and 2 gave the same hash %x", a.Hash)
	}
}
