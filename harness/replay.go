package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/trace"
)

// ErrHashMismatch is returned by Replay when re-running a trace's spec does not reproduce its hash.
var ErrHashMismatch = errors.New("trace hash mismatch")

// ErrNotARunTrace is returned for a trace file whose header does not describe a harness run.
var ErrNotARunTrace = errors.New("trace header does not describe a stateflush run")

// ReadRunTrace reads a trace file written by the harness and the run spec in its header.
func ReadRunTrace(path string) (RunSpec, []trace.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return RunSpec{}, nil, err
	}
	defer f.Close()
	header, records, err := trace.Read(f)
	if err != nil {
		return RunSpec{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	var th traceHeader
	dec := json.NewDecoder(bytes.NewReader(header.Description))
	dec.DisallowUnknownFields()
	err = dec.Decode(&th)
	spec := th.RunSpec
	if err != nil {
		return RunSpec{}, nil, fmt.Errorf("%s: %w: %v", path, ErrNotARunTrace, err)
	}
	if spec.Format != RunFormat {
		return RunSpec{}, nil, fmt.Errorf("%s: %w: format %q, this version reads %q", path, ErrNotARunTrace, spec.Format, RunFormat)
	}
	if spec.Source != sourcePRNG {
		return RunSpec{}, nil, fmt.Errorf("%s: %w", path, ErrNotReplayable)
	}
	if err := spec.Scenario.Validate(); err != nil {
		return RunSpec{}, nil, fmt.Errorf("%s: recorded scenario is invalid: %w", path, err)
	}
	return spec, records, nil
}

// Replay re-runs the run a trace file records and checks that it reproduces the recorded trace
// hash. It returns the new outcome (with every check) and ErrHashMismatch, wrapped with both hashes,
// when the rerun diverges (a different version of the code, or a nondeterminism bug).
func Replay(path string, opt Options) (*Outcome, error) {
	spec, records, err := ReadRunTrace(path)
	if err != nil {
		return nil, err
	}
	out, err := Run(spec.Scenario, spec.Seed, opt)
	if err != nil {
		return nil, err
	}
	if recorded := trace.Hash(records); recorded != out.Result.Hash {
		return out, fmt.Errorf("%w: %s records hash %016x, the rerun gives %016x (recorded by a different version of stateflush?)",
			ErrHashMismatch, path, recorded, out.Result.Hash)
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
	for i := 0; i < o.Drawn.KV.Servers+o.Drawn.KV.Clients; i++ {
		names[int32(i)] = kv.NodeName(o.Drawn.KV, protocol.NodeID(i))
	}
	in := linearizability.ReportInput{
		Description:      o.Banner(),
		ReplayCommand:    o.ReplayCommand(tracePath),
		Records:          o.Records,
		TraceDescription: o.TraceHeader(),
		History:          append(slices.Clone(o.History), o.FinalReads...),
		Violations:       o.Violations,
		NodeNames:        names,
	}
	if o.Verdict.Result != "" {
		in.Verdicts = []linearizability.Verdict{o.Verdict}
	}
	return tracePath, linearizability.WriteReport(dir, in)
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
