package harness

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
)

// drawScenario draws a small cluster, workload and fault mix from rapid. Every draw is encoded so
// that its minimum is the boring choice (fewest members and operations, no fault), because rapid
// shrinks towards the minimum.
func drawScenario(t *rapid.T) Scenario {
	s, err := LookupScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	s.Name = "property"
	k := &s.KV
	k.Servers = rapid.IntRange(3, 5).Draw(t, "servers")
	k.Redundancy = rapid.IntRange(2, min(3, k.Servers)).Draw(t, "redundancy")
	k.Buckets = rapid.IntRange(1, 3).Draw(t, "buckets")
	k.Clients = rapid.IntRange(1, 3).Draw(t, "clients")
	s.Workload.OpsPerClient = rapid.IntRange(1, 25).Draw(t, "ops per client")
	s.Workload.Keys = rapid.IntRange(1, 10).Draw(t, "keys")
	k.SourceChoice = kv.SourceChoice(rapid.IntRange(0, 1).Draw(t, "source choice"))
	k.ChunkEntries = rapid.IntRange(1, 8).Draw(t, "chunk entries")
	s.SafetyPhase = protocol.Duration(rapid.IntRange(50, 400).Draw(t, "safety phase ms")) * protocol.Millisecond
	// The nemeses are drawn by the swarm from the same rapid stream (Swarm is on); the monkey is made
	// busier than in sweeps because property runs are short.
	s.Nemeses.Monkey.MeanTimeBetweenKills = 80 * protocol.Millisecond
	s.Nemeses.Monkey.MinGapBetweenKills = 30 * protocol.Millisecond
	return s
}

// TestPropertyCorrectProtocolPassesEveryCheck is the toolkit's main property: under any schedule
// (latencies, kills, client-link faults, workload) that rapid draws, the correct protocol's history
// is linearizable and every invariant holds. rapid draws every choice, so a failure shrinks to a
// short schedule and replays with the -rapid.seed it prints. Run many more schedules with
// -rapid.checks=5000 (or RAPID_CHECKS=5000).
func TestPropertyCorrectProtocolPassesEveryCheck(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		scn := drawScenario(rt)
		o, err := Run(scn, 0, Options{Source: sim.RapidSource(rt)})
		if err != nil {
			rt.Fatalf("run: %v", err)
		}
		if o.Final != VerdictPass {
			rt.Fatalf("verdict %s, caught by %v\n%s\n%v", o.Final, o.CaughtBy, o.Banner(), o.Violations)
		}
	})
}
