package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// exampleSeedCap bounds --seeds in the examples the test runs: the commands' code paths are the
// same with a few seeds, and the default run must stay fast.
const exampleSeedCap = 3

// helpExamples collects the EXAMPLES lines of the root help and of every subcommand's help.
func helpExamples(t *testing.T) []string {
	t.Helper()
	var lines []string
	helps := [][]string{{"--help"}}
	for _, c := range commands() {
		helps = append(helps, []string{c.name, "--help"})
	}
	for _, args := range helps {
		r := cli(t, args...)
		wantCode(t, r, exitPass, args...)
		_, section, ok := strings.Cut(r.stdout, "\nEXAMPLES\n")
		if !ok {
			t.Fatalf("stateflush %s: no EXAMPLES", strings.Join(args, " "))
		}
		section, _, _ = strings.Cut(section, "\n\n")
		for _, line := range strings.Split(strings.TrimRight(section, "\n"), "\n") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return lines
}

// exampleInvocation is one example as the test runs it.
type exampleInvocation struct {
	args       []string
	stdoutFile string // the file a `> FILE` redirection names, "" without one
}

// parseExample splits an example line into arguments as a shell would for the forms the help
// uses (a trailing comment, `> FILE`, a pipe into another program whose part is dropped), makes
// sizes small and moves absolute /tmp paths into dir.
func parseExample(t *testing.T, line, dir string) exampleInvocation {
	t.Helper()
	line, _, _ = strings.Cut(line, "#")
	line, _, _ = strings.Cut(line, "|")
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] != "stateflush" {
		t.Fatalf("example %q does not start with stateflush", line)
	}
	var inv exampleInvocation
	fields = fields[1:]
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		switch {
		case f == ">" && i+1 < len(fields):
			inv.stdoutFile = fields[i+1]
			i++
			continue
		case strings.HasPrefix(f, "/tmp/"):
			f = filepath.Join(dir, f)
		case i > 0 && fields[i-1] == "--seeds":
			// A shard runs every N-th seed: keep a few seeds in each shard.
			limit := exampleSeedCap
			switch {
			case slices.Contains(fields, "--shard"):
				limit = 8 * exampleSeedCap
			case fields[0] == "mutants": // every seed runs once per mutant
				limit = 1
			}
			if n, err := strconv.Atoi(f); err == nil && n > limit {
				f = strconv.Itoa(limit)
			}
		}
		inv.args = append(inv.args, f)
	}
	// The default job and the mutation score run many seeds and shrink by default.
	if len(inv.args) == 0 || strings.HasPrefix(inv.args[0], "-") || inv.args[0] == "mutants" {
		if !slices.Contains(inv.args, "--seeds") && !slices.Contains(inv.args, "--version") {
			seeds := exampleSeedCap
			if len(inv.args) > 0 && inv.args[0] == "mutants" {
				seeds = 1
			}
			inv.args = append(inv.args, "--seeds", strconv.Itoa(seeds))
		}
		if !slices.Contains(inv.args, "--shrink-tries") {
			inv.args = append(inv.args, "--shrink-tries", "2")
		}
	}
	return inv
}

// exampleInputs makes, in the example's working directory, the input files an example names:
// the report of a run that fails (the command an earlier example shows), a trace and history of
// a run, sweep shards, and the committed trace corpus.
func exampleInputs(t *testing.T, checkout string, args []string) {
	t.Helper()
	made := map[string]bool{}
	make := func(key string, args ...string) {
		if made[key] {
			return
		}
		made[key] = true
		r := cli(t, args...)
		if r.code == exitUsage || r.code == exitInternal {
			t.Fatalf("making the example's input: stateflush %s: %s", strings.Join(args, " "), r)
		}
	}
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "stateflush-out/steady-monkey-seed56-no-mitt"):
			make(a, "run", "--seed", "56", "--mutant", "no-mitt")
		case strings.HasPrefix(a, "shard-"):
			make("shards", "sweep", "--seeds", "4", "--shard", "0/2", "--out", "shard-0.jsonl", "--quiet")
			make("shards1", "sweep", "--seeds", "4", "--shard", "1/2", "--out", "shard-1.jsonl", "--quiet")
		case a == "trace.jsonl" || a == "history.json":
			make("run", "run", "--scenario", "small", "--seed", "1", "--out", ".")
		case strings.HasPrefix(a, "traces/"), strings.HasPrefix(a, "linearizability/"):
			// The committed trace corpus and the histories of other tools' formats.
			top, _, _ := strings.Cut(a, "/")
			if !made[top] {
				made[top] = true
				if err := os.Symlink(filepath.Join(checkout, top), top); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// expandGlobs expands the shell patterns of an example in the working directory.
func expandGlobs(t *testing.T, args []string) []string {
	t.Helper()
	var out []string
	for _, a := range args {
		if !strings.Contains(a, "*") {
			out = append(out, a)
			continue
		}
		matches, err := filepath.Glob(a)
		if err != nil || len(matches) == 0 {
			t.Fatalf("pattern %s matches no file", a)
		}
		out = append(out, matches...)
	}
	return out
}

// TestEveryHelpExampleRuns runs every EXAMPLES line of every --help in-process, each in a fresh
// directory holding the input files it names, with at most a few seeds: each must be accepted
// (no usage error, no internal error) and every file it reads must exist. The figures' examples
// regenerate whole experiments (minutes); they run with STATEFLUSH_EXAMPLES_PLOT=1, and otherwise
// only `plot --list` runs.
func TestEveryHelpExampleRuns(t *testing.T) {
	checkout, err := findCheckout()
	if err != nil {
		t.Fatal(err)
	}
	runPlots := os.Getenv("STATEFLUSH_EXAMPLES_PLOT") != ""
	for _, line := range helpExamples(t) {
		t.Run(line, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			inv := parseExample(t, line, dir)
			if len(inv.args) > 0 && inv.args[0] == "plot" && !slices.Contains(inv.args, "--list") && !runPlots {
				t.Skip("regenerates notebook experiments (minutes): set STATEFLUSH_EXAMPLES_PLOT=1 to run it")
			}
			exampleInputs(t, checkout, inv.args)
			args := expandGlobs(t, inv.args)
			if len(args) > 0 && slices.Contains([]string{"replay", "check", "merge", "convert"}, args[0]) {
				for _, a := range args[1:] {
					looksLikeFile := strings.Contains(a, "/") || strings.HasSuffix(a, ".json") || strings.HasSuffix(a, ".jsonl")
					isOutput := args[0] == "convert" && a == args[len(args)-1] && len(args) > 2 && !strings.HasPrefix(args[len(args)-2], "-")
					if !looksLikeFile || isOutput || strings.HasPrefix(a, "-") || strings.HasPrefix(a, filepath.Join(dir, "tmp")) || a == "sweep.jsonl" {
						continue
					}
					if _, err := os.Stat(a); err != nil {
						t.Fatalf("the example names %s, which does not exist (and the test knows no command making it)", a)
					}
				}
			}
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			if code == exitUsage || code == exitInternal {
				t.Fatalf("stateflush %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
			}
			if inv.stdoutFile != "" {
				if err := os.WriteFile(inv.stdoutFile, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
