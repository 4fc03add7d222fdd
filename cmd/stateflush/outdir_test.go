package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnwritableOutputIsExit2BeforeAnyRun gives run, replay, mutants and the default job an --out
// that is a file or lies under a file: each must refuse at once with exit 2, naming the path,
// and print nothing on stdout (no banner, no tally: no simulation ran).
func TestUnwritableOutputIsExit2BeforeAnyRun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(dir, "trace.jsonl")
	if err := os.WriteFile(trace, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	under := filepath.Join(file, "sub", "dir")
	for _, out := range []string{file, under} {
		for _, args := range [][]string{
			{"run", "--scenario", "small", "--seed", "1", "--out", out},
			{"replay", trace, "--out", out},
			{"mutants", "--scenario", "small", "--mutant", "no-mitt", "--seeds", "2", "--out", out},
			{"--scenario", "small", "--seeds", "2", "--out", out, "--quiet"},
		} {
			r := cli(t, args...)
			wantCode(t, r, exitUsage, args...)
			if r.stdout != "" {
				t.Errorf("stateflush %s: work was done before the output check:\n%s", strings.Join(args, " "), r)
			}
			if !strings.Contains(r.stderr, "--out "+out) || !strings.Contains(r.stderr, "not a directory") {
				t.Errorf("stateflush %s: the error does not name the path and the problem:\n%s", strings.Join(args, " "), r)
			}
		}
	}
}

func TestCheckOutputDirAcceptsNewAndExistingDirectories(t *testing.T) {
	dir := t.TempDir()
	for _, out := range []string{dir, filepath.Join(dir, "new", "nested")} {
		if err := checkOutputDir("--out", out); err != nil {
			t.Errorf("checkOutputDir(%s): %v", out, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("the check left files or created directories: %v %v", entries, err)
	}
}
