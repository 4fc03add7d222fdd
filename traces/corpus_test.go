package traces

import (
	"flag"
	"fmt"
	"github.com/stateflush/stateflush/internal/generated"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol/kv"
)

var (
	update = flag.Bool("update", false, "regenerate the mutant corpus: search, shrink and write one trace per mutant")
	// updateOnly limits -update to some mutants, so that adding a mutant does not rewrite (and
	// re-search) every other entry.
	updateOnly = flag.String("update-only", "", "with -update, regenerate only these mutants' entries (comma-separated names; default: every mutant)")
)

// corpusSeeds bounds the search for a mutant's first failure when regenerating.
const corpusSeeds = 1000

func mutantEntries(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]string{}
	for _, f := range files {
		name, _, ok := strings.Cut(f, ".seed")
		if ok && slices.Contains(kv.MutantNames(), name) {
			entries[name] = f
		}
	}
	return entries
}

// TestMutantCorpusReplays replays every mutant entry: the rerun must reproduce the recorded trace
// hash and fail again, and the same run with the mutant switched off must pass.
func TestMutantCorpusReplays(t *testing.T) {
	if *update {
		regenerate(t)
	}
	entries := mutantEntries(t)
	var mu sync.Mutex
	rows := map[string]string{}
	t.Run("replays", func(t *testing.T) {
		replayEntries(t, entries, func(name, row string) { mu.Lock(); rows[name] = row; mu.Unlock() })
	})
	if t.Failed() {
		return
	}
	var table strings.Builder
	table.WriteString("| mutant | entry | client ops | caught by |\n|---|---|---|---|\n")
	for _, name := range kv.MutantNames() {
		if row, ok := rows[name]; ok {
			table.WriteString(row)
		}
	}
	generated.Check(t, "README.md", corpusBegin, corpusEnd, table.String(), *update || *updateReadme, "run with -update-readme")
}

var updateReadme = flag.Bool("update-readme", false, "rewrite only the corpus table in README.md from the entries as they are")

const (
	corpusBegin = "<!-- corpus-table:begin (generated: go test ./traces -run TestMutantCorpusReplays -update-readme) -->"
	corpusEnd   = "<!-- corpus-table:end -->"
)

// replayEntries replays each mutant's entry in parallel subtests and reports its table row.
func replayEntries(t *testing.T, entries map[string]string, row func(name, row string)) {
	for _, name := range kv.MutantNames() {
		t.Run(name, func(t *testing.T) {
			file, ok := entries[name]
			if reason, unreachable := harness.UnreachableByRandomSchedules[name]; unreachable && !ok {
				t.Skipf("no random schedule of the default scenario reaches %s: %s", name, reason)
			}
			if !ok {
				t.Fatalf("no corpus entry for mutant %s: run `go test ./traces/ -update`", name)
			}
			t.Parallel()
			out, err := harness.Replay(file, harness.Options{})
			if err != nil {
				t.Fatalf("%v\nreplay: go run ./cmd/stateflush replay traces/%s", err, file)
			}
			if out.Final != harness.VerdictViolation {
				t.Fatalf("%s no longer fails (verdict %s): the checks lost this mutant\nreplay: go run ./cmd/stateflush replay traces/%s", file, out.Final, file)
			}
			fixed := out.Spec.Scenario
			fixed.KV.Mutants = 0
			clean, err := harness.Run(fixed, out.Spec.Seed, harness.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if clean.Final != harness.VerdictPass {
				t.Fatalf("%s with the mutant switched off gives %s (%v): the correct protocol fails this schedule\n%v",
					file, clean.Final, clean.CaughtBy, clean.Violations)
			}
			row(name, fmt.Sprintf("| %s | `%s` | %d | %s |\n", name, file, len(out.History), strings.Join(out.CaughtBy, ", ")))
		})
	}
}

// regenerate searches each mutant's (or each -update-only mutant's) first failing seed in its home
// scenario (harness.HomeScenario), shrinks it and writes its full trace as MUTANT.seedN.jsonl,
// replacing the mutant's old entry.
func regenerate(t *testing.T) {
	mutants := kv.AllMutants()
	if *updateOnly != "" {
		set, err := kv.ParseMutants(*updateOnly)
		if err != nil {
			t.Fatalf("-update-only: %v", err)
		}
		mutants = set.List()
	}
	var scenarios []string
	byScenario := map[string][]string{}
	for _, m := range mutants {
		home := harness.HomeScenario(m)
		if byScenario[home] == nil {
			scenarios = append(scenarios, home)
		}
		byScenario[home] = append(byScenario[home], m.String())
	}
	var scores []harness.MutantScore
	for _, name := range scenarios {
		scn, err := harness.LookupScenario(name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := harness.ScoreMutants(harness.MutationConfig{Scenario: scn, Mutants: byScenario[name], Seeds: corpusSeeds, FirstSeed: 1, ShrinkTries: 300, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		scores = append(scores, s...)
	}
	old := mutantEntries(t)
	for _, s := range scores {
		if _, unreachable := harness.UnreachableByRandomSchedules[s.Mutant]; !s.Caught && unreachable {
			continue
		}
		if !s.Caught {
			t.Errorf("mutant %s not caught in %d seeds: no corpus entry", s.Mutant, corpusSeeds)
			continue
		}
		if f, ok := old[s.Mutant]; ok {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		// The entry must pass with the mutant switched off (the replay checks it). A shrunk
		// counterexample can reach a schedule the correct protocol fails too; the entry is then
		// the unshrunk first detection, and the log says so.
		scn, seed := s.Shrunk.Spec.Scenario, s.Shrunk.Spec.Seed
		if !passesWithoutMutants(t, scn, seed) {
			home, err := harness.LookupScenario(s.Scenario)
			if err != nil {
				t.Fatal(err)
			}
			m, err := kv.ParseMutants(s.Mutant)
			if err != nil {
				t.Fatal(err)
			}
			home.KV.Mutants = m
			t.Logf("%s: the shrunk counterexample fails without the mutant too; keeping the first detection, seed %d", s.Mutant, s.FirstSeed)
			scn, seed = home, s.FirstSeed
		}
		full, err := harness.Run(scn, seed, harness.Options{FullTrace: true})
		if err != nil {
			t.Fatal(err)
		}
		path := fmt.Sprintf("%s.seed%d.jsonl", s.Mutant, full.Spec.Seed)
		if err := full.WriteTrace(path); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d client ops, caught by %v -> %s", s.Mutant, len(full.History), full.CaughtBy, path)
	}
}

// passesWithoutMutants reports whether the scenario passes every check at seed with its mutants
// switched off.
func passesWithoutMutants(t *testing.T, scn harness.Scenario, seed uint64) bool {
	t.Helper()
	scn.KV.Mutants = 0
	out, err := harness.Run(scn, seed, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return out.Final == harness.VerdictPass
}
