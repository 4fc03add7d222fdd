package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/harness"
)

// sweepArgs sweeps the small scenario with the known mutant over a range that holds its known
// failing seed, so that the output has violations as well as passes.
func sweepArgs(k knownFailure, extra ...string) []string {
	first := seedsBefore(k.failingSeed, 10)
	return append([]string{"sweep", "--scenario", "small", "--mutant", k.mutant, "--first-seed", fmt.Sprint(first), "--seeds", "30", "--quiet"}, extra...)
}

func TestSweepOutputIsTheSameForAnyWorkerCount(t *testing.T) {
	k := findKnownFailure(t)
	one := cli(t, sweepArgs(k, "--json", "--workers", "1")...)
	two := cli(t, sweepArgs(k, "--json", "--workers", "2")...)
	wantCode(t, one, exitViolation, sweepArgs(k, "--workers", "1")...)
	wantCode(t, two, exitViolation, sweepArgs(k, "--workers", "2")...)
	if one.stdout != two.stdout {
		t.Fatalf("sweep output differs between 1 and 2 workers:\n%s\n---\n%s", one.stdout, two.stdout)
	}
	results, err := harness.ReadSweep(strings.NewReader(one.stdout), "sweep")
	if err != nil {
		t.Fatal(err)
	}
	if len(results.Lines) != 30 {
		t.Fatalf("sweep of 30 seeds wrote %d lines", len(results.Lines))
	}
	for i := 1; i < len(results.Lines); i++ {
		if results.Lines[i].Seed != results.Lines[i-1].Seed+1 {
			t.Fatalf("sweep results out of seed order: %d after %d", results.Lines[i].Seed, results.Lines[i-1].Seed)
		}
	}
	// With --json the summary goes to stderr and names the failing seed with its replay command.
	for _, want := range []string{"30 seeds: ", fmt.Sprintf("seed %d: violation", k.failingSeed), "replay: go run ./cmd/stateflush run --scenario small --seed"} {
		if !strings.Contains(one.stderr, want) {
			t.Errorf("sweep summary lacks %q:\n%s", want, one.stderr)
		}
	}
}

func TestShardsMergeToTheFullSweep(t *testing.T) {
	k := findKnownFailure(t)
	dir := t.TempDir()
	full := cli(t, sweepArgs(k, "--json")...)
	wantCode(t, full, exitViolation)
	var shardFiles []string
	for i := range 2 {
		path := filepath.Join(dir, fmt.Sprintf("shard-%d.jsonl", i))
		r := cli(t, sweepArgs(k, "--shard", fmt.Sprintf("%d/2", i), "--out", path)...)
		if r.code != exitPass && r.code != exitViolation {
			t.Fatalf("shard %d/2: %s", i, r)
		}
		if !strings.Contains(r.stdout, fmt.Sprintf("shard %d/2 (15 seeds)", i)) || !strings.Contains(r.stdout, "results: "+path) {
			t.Errorf("shard %d/2 summary does not describe the shard:\n%s", i, r.stdout)
		}
		shardFiles = append(shardFiles, path)
	}
	// The order of the inputs does not matter.
	merged := cli(t, "merge", "--json", shardFiles[1], shardFiles[0])
	wantCode(t, merged, exitViolation, "merge")
	if merged.stdout != full.stdout {
		t.Fatalf("merged shards differ from the full sweep:\n%s\n---\n%s", merged.stdout, full.stdout)
	}
	mergedFile := filepath.Join(dir, "merged.jsonl")
	wantCode(t, cli(t, "merge", "--out", mergedFile, shardFiles[0], shardFiles[1]), exitViolation)
	if b, err := os.ReadFile(mergedFile); err != nil || string(b) != full.stdout {
		t.Fatalf("merge --out wrote something else than the full sweep (%v)", err)
	}

	// One shard alone is incomplete: an error naming the missing seeds, unless --allow-missing.
	first := seedsBefore(k.failingSeed, 10)
	alone := cli(t, "merge", shardFiles[0])
	wantCode(t, alone, exitUsage, "merge", "one shard")
	if want := fmt.Sprintf("15 of the 30 seeds of %d..%d are in no input: %d, %d,", first, first+29, first+1, first+3); !strings.Contains(alone.stderr, want) {
		t.Errorf("merge of one shard does not name the missing seeds (%q):\n%s", want, alone)
	}
	alone = cli(t, "merge", "--allow-missing", "--json", shardFiles[0])
	if alone.code != exitPass && alone.code != exitViolation || !strings.Contains(alone.stderr, "incomplete: 15 of the 30 seeds") || len(readLines(t, alone.stdout)) != 15 {
		t.Errorf("merge --allow-missing of one shard:\n%s", alone)
	}
	// The same shard twice overlaps.
	r := cli(t, "merge", shardFiles[0], shardFiles[0])
	wantCode(t, r, exitUsage, "merge", "twice")
	if !strings.Contains(r.stderr, "overlapping shards") {
		t.Errorf("merge of overlapping shards: %s", r)
	}
	// A sweep of another mutant does not mix in.
	other := filepath.Join(dir, "other.jsonl")
	cli(t, "sweep", "--scenario", "small", "--seeds", "2", "--first-seed", "1000", "--out", other, "--quiet")
	r = cli(t, "merge", shardFiles[0], other)
	wantCode(t, r, exitUsage, "merge", "mixed")
	if !strings.Contains(r.stderr, "are not shards of one sweep: spec digest") {
		t.Errorf("merge of different runs: %s", r)
	}
}

func TestSweepSingleSeedAndTextSummary(t *testing.T) {
	k := findKnownFailure(t)
	r := cli(t, "sweep", "--scenario", "small", "--mutant", k.mutant, "--seed", fmt.Sprint(k.failingSeed), "--quiet")
	wantCode(t, r, exitViolation, "sweep", "--seed")
	lines := readLines(t, r.stdout)
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "sweep: scenario small") || !strings.Contains(r.stdout, "1 seeds: 0 pass, 1 violation, 0 unknown") {
		t.Errorf("sweep --seed summary:\n%s", r)
	}
	if strings.Contains(r.stdout, `{"seed"`) {
		t.Errorf("sweep without --json or --out printed JSON lines:\n%s", r.stdout)
	}
	r = cli(t, "sweep", "--scenario", "small", "--seed", fmt.Sprint(k.passSeed), "--quiet")
	wantCode(t, r, exitPass, "sweep", "--seed", "pass")
}
