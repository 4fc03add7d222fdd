package traces

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol/kv"
)

var updateSplitBrain = flag.Bool("update-split-brain", false, "regenerate the split-brain corpus entry (split-brain.seedN.jsonl)")

// splitBrainSearchSeeds bounds the search for the split-brain entry's seed when regenerating.
const splitBrainSearchSeeds = 1000

// splitBrainScenario is the partitions scenario without the partition rule.
func splitBrainScenario(t *testing.T) harness.Scenario {
	t.Helper()
	scn, err := harness.LookupScenario("partitions")
	if err != nil {
		t.Fatal(err)
	}
	scn.KV.Partition.Rule = kv.NoQuorum
	return scn
}

// TestSplitBrainReplays replays the split-brain entry (README.md): with the partition rule "none",
// both sides of a long server partition serve, and an acknowledged write is lost; the rerun must
// reproduce the recorded hash and fail acknowledged-write, and the same seed with the weighted rule
// must pass every check.
func TestSplitBrainReplays(t *testing.T) {
	if *updateSplitBrain {
		regenerateSplitBrain(t)
	}
	files, err := filepath.Glob("split-brain.seed*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("want one split-brain.seedN.jsonl, have %v: run `go test ./traces/ -run TestSplitBrainReplays -update-split-brain`", files)
	}
	out, err := harness.Replay(files[0], harness.Options{})
	if err != nil {
		t.Fatalf("%v\nreplay: go run ./cmd/stateflush replay traces/%s", err, files[0])
	}
	if out.Spec.Scenario.KV.Partition.Rule != kv.NoQuorum {
		t.Fatalf("%s runs the partition rule %s, want none", files[0], out.Spec.Scenario.KV.Partition.Rule)
	}
	if !slices.Contains(out.CaughtBy, string(linearizability.AcknowledgedWriteCheck)) {
		t.Fatalf("%s no longer loses an acknowledged write (caught by %v)\nreplay: go run ./cmd/stateflush replay traces/%s", files[0], out.CaughtBy, files[0])
	}
	fixed := out.Spec.Scenario
	fixed.KV.Partition.Rule = kv.WeightedQuorum
	clean, err := harness.Run(fixed, out.Spec.Seed, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if clean.Final != harness.VerdictPass {
		t.Fatalf("%s with the weighted rule: %s, caught by %v: %v", files[0], clean.Final, clean.CaughtBy, clean.Violations)
	}
}

// regenerateSplitBrain takes the first seed of partitions without the rule that loses an
// acknowledged write and passes with the rule, and writes its full trace.
func regenerateSplitBrain(t *testing.T) {
	scn := splitBrainScenario(t)
	for seed := uint64(1); seed <= splitBrainSearchSeeds; seed++ {
		o, err := harness.Run(scn, seed, harness.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(o.CaughtBy, string(linearizability.AcknowledgedWriteCheck)) {
			continue
		}
		fixed := scn
		fixed.KV.Partition.Rule = kv.WeightedQuorum
		if clean, err := harness.Run(fixed, seed, harness.Options{}); err != nil || clean.Final != harness.VerdictPass {
			continue
		}
		old, _ := filepath.Glob("split-brain.seed*.jsonl")
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		full, err := harness.Run(scn, seed, harness.Options{FullTrace: true})
		if err != nil {
			t.Fatal(err)
		}
		path := fmt.Sprintf("split-brain.seed%d.jsonl", seed)
		if err := full.WriteTrace(path); err != nil {
			t.Fatal(err)
		}
		t.Logf("split brain: seed %d, caught by %v -> %s", seed, full.CaughtBy, path)
		return
	}
	t.Errorf("no seed of %d loses an acknowledged write without the partition rule and passes with it", splitBrainSearchSeeds)
}
