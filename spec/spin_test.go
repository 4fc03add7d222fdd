package spec

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the results table in README.md from this run")

// trailDir is where counterexample trails are kept after the test's temporary directories are gone.
func trailDir() string {
	if dir := os.Getenv("STATEFLUSH_SPIN_TRAILS"); dir != "" {
		return dir
	}
	return filepath.Join(os.TempDir(), "stateflush-spin-trails")
}

// requireTools returns spin and gcc, or skips the test (fails it under STATEFLUSH_REQUIRE_SPIN=1).
func requireTools(t *testing.T) Tools {
	t.Helper()
	tools, err := FindTools()
	if err != nil {
		if os.Getenv("STATEFLUSH_REQUIRE_SPIN") == "1" {
			t.Fatalf("%v (STATEFLUSH_REQUIRE_SPIN=1)", err)
		}
		t.Skipf("%v; set STATEFLUSH_REQUIRE_SPIN=1 to make this a failure", err)
	}
	return tools
}

// TestSpin verifies every check: correct models must hold, mutants and witnesses must be violated
// with a trail that replays. With -update it rewrites the results table in README.md; without, it
// requires the table to list exactly the checks that ran.
func TestSpin(t *testing.T) {
	tools := requireTools(t)
	long := os.Getenv("STATEFLUSH_LONG") == "1"
	checks := Checks(long)
	results := make([]Result, len(checks))
	ctx := context.Background()
	start := time.Now()

	t.Run("check", func(t *testing.T) {
		for i, c := range checks {
			t.Run(c.Name, func(t *testing.T) {
				t.Parallel()
				res, err := Run(ctx, tools, c, t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				results[i] = res
				replay := res.ReplayCommand
				if res.Trail != "" {
					kept, err := KeepTrail(res, trailDir())
					if err != nil {
						t.Errorf("keeping the trail: %v", err)
					} else {
						replay = kept
					}
				}
				if err := res.Verdict(); err != nil {
					if res.Trail != "" {
						t.Errorf("%v\nthe trail is kept; replay with: %s", err, replay)
					} else {
						t.Error(err)
					}
					return
				}
				t.Logf("%s: errors %d, %d states, depth %d, %.1f MB, %.2fs (wall %s)", c.Expect, res.Stats.Errors,
					res.Stats.StatesStored, res.Stats.DepthReached, res.Stats.MemoryMB, res.Stats.ElapsedS,
					res.Wall.Round(time.Millisecond))
				if res.Trail != "" {
					t.Logf("counterexample (%s), replay with: %s", res.Stats.Violation, replay)
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	t.Logf("%d checks in %s", len(checks), time.Since(start).Round(time.Millisecond))

	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		doc, err := ReplaceTable(string(readme), RenderTable(results))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("README.md", []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	rows, err := TableRows(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	// The table comes from a default or a STATEFLUSH_LONG=1 run; either way it must list the checks.
	if !slices.Equal(rows, checkNames(Checks(false))) && !slices.Equal(rows, checkNames(Checks(true))) {
		t.Errorf("README.md results table lists %v, the checks are %v: run go test ./spec/ -run TestSpin -update",
			rows, checkNames(checks))
	}
}

func checkNames(checks []Check) []string {
	names := make([]string, len(checks))
	for i, c := range checks {
		names[i] = c.Name
	}
	return names
}

func TestChecksAreWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Checks(true) {
		if seen[c.Name] {
			t.Errorf("check name %q used twice", c.Name)
		}
		seen[c.Name] = true
		if _, err := models.ReadFile(c.Model); err != nil {
			t.Errorf("check %s: model %q not embedded", c.Name, c.Model)
		}
		source, _ := models.ReadFile(c.Model)
		for _, d := range c.Defines {
			name, _, _ := strings.Cut(d, "=")
			if !strings.Contains(string(source), name) {
				t.Errorf("check %s: switch %s does not occur in %s", c.Name, name, c.Model)
			}
		}
	}
}

func TestFindToolsNamesTheInstallCommand(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := FindTools()
	if !errors.Is(err, ErrToolMissing) {
		t.Fatalf("FindTools with an empty PATH: got %v, want ErrToolMissing", err)
	}
	if !strings.Contains(err.Error(), "apt-get install -y spin") {
		t.Errorf("error %q does not say how to install spin", err)
	}
}

const panHolds = `
(Spin Version 6.5.2 -- 6 December 2019)
	+ Partial Order Reduction

Full statespace search for:
	never claim         	- (none specified)
	assertion violations	+
	cycle checks       	- (disabled by -DSAFETY)
	invalid end states	+

State-vector 120 byte, depth reached 64, errors: 0
   859667 states, stored
   517861 states, matched
  1377528 transitions (= stored+matched)
   280667 atomic steps
hash conflicts:      5488 (resolved)

Stats on memory usage (in Megabytes):
  121.337	equivalent memory usage for states (stored*(State-vector + overhead))
   85.591	actual memory usage for states (compression: 70.54%)
         	state-vector as stored = 76 byte + 28 byte overhead
  128.000	memory used for hash table (-w24)
    0.534	memory used for DFS stack (-m10000)
  213.983	total actual memory usage

pan: elapsed time 0.58 seconds
pan: rate 1482184.5 states/second
`

const panViolated = `pan:1: assertion violated (verAtInit[k]>=truthNotSent[k]) (at depth 69)
pan: wrote stateflush.pml.trail

(Spin Version 6.5.2 -- 6 December 2019)
Warning: Search not completed

State-vector 216 byte, depth reached 69, errors: 1
   225424 states, stored
    20000 states, matched
   245424 transitions (= stored+matched)
  129.315	total actual memory usage

pan: elapsed time 0.21 seconds
`

const panDepthBound = `error: max search depth too small
State-vector 216 byte, depth reached 99, errors: 0
      100 states, stored
  129.315	total actual memory usage
pan: elapsed time 0 seconds
`

func TestParsePanOutput(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want Stats
	}{
		{"holds", panHolds, Stats{Errors: 0, StatesStored: 859667, StatesMatched: 517861, Transitions: 1377528,
			DepthReached: 64, StateVectorB: 120, MemoryMB: 213.983, ElapsedS: 0.58}},
		{"violated", panViolated, Stats{Errors: 1, StatesStored: 225424, StatesMatched: 20000, Transitions: 245424,
			DepthReached: 69, StateVectorB: 216, MemoryMB: 129.315, ElapsedS: 0.21,
			Violation: "assertion violated (verAtInit[k]>=truthNotSent[k])"}},
		{"depth bound", panDepthBound, Stats{StatesStored: 100, DepthReached: 99, StateVectorB: 216, MemoryMB: 129.315,
			Incomplete: "the depth bound (-m) was reached"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePanOutput(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := ParsePanOutput("spin: syntax error"); err == nil {
		t.Error("output without a summary line: want an error")
	}
}

func TestVerdict(t *testing.T) {
	holds := Check{Name: "m.correct", Expect: Holds}
	violated := Check{Name: "m.mutant", Expect: Violated}
	replayed := "spin: model.pml:9, Error: assertion violated"
	tests := []struct {
		name string
		res  Result
		ok   bool
	}{
		{"holds", Result{Check: holds}, true},
		{"holds but errors", Result{Check: holds, Stats: Stats{Errors: 1}}, false},
		{"holds but incomplete", Result{Check: holds, Stats: Stats{Incomplete: "memory"}}, false},
		{"violated", Result{Check: violated, Stats: Stats{Errors: 1}, Trail: "t", Replay: replayed}, true},
		{"violated without errors", Result{Check: violated}, false},
		{"violated without trail", Result{Check: violated, Stats: Stats{Errors: 1}}, false},
		{"violated, replay misses it", Result{Check: violated, Stats: Stats{Errors: 1}, Trail: "t", Replay: "ok"}, false},
	}
	for _, tt := range tests {
		if err := tt.res.Verdict(); (err == nil) != tt.ok {
			t.Errorf("%s: Verdict() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestReplaceTable(t *testing.T) {
	doc := "intro\n" + TableBegin + "\nstale row\n" + TableEnd + "\noutro\n"
	table := RenderTable([]Result{{Check: Check{Name: "a.correct", Defines: []string{"N=1"}}, Stats: Stats{StatesStored: 7}}})
	got, err := ReplaceTable(doc, table)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "stale row") || !strings.HasPrefix(got, "intro\n") || !strings.HasSuffix(got, TableEnd+"\noutro\n") {
		t.Errorf("ReplaceTable:\n%s", got)
	}
	rows, err := TableRows(got)
	if err != nil || !slices.Equal(rows, []string{"a.correct"}) {
		t.Errorf("TableRows = %v, %v; want [a.correct]", rows, err)
	}
	if _, err := ReplaceTable("no markers", table); err == nil {
		t.Error("ReplaceTable without markers: want an error")
	}
}
