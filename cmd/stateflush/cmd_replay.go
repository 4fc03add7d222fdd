package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/sim/trace"
)

var replayHelpText = help{
	usage: "stateflush replay [flags] FILE",
	about: `Reruns the run a trace file records (trace.jsonl of a report directory: its header holds the
scenario and seed), checks that the rerun reproduces the trace hash in the file, prints the verdict
and the violations and writes the rerun's report directory (default
./stateflush-out/<run name>-replay; never the directory holding FILE).
A rerun that does not reproduce the recorded hash (the file was edited, was recorded by another
build of stateflush, or the simulation is not deterministic) is exit 4: its verdict is printed and
its report written for comparison, but it is not the recorded run's.
Exit code: 0 pass, 1 violation, 3 unknown, 2 unreadable or malformed file, 4 hash mismatch.`,
	examples: `  stateflush replay stateflush-out/steady-monkey-seed56-no-mitt/trace.jsonl
  stateflush replay traces/no-mitt.seed158.jsonl --out /tmp/replayed
  stateflush replay trace.jsonl --budget 1m
`,
}

// runReplay is `stateflush replay FILE`.
func runReplay(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush replay")
	out := fs.String("out", "", "report `directory` (default: ./stateflush-out/<run name>-replay)")
	budget := addBudgetFlag(fs)
	files, err := parseFlags(s, fs, replayHelpText, args)
	if err != nil {
		return 0, err
	}
	if len(files) != 1 {
		return 0, badInput("want exactly one trace file, got %d arguments (see 'stateflush replay --help')", len(files))
	}
	path := files[0]
	if err := validateBudget(*budget); err != nil {
		return 0, err
	}
	if err := readableFile(path); err != nil {
		return 0, err
	}
	if *out != "" && sameDir(*out, filepath.Dir(path)) {
		return 0, badInput("--out %s holds the trace being replayed: choose another directory", *out)
	}
	if err := checkReportDir(*out); err != nil {
		return 0, err
	}
	// Reading the file first tells a file cut at a line boundary (which still parses) from a run
	// that diverges: Replay reads it again, which costs little beside the run.
	_, recorded, err := harness.ReadRunTrace(path)
	if err != nil {
		// Unreadable, malformed, truncated inside a line, another format version, not a harness
		// run, or a recorded scenario that cannot run.
		return 0, asBadInput(err)
	}
	if len(recorded) == 0 {
		return 0, badInput("%s: no records after the header: the file is truncated", path)
	}
	// The full trace, for the report and for comparing the rerun with the file record by record.
	status := newRunStatus(s.stderr, "replay")
	o, replayErr := harness.Replay(path, harness.Options{CheckBudget: *budget, FullTrace: true, Progress: status.update})
	status.clear()
	mismatch := errors.Is(replayErr, harness.ErrHashMismatch)
	if replayErr != nil && !mismatch {
		return 0, asBadInput(replayErr)
	}
	if mismatch && len(recorded) < len(o.Records) && trace.Hash(o.Records[:len(recorded)]) == trace.Hash(recorded) {
		return 0, badInput("%s: the file is truncated: its %d records are the start of the run's %d", path, len(recorded), len(o.Records))
	}
	if mismatch {
		fmt.Fprintf(s.stdout, "THE RERUN DOES NOT REPRODUCE THE RECORDING: %s\nthe rerun:\n", oneLine(replayErr.Error()))
	}
	printOutcome(s.stdout, o)
	if !mismatch {
		fmt.Fprintf(s.stdout, "trace hash %016x matches the recording\n", o.Result.Hash)
	}
	dir := *out
	if dir == "" {
		dir = defaultReportDir(o.Spec.Scenario, o.Spec.Seed) + "-replay"
	}
	if sameDir(dir, filepath.Dir(path)) {
		fmt.Fprintf(s.stdout, "report: not written: %s holds the trace being replayed (use --out)\n", dir)
	} else if err := writeReport(s.stdout, o, dir); err != nil {
		return 0, err
	}
	if mismatch {
		return 0, &exitError{code: exitInternal, err: replayErr}
	}
	return outcomeExitCode(o.Final), nil
}

// sameDir reports whether two paths name the same directory (as far as absolute paths tell).
func sameDir(a, b string) bool {
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}
