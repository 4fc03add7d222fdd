package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/linearizability/formats"
	"github.com/stateflush/stateflush/notebooks"
	"github.com/stateflush/stateflush/protocol/kv"
)

// result is what one in-process invocation of the command gave.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cli runs the command in-process.
func cli(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// wantCode fails the test unless the invocation exited with code.
func wantCode(t *testing.T, r result, code int, args ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("stateflush %s: want exit %d, got %s", strings.Join(args, " "), code, r)
	}
}

// knownFailure is a mutant and a seed of the small scenario on which the checks catch the mutant,
// and a seed on which they do not, found by sweeping (the protocol's code decides which seeds fail,
// so tests find them rather than hard-code them).
type knownFailure struct {
	mutant                 string
	failingSeed, passSeed  uint64
	failingHash, checkedBy string
}

var (
	knownFailureOnce sync.Once
	knownFailureVal  knownFailure
	knownFailureErr  error
)

// findKnownFailure sweeps the small scenario with the mutants the checks catch most often.
func findKnownFailure(t *testing.T) knownFailure {
	t.Helper()
	knownFailureOnce.Do(func() {
		knownFailureErr = fmt.Errorf("no mutant caught on seeds 1..200 of the small scenario")
		for _, mutant := range []string{"no-mitt", "image-overwrites-mitt", "late-announce", "mitt-ignores-deletes"} {
			var stdout, stderr bytes.Buffer
			code := run([]string{"sweep", "--scenario", "small", "--mutant", mutant, "--seeds", "200", "--json", "--quiet"}, &stdout, &stderr)
			if code != exitViolation {
				continue
			}
			f, err := harness.ReadSweep(&stdout, "sweep")
			lines := f.Lines
			if err != nil {
				knownFailureErr = err
				return
			}
			k := knownFailure{mutant: mutant}
			for _, l := range lines {
				switch {
				case l.Verdict == harness.VerdictViolation && k.failingSeed == 0:
					k.failingSeed, k.failingHash, k.checkedBy = l.Seed, l.Hash, l.CaughtBy[0]
				case l.Verdict == harness.VerdictPass && k.passSeed == 0:
					k.passSeed = l.Seed
				}
			}
			knownFailureVal, knownFailureErr = k, nil
			return
		}
	})
	if knownFailureErr != nil {
		t.Fatal(knownFailureErr)
	}
	return knownFailureVal
}

func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	invocations := [][]string{{"--help"}, {"-h"}, {"help"}}
	for _, c := range commands() {
		invocations = append(invocations, []string{c.name, "--help"}, []string{c.name, "-h"}, []string{"help", c.name})
	}
	for _, args := range invocations {
		r := cli(t, args...)
		wantCode(t, r, exitPass, args...)
		if !strings.HasPrefix(r.stdout, "Usage: stateflush") || !strings.Contains(r.stdout, "\nEXAMPLES\n") {
			t.Errorf("stateflush %s: help lacks the usage line or EXAMPLES:\n%s", strings.Join(args, " "), r.stdout)
		}
		if r.stderr != "" {
			t.Errorf("stateflush %s: help wrote to stderr: %s", strings.Join(args, " "), r.stderr)
		}
	}
	root := cli(t, "--help").stdout
	for _, want := range []string{"EXIT CODES", "SUBCOMMANDS", "--mutant", "--seeds"} {
		if !strings.Contains(root, want) {
			t.Errorf("root help lacks %q", want)
		}
	}
	for _, c := range commands() {
		if !strings.Contains(root, "\n  "+c.name+" ") {
			t.Errorf("root help does not list subcommand %s", c.name)
		}
	}
}

func TestBadInputIsExit2WithOneLineNamingTheProblem(t *testing.T) {
	dir := t.TempDir()
	notATrace := filepath.Join(dir, "not-a-trace.jsonl")
	if err := os.WriteFile(notATrace, []byte("{\"hello\": 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(dir, "garbage.jsonl")
	if err := os.WriteFile(notJSON, []byte("this is not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	badHistories := map[string]string{
		"no-operations.json":   `{"format":"stateflush-history","version":1}`,
		"null-operations.json": `{"format":"stateflush-history","version":1,"operations":null}`,
		"duplicate-field.json": `{"format":"stateflush-history","version":1,"version":1,"operations":[]}`,
		"invalid-utf8.json":    "{\"format\":\"stateflush-history\",\"version\":1,\"operations\":[\n{\"client\":1,\"seq\":1,\"op\":\"get\",\"key\":\"\xff\",\"status\":\"ok\",\"call_us\":0,\"return_us\":1}]}",
		"overlap.json": `{"format":"stateflush-history","version":1,"operations":[
{"client":1,"seq":1,"op":"put","key":"k","value":"a","status":"ok","call_us":0,"return_us":10},
{"client":1,"seq":2,"op":"put","key":"k","value":"b","status":"ok","call_us":5,"return_us":20}]}`,
		"overlap.edn": "{:process 0, :type :invoke, :f :read}\n{:process 0, :type :invoke, :f :read}\n",
		"unknown.txt": "hello\n",
	}
	for name, text := range badHistories {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad := func(name string) string { return filepath.Join(dir, name) }
	cases := []struct {
		args []string
		want string // the message must contain this
	}{
		{[]string{"check", bad("no-operations.json")}, `line 1 (byte offset 43): no "operations" field`},
		{[]string{"check", bad("null-operations.json")}, `"operations" is null`},
		{[]string{"check", bad("duplicate-field.json")}, `field "version" appears twice`},
		{[]string{"check", bad("invalid-utf8.json")}, "line 2 (byte offset 96): invalid UTF-8"},
		{[]string{"check", bad("overlap.json")}, "line 3 (byte offset 154): malformed history: operation 1 (client 1 seq 2): overlaps operation 0"},
		{[]string{"check", bad("overlap.edn")}, "line 2 (byte offset 38): process 0 invokes :read while its :read from line 1"},
		{[]string{"check", bad("unknown.txt")}, "cannot tell the history format"},
		{[]string{"check", "--format", "yaml", bad("overlap.json")}, `--format yaml: invalid parameter: no format "yaml" (formats: auto, json, edn, porcupine-log)`},
		{[]string{"check", "--max-size", "100", bad("overlap.json")}, "the limit is 100 (--max-size raises the limit)"},
		{[]string{"check", "--max-size", "lots", bad("overlap.json")}, "--max-size lots: want a positive number"},
		{[]string{"check", "/dev/zero"}, "/dev/zero: not a regular file (a character device)"},
		{[]string{"check", "--report", bad("overlap.json"), bad("overlap.json")}, "--report " + bad("overlap.json") + ": is a file"},
		{[]string{"convert"}, "want FILE and optionally OUT"},
		{[]string{"convert", "--to", "xml", bad("overlap.json")}, "--to xml"},
		{[]string{"convert", bad("overlap.edn")}, "process 0 invokes :read"},
		{[]string{"frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"--frob"}, "flag provided but not defined: --frob"},
		{[]string{"run", "--scenario", "nope"}, `unknown scenario "nope"`},
		{[]string{"run", "--mutant", "no-mitt,nope"}, `unknown mutant "nope"`},
		{[]string{"run", "--mutant", "tokens-restart"}, "lock mutant tokens-restart in scenario steady-monkey, which has no lock clients"},
		{[]string{"sweep", "--scenario", "lock-grantor-failover", "--mutant", "tokens-restart,nope"}, `unknown mutant "nope"`},
		{[]string{"run", "--lock-clients", "3"}, "--lock-clients: scenario steady-monkey has no lock service"},
		{[]string{"run", "--scenario", "lock-grantor-failover", "--locks-per-client", "0"}, "--locks-per-client 0: must be at least 1"},
		{[]string{"run", "--scenario", "lock-grantor-failover", "--lock-clients", "5000"}, "lock clients=5000 is outside 0..1000"},
		{[]string{"run", "--strategy", "fast"}, `unknown strategy "fast"`},
		{[]string{"run", "--source", "any"}, `unknown source choice "any"`},
		{[]string{"run", "--seed", "-1"}, `invalid value "-1" for flag --seed`},
		{[]string{"run", "--seed", "ten"}, `invalid value "ten" for flag --seed`},
		{[]string{"run", "--servers", "0"}, "--servers 0"},
		{[]string{"run", "--clients", "-2"}, "--clients -2"},
		{[]string{"run", "--safety-ms", "0"}, "--safety-ms 0"},
		{[]string{"run", "--redundancy", "9"}, "Redundancy=9"},
		{[]string{"run", "--budget", "0s"}, "--budget 0s"},
		{[]string{"run", "stray"}, `unexpected argument "stray"`},
		{[]string{"sweep", "--seeds", "-5"}, "--seeds -5"},
		{[]string{"sweep", "--seeds", "0"}, "--seeds 0"},
		{[]string{"sweep", "--seeds", "100000001"}, "at most 100000000"},
		{[]string{"sweep", "--workers", "0"}, "--workers 0"},
		{[]string{"sweep", "--workers", "10000"}, "--workers 10000: at most 1024"},
		{[]string{"sweep", "--clients", "100000"}, "Clients=100000 exceeds the limit of 1000 per seed (raise every limit by a factor with STATEFLUSH_LIMIT_SCALE=N)"},
		{[]string{"run", "--servers", "1000"}, "Servers=1000 exceeds the limit of 256"},
		{[]string{"run", "--victims", "oldest"}, `--victims: no victim choice "oldest" (choices: age, uniform, roles)`},
		{[]string{"run", "--scenario", "snapshots", "--victims", "uniform"}, "--victims uniform: scenario snapshots has no chaos monkey"},
		{[]string{"sweep", "--seed", "3", "--shard", "0/2"}, "--seed and --shard conflict"},
		{[]string{"sweep", "--seed", "3", "--seeds", "10"}, "--seed and --seeds conflict"},
		{[]string{"sweep", "--shard", "2/2"}, `shard "2/2"`},
		{[]string{"sweep", "--shard", "half"}, `shard "half"`},
		{[]string{"merge", "--allow-missing=maybe", "x.jsonl"}, `invalid boolean value "maybe" for --allow-missing`},
		{[]string{"sweep", "--json", "--out", filepath.Join(dir, "x.jsonl")}, "--json and --out conflict"},
		{[]string{"sweep", "--out", filepath.Join(dir, "no", "such", "dir", "x.jsonl")}, "--out"},
		{[]string{"sweep", "--first-seed", "18446744073709551615", "--seeds", "2"}, "passes the largest seed"},
		{[]string{"replay"}, "want exactly one trace file"},
		{[]string{"replay", "a", "b"}, "want exactly one trace file"},
		{[]string{"replay", filepath.Join(dir, "missing.jsonl")}, "missing.jsonl"},
		{[]string{"replay", dir}, "is a directory"},
		{[]string{"replay", notATrace}, "not-a-trace.jsonl"},
		{[]string{"replay", notJSON}, "garbage.jsonl"},
		{[]string{"replay", empty}, "empty.jsonl"},
		{[]string{"check", filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"check", notJSON}, "garbage.jsonl"},
		{[]string{"check", "--budget", "-1s", notJSON}, "--budget -1s"},
		{[]string{"merge"}, "no input files"},
		{[]string{"merge", filepath.Join(dir, "missing.jsonl")}, "missing.jsonl"},
		{[]string{"merge", notJSON}, "garbage.jsonl"},
		{[]string{"merge", empty}, "empty.jsonl"},
		{[]string{"mutants", "--mutant", "nope"}, `unknown mutant "nope"`},
		{[]string{"mutants", "--shrink-tries", "-1"}, "--shrink-tries -1"},
		{[]string{"mutants", "--seeds", "-1"}, "--seeds -1"},
		{[]string{"scenarios", "nope"}, `unknown scenario "nope"`},
		{[]string{"--seeds", "-1"}, "--seeds -1"},
		{[]string{"--mutant", ""}, "--mutant is empty"},
		{[]string{"--seeds", "10", "run"}, `unexpected argument "run"`},
	}
	for _, c := range cases {
		r := cli(t, c.args...)
		wantCode(t, r, exitUsage, c.args...)
		if r.stdout != "" {
			t.Errorf("stateflush %s: wrote to stdout on bad input: %q", strings.Join(c.args, " "), r.stdout)
		}
		msg := strings.TrimSuffix(r.stderr, "\n")
		if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "stateflush") {
			t.Errorf("stateflush %s: want one line starting with the command, got %q", strings.Join(c.args, " "), r.stderr)
		}
		if !strings.Contains(msg, c.want) {
			t.Errorf("stateflush %s: message %q does not name the problem (%q)", strings.Join(c.args, " "), msg, c.want)
		}
	}
}

func TestScenariosJSONParsesAndTextListsEveryParameter(t *testing.T) {
	r := cli(t, "scenarios", "--json")
	wantCode(t, r, exitPass, "scenarios", "--json")
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	var scenarios []harness.Scenario
	if err := dec.Decode(&scenarios); err != nil {
		t.Fatalf("scenarios --json does not parse as []harness.Scenario: %v\n%s", err, r.stdout)
	}
	var names []string
	for _, s := range scenarios {
		names = append(names, s.Name)
		builtin, err := harness.LookupScenario(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(builtin, s) {
			t.Errorf("scenario %s: JSON does not round-trip:\n%+v\n%+v", s.Name, builtin, s)
		}
	}
	if fmt.Sprint(names) != fmt.Sprint(harness.ScenarioNames()) {
		t.Errorf("scenarios --json lists %v, want %v", names, harness.ScenarioNames())
	}

	text := cli(t, "scenarios", "small")
	wantCode(t, text, exitPass, "scenarios", "small")
	for _, want := range []string{"small: ", "kv.Servers", "workload.OpsPerClient", "kv.Strategy", "state-flush",
		"nemeses.monkey.MeanTimeBetweenKills", "safety_phase_us", "400000", "latency.Kind", "swarm"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("scenarios small: output lacks %q:\n%s", want, text.stdout)
		}
	}
	if strings.Contains(text.stdout, "steady-monkey") {
		t.Errorf("scenarios small lists other scenarios:\n%s", text.stdout)
	}
}

func TestCheckHistoryVerdicts(t *testing.T) {
	dir := t.TempDir()
	k := findKnownFailure(t)
	reportDir := filepath.Join(dir, "report")
	wantCode(t, cli(t, "run", "--scenario", "small", "--mutant", k.mutant, "--seed", fmt.Sprint(k.failingSeed), "--out", reportDir), exitViolation)

	// The run's history: its linearizability verdict must match what run printed.
	r := cli(t, "check", "--json", reportDir)
	var verdict struct{ Result string }
	if err := json.Unmarshal([]byte(r.stdout), &verdict); err != nil {
		t.Fatalf("check --json: %v\n%s", err, r)
	}
	want := map[string]int{"ok": exitPass, "illegal": exitViolation, "unknown": exitUnknown}[verdict.Result]
	wantCode(t, r, want, "check", "--json", reportDir)

	// A history no register allows: a get returns a value nobody wrote.
	illegal := filepath.Join(dir, "illegal.json")
	writeHistory(t, illegal, `[
		{"client": 0, "seq": 1, "op": "put", "key": "k", "value": "a", "status": "ok", "call_us": 0, "return_us": 10},
		{"client": 1, "seq": 1, "op": "get", "key": "k", "status": "ok", "found": true, "output": "b", "call_us": 20, "return_us": 30}]`)
	r = cli(t, "check", illegal)
	wantCode(t, r, exitViolation, "check", illegal)
	if !strings.Contains(r.stdout, "ILLEGAL") || !strings.Contains(r.stdout, `"k"`) {
		t.Errorf("check of an illegal history does not say so, naming the key:\n%s", r)
	}
	legal := filepath.Join(dir, "legal.json")
	writeHistory(t, legal, `[
		{"client": 0, "seq": 1, "op": "put", "key": "k", "value": "a", "status": "ok", "call_us": 0, "return_us": 10},
		{"client": 1, "seq": 1, "op": "get", "key": "k", "status": "ok", "found": true, "output": "a", "call_us": 20, "return_us": 30}]`)
	wantCode(t, cli(t, "check", legal), exitPass, "check", legal)

	// Models: a cas register history, checked by the model chosen from its operations and by name;
	// a failed cas is an observation, so it makes this one illegal.
	cas := filepath.Join(dir, "cas.json")
	writeHistory(t, cas, `[
		{"client": 0, "seq": 1, "op": "write", "key": "r", "value": "1", "status": "ok", "call_us": 0, "return_us": 10},
		{"client": 1, "seq": 1, "op": "cas", "key": "r", "expected": "1", "value": "2", "status": "fail", "call_us": 20, "return_us": 30}]`)
	for _, args := range [][]string{{"check", cas}, {"check", "--model", "cas-register", cas}} {
		r = cli(t, args...)
		wantCode(t, r, exitViolation, args...)
		if !strings.Contains(r.stdout, "cas-register model") {
			t.Errorf("%v does not name the model:\n%s", args, r)
		}
	}
	r = cli(t, "check", "--model", "register", cas)
	wantCode(t, r, exitUsage, "check", "--model", "register", cas)
	if !strings.Contains(r.stderr, "cas-register knows it") {
		t.Errorf("wrong model: the error does not point at the right one:\n%s", r)
	}
	wantCode(t, cli(t, "check", "--model", "mutex", cas), exitUsage, "check", "--model", "mutex", cas)
	r = cli(t, "check", "--models")
	wantCode(t, r, exitPass, "check", "--models")
	for _, m := range linearizability.Models() {
		if !strings.Contains(r.stdout, m.Name) {
			t.Errorf("check --models does not list %s:\n%s", m.Name, r)
		}
	}
}

// A lock service's history is checked against the lock model, chosen by its operations: a grant
// while the lock is held is a violation, with a report.
func TestCheckLockHistories(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "lock-ok.json")
	writeHistory(t, ok, `[
		{"client": 1, "seq": 1, "op": "lock", "key": "m", "status": "ok", "output": "1", "call_us": 0, "return_us": 10},
		{"client": 1, "seq": 2, "op": "unlock", "key": "m", "value": "1", "status": "ok", "call_us": 20, "return_us": 30},
		{"client": 2, "seq": 1, "op": "lock", "key": "m", "status": "ok", "output": "2", "call_us": 25, "return_us": 40}]`)
	r := cli(t, "check", ok)
	wantCode(t, r, exitPass, "check", ok)
	if !strings.Contains(r.stdout, "lock model") {
		t.Errorf("check does not name the lock model:\n%s", r)
	}
	bad := filepath.Join(dir, "lock-double-grant.json")
	writeHistory(t, bad, `[
		{"client": 1, "seq": 1, "op": "lock", "key": "m", "status": "ok", "output": "1", "call_us": 0, "return_us": 10},
		{"client": 2, "seq": 1, "op": "lock", "key": "m", "status": "ok", "output": "2", "call_us": 20, "return_us": 30}]`)
	report := filepath.Join(dir, "report")
	r = cli(t, "check", "--report", report, bad)
	wantCode(t, r, exitViolation, "check", "--report", report, bad)
	if !strings.Contains(r.stdout, `illegal keys: "m"`) {
		t.Errorf("check does not name the lock:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(report, "index.html")); err != nil {
		t.Errorf("no report for the lock violation: %v", err)
	}
	// The README's example: a new grantor that restarted the tokens.
	example := filepath.Join("..", "..", "linearizability", "formats", "testdata", "lock", "tokens-restart.json")
	r = cli(t, "check", example)
	wantCode(t, r, exitViolation, "check", example)
	if !strings.Contains(r.stdout, `illegal keys: "orders"; 1 keys ok`) {
		t.Errorf("the README's lock example:\n%s", r)
	}
	malformed := filepath.Join(dir, "lock-no-token.json")
	if err := os.WriteFile(malformed, []byte(`{"format": "stateflush-history", "version": 1, "operations": [
		{"client": 1, "seq": 1, "op": "lock", "key": "m", "status": "ok", "call_us": 0, "return_us": 10}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = cli(t, "check", malformed)
	wantCode(t, r, exitUsage, "check", malformed)
	if !strings.Contains(r.stderr, "token") {
		t.Errorf("a granted lock without a token: the error does not name it:\n%s", r)
	}
}

// writeHistory writes operations (a JSON array of linearizability.Operation) as a history file.
func writeHistory(t *testing.T, path, operations string) {
	t.Helper()
	var h linearizability.History
	if err := json.Unmarshal([]byte(operations), &h); err != nil {
		t.Fatal(err)
	}
	if err := linearizability.WriteHistoryFile(path, h); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultJobExitCodes(t *testing.T) {
	k := findKnownFailure(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "shrunk")
	args := []string{"--scenario", "small", "--mutant", k.mutant, "--first-seed", fmt.Sprint(k.failingSeed), "--seeds", "3", "--quiet", "--out", out, "--shrink-tries", "20"}
	r := cli(t, args...)
	wantCode(t, r, exitPass, args...)
	for _, want := range []string{"scenario small", "correct protocol:", "3 seeds: 3 pass", "mutant " + k.mutant + ":", "violation (caught by", "report: " + out, "replay exactly: go run ./cmd/stateflush replay " + filepath.Join(out, "trace.jsonl"), "result: as expected"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("default job output lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Errorf("default job wrote no report: %v", err)
	}
	// The shrunk counterexample replays from its trace and still fails.
	wantCode(t, cli(t, "replay", filepath.Join(out, "trace.jsonl"), "--out", filepath.Join(dir, "replayed")), exitViolation)

	// A seed on which the mutant escapes: the demonstration is inconclusive.
	args = []string{"--scenario", "small", "--mutant", k.mutant, "--first-seed", fmt.Sprint(k.passSeed), "--seeds", "1", "--quiet", "--out", filepath.Join(dir, "none")}
	r = cli(t, args...)
	wantCode(t, r, exitUnknown, args...)
	if !strings.Contains(r.stdout, "did not catch mutant "+k.mutant) {
		t.Errorf("default job does not say the mutant escaped:\n%s", r.stdout)
	}
}

func TestMutantsScoreJSONAndReports(t *testing.T) {
	k := findKnownFailure(t)
	dir := t.TempDir()
	args := []string{"mutants", "--scenario", "small", "--mutant", k.mutant, "--first-seed", fmt.Sprint(k.failingSeed), "--seeds", "2",
		"--shrink-tries", "5", "--json", "--quiet", "--out", dir}
	r := cli(t, args...)
	wantCode(t, r, exitPass, args...)
	var report mutationReport
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("mutants --json: %v\n%s", err, r)
	}
	if len(report.Mutants) != 1 || !report.Mutants[0].Caught || report.Mutants[0].FirstSeed != k.failingSeed || report.Mutants[0].SeedsToDetection != 1 {
		t.Fatalf("mutants --json: want %s caught on its first seed %d, got %+v", k.mutant, k.failingSeed, report.Mutants)
	}
	if report.MedianSeedsToDetection != 1 || report.Caught != 1 {
		t.Errorf("median %d caught %d, want 1 and 1", report.MedianSeedsToDetection, report.Caught)
	}
	if _, err := os.Stat(filepath.Join(report.Reports[k.mutant], "index.html")); err != nil {
		t.Errorf("no report for the shrunk counterexample: %v", err)
	}

	text := cli(t, "mutants", "--scenario", "small", "--mutant", k.mutant, "--first-seed", fmt.Sprint(k.failingSeed), "--seeds", "1", "--shrink-tries", "0", "--quiet")
	wantCode(t, text, exitPass)
	for _, want := range []string{"mutant ", "seeds to detection", k.mutant, "median seeds to detection: 1"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("mutants table lacks %q:\n%s", want, text.stdout)
		}
	}
}

// TestDefaultMutantExists: the default job's mutant is a real one (a typo would only show when the
// command runs).
func TestDefaultMutantExists(t *testing.T) {
	if _, err := kv.ParseMutant(defaultMutant); err != nil {
		t.Fatal(err)
	}
}

func TestPlotListsExperimentsAndRejectsUnknownNames(t *testing.T) {
	r := cli(t, "plot", "--list")
	wantCode(t, r, exitPass, "plot", "--list")
	for _, e := range notebooks.Experiments() {
		if !strings.Contains(r.stdout, e.Name) || !strings.Contains(r.stdout, "notebooks/"+e.Dir) {
			t.Errorf("plot --list lacks experiment %s:\n%s", e.Name, r.stdout)
		}
	}
	r = cli(t, "plot", "no-such-figure")
	wantCode(t, r, exitUsage, "plot", "no-such-figure")
	if !strings.Contains(r.stderr, `"no-such-figure"`) {
		t.Errorf("plot of an unknown experiment does not name it: %s", r)
	}

	// The figures' default home is found from any directory inside the checkout, and only there.
	checkout, err := findCheckout()
	if err != nil {
		t.Fatalf("the test runs inside the checkout, yet: %v", err)
	}
	if _, err := os.Stat(filepath.Join(checkout, "notebooks")); err != nil {
		t.Errorf("checkout %s has no notebooks directory: %v", checkout, err)
	}
	t.Chdir(t.TempDir())
	if _, err := findCheckout(); err == nil || exitCodeOf(err) != exitUsage {
		t.Errorf("findCheckout outside the checkout: want a usage error, got %v", err)
	}
}

// check reads every format, --report writes the report directory, and convert writes histories
// that check gives the same verdicts.
func TestCheckOtherFormatsReportAndConvert(t *testing.T) {
	dir := t.TempDir()
	testdata := filepath.Join("..", "..", "linearizability", "formats", "testdata")
	jepsen := filepath.Join(testdata, "jepsen", "cas-register.edn")
	report := filepath.Join(dir, "report")
	r := cli(t, "check", "--report", report, jepsen)
	wantCode(t, r, exitViolation, "check", "--report", report, jepsen)
	if !strings.Contains(r.stdout, "(edn): ILLEGAL (cas-register model") {
		t.Errorf("check of the Jepsen history does not name the format and model:\n%s", r)
	}
	summary := readFileString(t, filepath.Join(report, linearizability.ReportSummaryFile))
	for _, want := range []string{"ILLEGAL (cas-register model", `illegal keys: ""`, "0=client 0"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary.txt lacks %q:\n%s", want, summary)
		}
	}
	if replay := readFileString(t, filepath.Join(report, linearizability.ReportReplayFile)); !strings.Contains(replay, "stateflush check --format edn --budget 10s --max-size 1G /") {
		t.Errorf("replay.sh does not repeat the check:\n%s", replay)
	}
	if _, err := os.Stat(filepath.Join(report, linearizability.ReportVisualizationFile)); err != nil {
		t.Error(err)
	}

	for _, tc := range []struct {
		file string
		args []string
		code int
	}{
		{filepath.Join(testdata, "porcupine", "etcd_000.log"), nil, exitViolation},
		{filepath.Join(testdata, "porcupine", "etcd_005.log"), nil, exitPass},
		{filepath.Join(testdata, "porcupine", "c01-ok.txt"), []string{"--model", "kv-empty"}, exitPass},
		{filepath.Join(testdata, "porcupine", "c01-bad.txt"), []string{"--model", "kv-empty"}, exitViolation},
		{jepsen, nil, exitViolation},
	} {
		args := append(append([]string{"check"}, tc.args...), tc.file)
		wantCode(t, cli(t, args...), tc.code, args...)
		converted := filepath.Join(dir, filepath.Base(tc.file)+".json")
		wantCode(t, cli(t, "convert", tc.file, converted), exitPass, "convert", tc.file, converted)
		args = append(append([]string{"check", "--format", "json"}, tc.args...), converted)
		wantCode(t, cli(t, args...), tc.code, args...)
		back := filepath.Join(dir, filepath.Base(tc.file)+".edn")
		wantCode(t, cli(t, "convert", "--to", "edn", converted, back), exitPass, "convert", "--to", "edn", converted, back)
		args = append(append([]string{"check"}, tc.args...), back)
		wantCode(t, cli(t, args...), tc.code, args...)
	}
	r = cli(t, "convert", jepsen)
	wantCode(t, r, exitPass, "convert", jepsen)
	if !strings.HasPrefix(r.stdout, `{
  "format": "stateflush-history"`) {
		t.Errorf("convert without OUT does not write the JSON to stdout:\n%s", r)
	}
}

func readFileString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The README's section on checking one's own histories has a row for every format and model, and
// its example commands are ones that check --help shows (which the examples test runs).
func TestReadmeChecksEveryFormatAndModel(t *testing.T) {
	readme := readFileString(t, filepath.Join("..", "..", "README.md"))
	_, section, ok := strings.Cut(readme, "\n## Checking your own histories\n")
	if !ok {
		t.Fatal(`README.md has no section "Checking your own histories"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var names []string
	for _, f := range formats.Formats() {
		names = append(names, string(f.Format))
	}
	for _, m := range linearizability.Models() {
		names = append(names, m.Name)
	}
	for _, name := range names {
		if !strings.Contains(section, "\n| `"+name+"` |") {
			t.Errorf("the README section has no row for %s", name)
		}
	}
	help := cli(t, "check", "--help").stdout
	for _, line := range strings.Split(section, "\n") {
		for _, part := range strings.Split(line, "`")[1:] {
			if strings.HasPrefix(part, "stateflush check ") && !strings.Contains(help, part) {
				t.Errorf("README example %q is not among check --help's examples", part)
			}
		}
	}
}

// seedsBefore is the seed `back` seeds before seed, or 1 when there are fewer (seeds are unsigned:
// seed-back alone wraps around for a failing seed below back).
func seedsBefore(seed, back uint64) uint64 {
	if seed > back {
		return seed - back
	}
	return 1
}
