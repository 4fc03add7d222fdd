package traces

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/internal/generated"
	"github.com/stateflush/stateflush/protocol/dlock"
)

var updateLocks = flag.Bool("update-locks", false, "regenerate the lock mutants' corpus entries: search, shrink and write one trace per lock mutant")

const (
	lockCorpusScenario = "lock-grantor-failover"
	lockCorpusBegin    = "<!-- lock-corpus-table:begin (generated: go test ./traces -run TestLockCorpusReplays -update-locks) -->"
	lockCorpusEnd      = "<!-- lock-corpus-table:end -->"
)

// lockEntries maps each lock mutant to its entry, lock-MUTANT.seedN.jsonl.
func lockEntries(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("lock-*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]string{}
	for _, f := range files {
		name, _, ok := strings.Cut(strings.TrimPrefix(f, "lock-"), ".seed")
		if _, err := dlock.ParseMutant(name); ok && err == nil {
			entries[name] = f
		}
	}
	return entries
}

// TestLockCorpusReplays replays every lock mutant's entry: the rerun reproduces the recorded hash
// and fails again, and the same run with the mutant switched off passes.
func TestLockCorpusReplays(t *testing.T) {
	if *updateLocks {
		regenerateLocks(t)
	}
	entries := lockEntries(t)
	var table strings.Builder
	table.WriteString("| lock mutant | entry | lock clients × locks | caught by |\n|---|---|---|---|\n")
	for _, m := range dlock.AllMutants() {
		file, ok := entries[m.String()]
		if !ok {
			t.Errorf("no corpus entry for lock mutant %s: run `go test ./traces/ -run TestLockCorpusReplays -update-locks`", m)
			continue
		}
		out, err := harness.Replay(file, harness.Options{})
		if err != nil {
			t.Fatalf("%v\nreplay: go run ./cmd/stateflush replay traces/%s", err, file)
		}
		if out.Final != harness.VerdictViolation {
			t.Errorf("%s no longer fails (verdict %s): the checks lost this lock mutant", file, out.Final)
			continue
		}
		fixed := out.Spec.Scenario
		fixed.KV.Locks.Mutants = 0
		clean, err := harness.Run(fixed, out.Spec.Seed, harness.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if clean.Final != harness.VerdictPass {
			t.Errorf("%s with the mutant switched off gives %s (%v): the correct service fails this schedule", file, clean.Final, clean.Violations)
		}
		l, w := out.Spec.Scenario.KV.Locks, out.Spec.Scenario.LockWorkload
		fmt.Fprintf(&table, "| %s | `%s` | %d × %d | %s |\n", m, file, l.Clients, w.OpsPerClient, strings.Join(out.CaughtBy, ", "))
	}
	if t.Failed() {
		return
	}
	generated.Check(t, "README.md", lockCorpusBegin, lockCorpusEnd, table.String(), *updateLocks || *updateReadme, "run with -update-readme")
}

// regenerateLocks finds each lock mutant's first failing seed of lock-grantor-failover, shrinks it
// (fewer lock clients, fewer locks, fewer nemeses, a shorter safety phase) and writes its full trace.
func regenerateLocks(t *testing.T) {
	correct, err := harness.LookupScenario(lockCorpusScenario)
	if err != nil {
		t.Fatal(err)
	}
	old := lockEntries(t)
	for _, m := range dlock.AllMutants() {
		scn := correct
		scn.KV.Locks.Mutants = dlock.NewMutants(m)
		var first *harness.Outcome
		for seed := uint64(1); seed <= corpusSeeds && first == nil; seed++ {
			o, err := harness.Run(scn, seed, harness.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if o.Final == harness.VerdictViolation {
				if base, err := harness.Run(correct, seed, harness.Options{}); err == nil && base.Final == harness.VerdictPass {
					first = o
				}
			}
		}
		if first == nil {
			t.Errorf("lock mutant %s not caught in %d seeds: no corpus entry", m, corpusSeeds)
			continue
		}
		// The entry must pass with the mutant switched off (the replay checks it): a shrunk run
		// that fails without it too is replaced by the unshrunk first detection.
		run := harness.Shrink(first, 200).Outcome.Spec.Scenario
		fixed := run
		fixed.KV.Locks.Mutants = 0
		if base, err := harness.Run(fixed, first.Spec.Seed, harness.Options{}); err != nil || base.Final != harness.VerdictPass {
			t.Logf("%s: the shrunk run fails without the mutant too; keeping the first detection", m)
			run = first.Spec.Scenario
		}
		full, err := harness.Run(run, first.Spec.Seed, harness.Options{FullTrace: true})
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := old[m.String()]; ok {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		path := fmt.Sprintf("lock-%s.seed%d.jsonl", m, full.Spec.Seed)
		if err := full.WriteTrace(path); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d lock operations, caught by %v -> %s", m, len(full.LockHistory), full.CaughtBy, path)
	}
}
