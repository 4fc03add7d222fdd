package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/trace"
	"github.com/stateflush/stateflush/spacetime"
)

// ErrHashMismatch is returned by Replay when re-running a trace's spec does not reproduce its hash.
var ErrHashMismatch = errors.New("trace hash mismatch")

// versionNote says why a replay may diverge, from the build that recorded the trace and this one.
func versionNote(recordedBy, current string) string {
	switch {
	case recordedBy == "":
		return "the trace does not say which build recorded it; a different version of stateflush, or a nondeterminism bug"
	case recordedBy != current:
		return fmt.Sprintf("recorded by %s; this is %s", recordedBy, current)
	}
	return fmt.Sprintf("recorded by this same build (%s): a nondeterminism bug, or local changes made since", current)
}

// ErrNotARunTrace is returned for a trace file whose header does not describe a harness run.
var ErrNotARunTrace = errors.New("trace header does not describe a stateflush run")

// ReadRunTrace reads a trace file written by the harness and the run spec in its header.
func ReadRunTrace(path string) (RunSpec, []trace.Record, error) {
	th, records, err := readRunTrace(path)
	return th.RunSpec, records, err
}

func readRunTrace(path string) (traceHeader, []trace.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return traceHeader{}, nil, err
	}
	defer f.Close()
	header, records, err := trace.Read(f)
	if err != nil {
		return traceHeader{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	description, err := upgradeRunDescription(header.Description)
	if err != nil {
		return traceHeader{}, nil, fmt.Errorf("%s: %w: %v", path, ErrNotARunTrace, err)
	}
	var th traceHeader
	dec := json.NewDecoder(bytes.NewReader(description))
	dec.DisallowUnknownFields()
	err = dec.Decode(&th)
	spec := th.RunSpec
	if err != nil {
		return traceHeader{}, nil, fmt.Errorf("%s: %w: %v", path, ErrNotARunTrace, err)
	}
	if spec.Format != RunFormat {
		return traceHeader{}, nil, fmt.Errorf("%s: %w: format %q, this version reads %q", path, ErrNotARunTrace, spec.Format, RunFormat)
	}
	if spec.Source != sourcePRNG {
		return traceHeader{}, nil, fmt.Errorf("%s: %w", path, ErrNotReplayable)
	}
	if err := spec.Scenario.Validate(); err != nil {
		return traceHeader{}, nil, fmt.Errorf("%s: recorded scenario is invalid: %w", path, err)
	}
	return th, records, nil
}

// runFormatV1 is the run description of traces recorded before the store's client workload moved
// out of kv.Config into the scenario (Scenario.Workload): the workload sits at scenario.kv.Workload
// in its JSON. Nothing else differs, and the run is the same.
const runFormatV1 = "stateflush-run/1"

// upgradeRunDescription returns a trace header's run description in the current format: a
// stateflush-run/1 description gets its workload moved from the scenario's kv to the scenario;
// any other is returned as it is (the decoder then judges it).
func upgradeRunDescription(desc json.RawMessage) (json.RawMessage, error) {
	var top map[string]json.RawMessage
	if json.Unmarshal(desc, &top) != nil {
		return desc, nil
	}
	var format string
	if json.Unmarshal(top["format"], &format) != nil || format != runFormatV1 {
		return desc, nil
	}
	var scn map[string]json.RawMessage
	if err := json.Unmarshal(top["scenario"], &scn); err != nil {
		return nil, fmt.Errorf("%s description: scenario: %v", runFormatV1, err)
	}
	var cluster map[string]json.RawMessage
	if err := json.Unmarshal(scn["kv"], &cluster); err != nil {
		return nil, fmt.Errorf("%s description: scenario.kv: %v", runFormatV1, err)
	}
	work, ok := cluster["Workload"]
	if !ok {
		return nil, fmt.Errorf("%s description: scenario.kv has no Workload", runFormatV1)
	}
	delete(cluster, "Workload")
	var err error
	if scn["kv"], err = json.Marshal(cluster); err != nil {
		return nil, err
	}
	scn["workload"] = work
	if top["scenario"], err = json.Marshal(scn); err != nil {
		return nil, err
	}
	if top["format"], err = json.Marshal(RunFormat); err != nil {
		return nil, err
	}
	return json.Marshal(top)
}

// Replay re-runs the run a trace file records and checks that it reproduces the recorded trace
// hash. It returns the new outcome (with every check) and ErrHashMismatch, wrapped with both hashes,
// when the rerun diverges (a different version of the code, or a nondeterminism bug).
func Replay(path string, opt Options) (*Outcome, error) {
	th, records, err := readRunTrace(path)
	if err != nil {
		return nil, err
	}
	spec := th.RunSpec
	out, err := Run(spec.Scenario, spec.Seed, opt)
	if err != nil {
		return nil, err
	}
	if recorded := trace.Hash(records); recorded != out.Result.Hash {
		return out, fmt.Errorf("%w: %s records hash %016x, the rerun gives %016x (%s)",
			ErrHashMismatch, path, recorded, out.Result.Hash, versionNote(th.RecordedBy, BuildVersion()))
	}
	return out, nil
}

// WriteReport writes the run's report directory (see linearizability.WriteReport): the porcupine
// visualization with fault, view and state-flush annotations, the trace (which replays the run), the
// history, the violations, a summary and the replay command. It returns the trace file's path.
func (o *Outcome) WriteReport(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if !o.FullTrace {
		if o.Spec.Source != sourcePRNG {
			return "", fmt.Errorf("report: %w, and the run kept only the checkers' records", ErrNotReplayable)
		}
		full, err := Run(o.Spec.Scenario, o.Spec.Seed, Options{FullTrace: true})
		if err != nil {
			return "", err
		}
		if full.Result.Hash != o.Result.Hash {
			return "", fmt.Errorf("report: %w: re-running seed %d with the full trace gave %016x, the run gave %016x (nondeterminism)",
				ErrHashMismatch, o.Spec.Seed, full.Result.Hash, o.Result.Hash)
		}
		o = full
	}
	tracePath := filepath.Join(dir, linearizability.ReportTraceFile)
	names := map[int32]string{}
	for i := 0; i < kv.Nodes(o.Drawn.KV); i++ {
		names[int32(i)] = kv.NodeName(o.Drawn.KV, protocol.NodeID(i))
	}
	names[finalReader(o.Drawn.KV)] = "final reads"
	cfg := o.Drawn.KV
	history := append(slices.Clone(o.History), o.FinalReads...)
	// The report's history holds the lock clients' operations too, judged by their own verdict.
	reported := append(slices.Clone(history), o.LockHistory...)
	in := linearizability.ReportInput{
		Description:      o.Banner(),
		ReplayCommand:    o.ReplayCommand(tracePath),
		ReplayScript:     replayScript(moduleRoot(), executable()),
		Records:          o.Records,
		TraceDescription: o.TraceHeader(),
		History:          reported,
		Violations:       o.Violations,
		NodeNames:        names,
		Scenario:         o.Drawn.Name,
		Seed:             fmt.Sprint(o.Spec.Seed),
		Mutants:          o.Drawn.MutantNames(),
		Holdings:         o.Holdings,
		BucketOf:         func(key string) int { return kv.BucketOf(key, cfg.Buckets) },
		Diagram: func(key string, write *linearizability.Operation) ([]byte, error) {
			d, err := spacetime.Build(spacetime.Input{Records: o.Records, History: history, Config: cfg, Key: key, Write: write})
			if err != nil {
				return nil, err
			}
			return d.SVG(fmt.Sprintf("Key %s, bucket %d: the write followed and the read that shows it", d.Key(), d.Bucket()))
		},
	}
	if o.Verdict.Result != "" {
		in.Verdicts = []linearizability.Verdict{o.Verdict}
	}
	if o.LockVerdict.Result != "" {
		in.Verdicts = append(in.Verdicts, o.LockVerdict)
	}
	return tracePath, linearizability.WriteReport(dir, in)
}

// replayScript is replay.sh: it replays the trace beside it, from any directory, in the
// stateflush module the report was written from (the code that recorded the trace), else with the
// binary that wrote it, else with a stateflush binary on PATH. Extra arguments go to replay.
func replayScript(module, binary string) string {
	return `#!/bin/sh
# Reproduces the run this report describes: replays trace.jsonl (beside this script) and checks its
# hash. Works from any directory. Extra arguments go to 'stateflush replay'.
set -e
here=$(cd "$(dirname "$0")" && pwd)
module=` + shellQuote(module) + `
binary=` + shellQuote(binary) + `
if [ -n "$module" ] && [ -f "$module/go.mod" ]; then
	cd "$module"
	exec go run ./cmd/stateflush replay "$here/` + linearizability.ReportTraceFile + `" "$@"
fi
if [ -n "$binary" ] && [ -x "$binary" ]; then
	exec "$binary" replay "$here/` + linearizability.ReportTraceFile + `" "$@"
fi
if command -v stateflush >/dev/null 2>&1; then
	exec stateflush replay "$here/` + linearizability.ReportTraceFile + `" "$@"
fi
echo "replay.sh: found neither the stateflush module (${module:-not recorded}) nor a stateflush binary on PATH" >&2
exit 1
`
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// executable is the stateflush command that is running, "" when this is not one (a test binary,
// or one that go run has built in a directory it removes).
func executable() string {
	exe, err := os.Executable()
	if err != nil || strings.HasSuffix(exe, ".test") || strings.Contains(exe, "go-build") {
		return ""
	}
	return exe
}

// moduleRoot is the stateflush module directory that contains the working directory, "" when
// there is none (a binary run elsewhere).
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/stateflush/stateflush\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// ErrPartialTrace is returned by WriteTrace for an outcome that kept only the checkers' records.
var ErrPartialTrace = errors.New("the run kept only the checkers' records: run it with Options.FullTrace to write its trace")

// WriteTrace writes the run's full trace, with the run spec in its header, so that the file replays
// on its own (Replay, `stateflush replay FILE`).
func (o *Outcome) WriteTrace(path string) error {
	if !o.FullTrace {
		return ErrPartialTrace
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := trace.Write(f, trace.Header{Version: trace.Version, Description: o.TraceHeader()}, o.Records); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// KillsDescription counts the run's crashes by the nemesis that caused them (the crash record's
// action: the chaos monkey's kills, the source-bounce nemesis's kills of image sources, scripted
// crashes), e.g. "15 kills (6 by chaos-monkey, 9 by source-watch)". It reads the trace, which
// keeps every crash in both trace modes.
func (o *Outcome) KillsDescription() string {
	var causes []string
	counts := map[string]int{}
	total := 0
	for i := range o.Records {
		r := &o.Records[i]
		if r.Kind != trace.KindCrash {
			continue
		}
		cause := linearizability.CrashCause(r)
		if cause == "" {
			cause = "unlabelled"
		}
		if counts[cause] == 0 {
			causes = append(causes, cause)
		}
		counts[cause]++
		total++
	}
	text := fmt.Sprintf("%d kills", total)
	if total == 1 {
		text = "1 kill"
	}
	if total == 0 {
		return text
	}
	parts := make([]string, len(causes))
	for i, c := range causes {
		parts[i] = fmt.Sprintf("%d by %s", counts[c], c)
	}
	return text + " (" + strings.Join(parts, ", ") + ")"
}
