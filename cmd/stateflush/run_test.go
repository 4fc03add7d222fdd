package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/chaos"
	"github.com/stateflush/stateflush/sim/trace"
)

var traceHashPattern = regexp.MustCompile(`trace hash ([0-9a-f]{16})`)

func traceHashIn(t *testing.T, r result) string {
	t.Helper()
	m := traceHashPattern.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("output names no trace hash:\n%s", r)
	}
	return m[1]
}

func TestRunFailingSeedReportReplaysAndDetectsTampering(t *testing.T) {
	k := findKnownFailure(t)
	dir := t.TempDir()
	reportDir := filepath.Join(dir, "report")
	args := []string{"run", "--scenario", "small", "--mutant", k.mutant, "--seed", fmt.Sprint(k.failingSeed), "--out", reportDir}
	r := cli(t, args...)
	wantCode(t, r, exitViolation, args...)
	for _, want := range []string{"scenario small, seed " + fmt.Sprint(k.failingSeed), "mutants [" + k.mutant + "]", "verdict: violation (caught by", "violation", "[" + k.checkedBy + "]", "report: " + reportDir} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("run output lacks %q:\n%s", want, r.stdout)
		}
	}
	hash := traceHashIn(t, r)
	if hash != k.failingHash {
		t.Errorf("run gives hash %s, the sweep gave %s for the same seed", hash, k.failingHash)
	}
	tracePath := filepath.Join(reportDir, linearizability.ReportTraceFile)
	for _, file := range []string{linearizability.ReportPageFile, linearizability.ReportVisualizationFile, linearizability.ReportTraceFile, linearizability.ReportHistoryFile, linearizability.ReportSummaryFile} {
		if info, err := os.Stat(filepath.Join(reportDir, file)); err != nil || info.Size() == 0 {
			t.Errorf("report lacks %s: %v", file, err)
		}
	}

	// The trace replays: same verdict, same hash, and a report of its own.
	replayDir := filepath.Join(dir, "replayed")
	r = cli(t, "replay", tracePath, "--out", replayDir)
	wantCode(t, r, exitViolation, "replay", tracePath)
	if got := traceHashIn(t, r); got != hash || !strings.Contains(r.stdout, "matches the recording") {
		t.Errorf("replay gives hash %s, want %s matching the recording:\n%s", got, hash, r)
	}
	if _, err := os.Stat(filepath.Join(replayDir, linearizability.ReportVisualizationFile)); err != nil {
		t.Errorf("replay wrote no report: %v", err)
	}
	// Replaying into the directory that holds the trace would overwrite it.
	r = cli(t, "replay", tracePath, "--out", reportDir)
	wantCode(t, r, exitUsage, "replay", tracePath, "--out", reportDir)

	original, err := os.ReadFile(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	variant := func(name string, edit func([]string) []string) string {
		lines := strings.Split(strings.TrimSuffix(string(original), "\n"), "\n")
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Join(edit(lines), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// One event record edited (still well-formed): the rerun cannot give the recorded hash.
	tampered := variant("tampered.jsonl", func(lines []string) []string {
		for i := 1; i < len(lines); i++ {
			var rec trace.Record
			if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Kind == trace.KindEvent && len(rec.Attrs) > 0 {
				rec.Attrs[0].Value += "-edited"
				b, err := json.Marshal(rec)
				if err != nil {
					t.Fatal(err)
				}
				lines[i] = string(b)
				return lines
			}
		}
		t.Fatal("the trace has no event record with attributes")
		return nil
	})
	r = cli(t, "replay", tampered, "--out", filepath.Join(dir, "tampered-report"))
	wantCode(t, r, exitInternal, "replay", tampered)
	if !strings.Contains(r.stderr, "hash mismatch") || !strings.Contains(r.stdout, "DOES NOT REPRODUCE") {
		t.Errorf("tampered trace: want a hash-mismatch error:\n%s", r)
	}

	// Files that cannot be replayed are bad input.
	badFiles := map[string]string{
		"truncated": variant("truncated.jsonl", func(lines []string) []string {
			last := lines[len(lines)/2]
			return append(lines[:len(lines)/2], last[:len(last)/2])
		}),
		"header only":      variant("header-only.jsonl", func(lines []string) []string { return lines[:1] }),
		"half the records": variant("half.jsonl", func(lines []string) []string { return lines[:len(lines)/2] }),
		"other trace version": variant("version.jsonl", func(lines []string) []string {
			lines[0] = strings.Replace(lines[0], fmt.Sprintf(`"version":%d`, trace.Version), `"version":99`, 1)
			return lines
		}),
		"other run format": variant("run-format.jsonl", func(lines []string) []string {
			lines[0] = strings.Replace(lines[0], harness.RunFormat, "stateflush-run/0", 1)
			return lines
		}),
		"not a run": variant("not-a-run.jsonl", func(lines []string) []string {
			lines[0] = fmt.Sprintf(`{"format":"stateflush-trace","version":%d,"description":{"hello":"world"}}`, trace.Version)
			return lines
		}),
		"invalid scenario": variant("invalid-scenario.jsonl", func(lines []string) []string {
			lines[0] = strings.Replace(lines[0], `"Servers":4`, `"Servers":0`, 1)
			return lines
		}),
	}
	for what, path := range badFiles {
		r := cli(t, "replay", path, "--out", filepath.Join(dir, "bad-report"))
		if r.code != exitUsage || !strings.Contains(r.stderr, filepath.Base(path)) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("replay of a trace file with %s: want exit 2 and one line naming the file, got %s", what, r)
		}
	}
}

func TestRunPassingSeedWritesNoReportUnlessAsked(t *testing.T) {
	k := findKnownFailure(t)
	t.Chdir(t.TempDir())
	seed := fmt.Sprint(k.passSeed)
	r := cli(t, "run", "--scenario", "small", "--seed", seed)
	wantCode(t, r, exitPass, "run", "--scenario", "small", "--seed", seed)
	if !strings.Contains(r.stdout, "verdict: pass") {
		t.Errorf("run output lacks the verdict:\n%s", r.stdout)
	}
	if _, err := os.Stat(outputRoot); !os.IsNotExist(err) {
		t.Errorf("a passing run wrote %s without --out (stat: %v)", outputRoot, err)
	}
	r = cli(t, "run", "--scenario", "small", "--seed", seed, "--json", "--out", "passing")
	wantCode(t, r, exitPass)
	lines, err := harness.ReadSeedResults(strings.NewReader(r.stdout), "run --json")
	if err != nil || len(lines) != 1 || lines[0].Seed != k.passSeed {
		t.Fatalf("run --json: want one sweep line for seed %d, got %v %v", k.passSeed, lines, err)
	}
	if _, err := os.Stat(filepath.Join("passing", linearizability.ReportTraceFile)); err != nil {
		t.Errorf("run --out wrote no report for a passing run: %v", err)
	}
	// A failing seed without --out goes to the default report directory.
	r = cli(t, "run", "--scenario", "small", "--mutant", k.mutant, "--seed", fmt.Sprint(k.failingSeed))
	wantCode(t, r, exitViolation)
	scn, err := harness.LookupScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	m, err := kv.ParseMutants(k.mutant)
	if err != nil {
		t.Fatal(err)
	}
	scn.KV.Mutants = m
	if _, err := os.Stat(filepath.Join(defaultReportDir(scn, k.failingSeed), linearizability.ReportVisualizationFile)); err != nil {
		t.Errorf("a failing run wrote no report to the default directory: %v", err)
	}
}

// TestPrintedReplayCommandsRerunTheirSeed runs, for every built-in scenario with overrides of every
// scenario flag, the command the harness prints, through this command, and compares trace hashes.
func TestPrintedReplayCommandsRerunTheirSeed(t *testing.T) {
	overrides := func(s *harness.Scenario) {
		s.KV.Clients = 1
		s.Workload.OpsPerClient = 6
		s.Workload.Keys = 5
		s.KV.Mutants = kv.NewMutants(kv.NoMitt, kv.LateAnnounce)
		s.KV.Strategy = kv.Blocking
		s.KV.SourceChoice = kv.PreferPrimary
		s.KV.ReadFromAnyCopy = true
		s.KV.Servers++
		s.KV.Buckets++
		s.KV.Redundancy = 2
		s.Swarm = !s.Swarm
		s.SafetyPhase = 60_000
		if s.Nemeses.Monkey != nil {
			m := *s.Nemeses.Monkey
			m.Victims = chaos.VictimsByRole
			s.Nemeses.Monkey = &m
		}
	}
	for _, scn := range harness.Scenarios() {
		overrides(&scn)
		o, err := harness.Run(scn, 3, harness.Options{})
		if err != nil {
			t.Fatalf("scenario %s: %v", scn.Name, err)
		}
		if !replayCommandReproduces(o) {
			t.Errorf("scenario %s: the printed command %q does not rebuild the scenario", scn.Name, o.ReplayCommand(""))
			continue
		}
		args := strings.Fields(strings.TrimPrefix(o.ReplayCommand(""), "go run ./cmd/stateflush "))
		r := cli(t, append(args, "--json")...)
		lines, err := harness.ReadSeedResults(strings.NewReader(r.stdout), "run --json")
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, r)
		}
		if want := fmt.Sprintf("%016x", o.Result.Hash); lines[0].Hash != want {
			t.Errorf("%v: hash %s, the harness run gave %s", args, lines[0].Hash, want)
		}
	}

	// A run whose parameters are no flags (a fixed set of nemeses) is recognised as such, so that
	// the command says so instead of printing a command that runs something else.
	scn, err := harness.LookupScenario(harness.DefaultScenario)
	if err != nil {
		t.Fatal(err)
	}
	scn.Swarm = false
	scn.Nemeses.ClientDupProb = 0.001
	scn.SafetyPhase = 187_500
	scn.Workload.OpsPerClient = 5
	o, err := harness.Run(scn, 3, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if replayCommandReproduces(o) {
		t.Errorf("replayCommandReproduces accepts %q for a scenario it cannot express", o.ReplayCommand(""))
	}
	var out bytes.Buffer
	printOutcome(&out, o)
	if !strings.Contains(out.String(), "does not rebuild this run's scenario") {
		t.Errorf("printOutcome does not warn about the replay line:\n%s", out.String())
	}
}

// readLines splits output into lines for comparison.
func readLines(t *testing.T, s string) []string {
	t.Helper()
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// TestRunShrinkWritesAReplayableSmallerRun: run --shrink cuts a failing run down and writes the
// smaller run's report beside the run's own, and its trace replays to the same hash; a negative
// --shrink is bad input.
func TestRunShrinkWritesAReplayableSmallerRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no-mitt-1")
	r := cli(t, "run", "--seed", "1", "--mutant", "no-mitt", "--shrink", "30", "--out", dir)
	wantCode(t, r, exitViolation, "run --shrink")
	if !strings.Contains(r.stdout, "shrunk in ") {
		t.Fatalf("run --shrink printed no shrinking result:\n%s", r.stdout)
	}
	trace := filepath.Join(dir+"-shrunk", linearizability.ReportTraceFile)
	replayed, err := harness.Replay(trace, harness.Options{})
	if err != nil {
		t.Fatalf("the shrunk run's trace does not replay: %v", err)
	}
	full, err := harness.Replay(filepath.Join(dir, linearizability.ReportTraceFile), harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(replayed.History) >= len(full.History) || !replayed.Final.Found() {
		t.Errorf("the shrunk run has %d client ops (the run %d) and verdict %s", len(replayed.History), len(full.History), replayed.Final)
	}
	r = cli(t, "run", "--seed", "1", "--shrink", "-1")
	wantCode(t, r, exitUsage, "run --shrink -1")
}

// TestRunWarnsWhenAMutantNeverActs: a mutant run that created no copy says its pass means nothing;
// one that created copies does not.
func TestRunWarnsWhenAMutantNeverActs(t *testing.T) {
	const warning = "created no copy, so mutant no-mitt never acted"
	if r := cli(t, "run", "--scenario", "small", "--seed", "1", "--mutant", "no-mitt", "--out", t.TempDir()); !strings.Contains(r.stdout, warning) {
		t.Errorf("small seed 1 creates no copy, but run does not warn:\n%s", r.stdout)
	}
	if r := cli(t, "run", "--scenario", "small", "--seed", "4", "--mutant", "no-mitt", "--out", t.TempDir()); strings.Contains(r.stdout, warning) {
		t.Errorf("small seed 4 creates copies, but run warns:\n%s", r.stdout)
	}
	if r := cli(t, "run", "--scenario", "small", "--seed", "1", "--out", t.TempDir()); strings.Contains(r.stdout, "warning") {
		t.Errorf("a run without mutants warns:\n%s", r.stdout)
	}
}
