package harness

import (
	"bytes"
	"flag"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stateflush/stateflush/internal/generated"
	"github.com/stateflush/stateflush/protocol/kv"
)

var updateReadme = flag.Bool("update", false, "rewrite the mutation table in the repository's README.md from this run")

// Mutation-score targets with the default scenario.
const (
	mutationSeedBudget = 200
	// mechanismSeedBudget bounds the search for the other mechanisms' mutants (the target:
	// every mutant caught within 1,000 seeds of some built-in scenario); each search stops at its
	// first detection.
	mechanismSeedBudget     = 1000
	mutationMedianTarget    = 5
	mutationShrunkOpsTarget = 30
	mutationShrinkTries     = 60
	// mutationSmallAtLeast is how many mutants must have a counterexample of at most 30 operations.
	// A drop below this is a regression.
	mutationSmallAtLeast = 11
	// mutationRateFloor is the detection rate (over the budget) every state flush mutant must
	// keep: the target of 50%. The online invariants see a copy that goes wrong at the step
	// where it does; what limits the rate is how often a seed's schedule sets the mutant's trap
	// (a source dying, or a write in flight, while a copy is made). Seeds that create no copy at all
	// can catch no flush mutant, and swarm testing keeps a copy-creating nemesis in most seeds for
	// that reason (keepCopyCreation). The mutants of the store's other mechanisms must be caught
	// within the budget; their search stops at the first detection, so they have no rate here.
	mutationRateFloor = 50
)

const (
	tableBegin = "<!-- mutation-table:begin (generated: go test ./harness -run TestMutationScore -update) -->"
	tableEnd   = "<!-- mutation-table:end -->"
)

// TestMutationScore runs every state flush mutant over every seed of the budget in the default
// scenario, and every other mechanism's mutant in its home scenario until its first detection,
// shrinks each first counterexample and checks the targets: every state flush mutant caught within
// 200 seeds, every other within 1,000, median seeds to
// detection at most 5, every state flush mutant's detection rate at least mutationRateFloor, every
// counterexample shrunk and at least mutationSmallAtLeast of at most 30 client operations. The
// table it produces must be the one in README.md (-update rewrites it).
func TestMutationScore(t *testing.T) {
	scn := mustScenario(t, DefaultScenario)
	// The flush mutants run every seed of the default scenario (their detection rates are a
	// target); the other mechanisms' mutants run in their home scenario and stop at their first
	// detection, which keeps the test's time to what the flush needs.
	type part struct {
		scenario string
		names    []string
		full     bool
	}
	parts := []part{{scenario: DefaultScenario, full: true}}
	for _, m := range kv.AllMutants() {
		if m.Mechanism() == kv.MechFlush {
			parts[0].names = append(parts[0].names, m.String())
			continue
		}
		home := HomeScenario(m)
		i := slices.IndexFunc(parts[1:], func(p part) bool { return p.scenario == home })
		if i < 0 {
			parts = append(parts, part{scenario: home})
			i = len(parts) - 2
		}
		parts[i+1].names = append(parts[i+1].names, m.String())
	}
	var scores []MutantScore
	for _, part := range parts {
		budget := mechanismSeedBudget
		if part.full {
			budget = mutationSeedBudget
		}
		s, err := ScoreMutants(MutationConfig{Scenario: mustScenario(t, part.scenario), Mutants: part.names, Seeds: budget, FirstSeed: 1, Full: part.full,
			ShrinkTries: mutationShrinkTries, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		scores = append(scores, s...)
	}
	var table bytes.Buffer
	if err := WriteScoreTable(&table, scores); err != nil {
		t.Fatal(err)
	}
	t.Logf("mutation score, flush mutants in scenario %s, budget %d seeds:\n%s", scn.Name, mutationSeedBudget, table.String())
	small := 0
	for _, s := range scores {
		switch {
		case !s.Caught:
			t.Errorf("mutant %s escaped %d seeds", s.Mutant, s.Seeds)
		case s.ShrunkOps >= s.OpsBefore:
			t.Errorf("mutant %s: counterexample did not shrink (%d client operations)", s.Mutant, s.ShrunkOps)
		case s.Full && 100*s.Detections < mutationRateFloor*s.Seeds:
			t.Errorf("mutant %s: detection rate %d/%d, below the floor %d%%", s.Mutant, s.Detections, s.Seeds, mutationRateFloor)
		}
		if s.Caught && s.ShrunkOps <= mutationShrunkOpsTarget {
			small++
		}
	}
	if small < mutationSmallAtLeast {
		t.Errorf("%d mutants have a counterexample of at most %d client operations, want at least %d", small, mutationShrunkOpsTarget, mutationSmallAtLeast)
	}
	if m := MedianSeedsToDetection(scores, mechanismSeedBudget); m > mutationMedianTarget {
		t.Errorf("median seeds to detection %d, want at most %d", m, mutationMedianTarget)
	}
	var md bytes.Buffer
	if err := WriteScoreMarkdown(&md, scores); err != nil {
		t.Fatal(err)
	}
	generated.Check(t, filepath.Join("..", "README.md"), tableBegin, tableEnd, md.String(), *updateReadme, "run with -update")
}
