package harness

import (
	"bytes"
	"testing"
)

// Mutation-score targets with the default scenario (issue "Chaos").
const (
	mutationSeedBudget      = 200
	mutationMedianTarget    = 20
	mutationShrunkOpsTarget = 30
	mutationShrinkTries     = 150
)

// TestMutationScore runs every mutant of the store over the default scenario until the checks catch
// it, shrinks the first counterexample, and prints the table. Every mutant must be caught within 200
// seeds, the median seeds to detection must be at most 20, and each shrunk counterexample must have
// at most 30 client operations.
func TestMutationScore(t *testing.T) {
	scn := mustScenario(t, DefaultScenario)
	scores, err := ScoreMutants(MutationConfig{Scenario: scn, Seeds: mutationSeedBudget, FirstSeed: 1,
		ShrinkTries: mutationShrinkTries, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := WriteScoreTable(&table, scores); err != nil {
		t.Fatal(err)
	}
	t.Logf("mutation score, scenario %s, budget %d seeds:\n%s", scn.Name, mutationSeedBudget, table.String())
	for _, s := range scores {
		switch {
		case !s.Caught:
			t.Errorf("mutant %s escaped %d seeds", s.Mutant, s.Seeds)
		case s.ShrunkOps > mutationShrunkOpsTarget:
			t.Errorf("mutant %s: shrunk counterexample has %d client operations, want at most %d", s.Mutant, s.ShrunkOps, mutationShrunkOpsTarget)
		}
	}
	if m := MedianSeedsToDetection(scores, mutationSeedBudget); m > mutationMedianTarget {
		t.Errorf("median seeds to detection %d, want at most %d", m, mutationMedianTarget)
	}
}
