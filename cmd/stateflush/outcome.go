package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
)

// outputRoot is where reports go unless --out says otherwise.
const outputRoot = "stateflush-out"

// maxViolationsShown bounds the violations printed; the report has them all.
const maxViolationsShown = 10

// printOutcome writes a run's banner (every drawn parameter and the replay command), its verdict
// and what the checks found.
func printOutcome(w io.Writer, o *harness.Outcome) {
	fmt.Fprintln(w, o.Banner())
	if !replayCommandReproduces(o) {
		fmt.Fprintf(w, "  (the replay line above does not rebuild this run's scenario, whose parameters are not all\n"+
			"  command-line flags: replay it exactly from its trace file, as the report's replay.sh does)\n")
	}
	fmt.Fprintf(w, "verdict: %s", o.Final)
	if len(o.CaughtBy) > 0 {
		fmt.Fprintf(w, " (caught by %s)", strings.Join(o.CaughtBy, ", "))
	}
	fmt.Fprintln(w)
	r := o.SeedResult()
	fmt.Fprintf(w, "  %s (%d of unknown outcome), %s, %s created, ended %s at %s after %s, trace hash %s\n",
		count(r.ClientOps, "client op", "client ops"), r.UnknownOps, o.KillsDescription(), count(r.CopiesCreated, "copy", "copies"),
		r.End, protocol.Readable(protocol.Duration(r.VirtualTimeUS)), count(int(r.Steps), "step", "steps"), r.Hash)
	if mutants := o.Drawn.KV.Mutants.List(); len(mutants) > 0 && r.CopiesCreated == 0 {
		// Every mutant changes how a copy is created: a run without one cannot show it.
		fmt.Fprintf(w, "  warning: this run created no copy, so mutant %s never acted: its pass says nothing about the mutant\n", o.Drawn.KV.Mutants)
	}
	if o.Verdict.Result != "" {
		fmt.Fprintf(w, "  linearizability: %s\n", o.Verdict)
	}
	if o.LockVerdict.Result != "" {
		fmt.Fprintf(w, "  locks: %s, linearizability: %s\n", count(len(o.LockHistory), "lock operation", "lock operations"), o.LockVerdict)
	}
	if len(o.LostBuckets) > 0 {
		fmt.Fprintf(w, "  lost buckets: %v\n", o.LostBuckets)
	}
	if len(o.Violations) > 0 {
		fmt.Fprintf(w, "%s:\n", count(len(o.Violations), "violation", "violations"))
		for i, v := range o.Violations {
			if i == maxViolationsShown {
				fmt.Fprintf(w, "  ... and %d more (see the report's %s)\n", len(o.Violations)-i, linearizability.ReportViolationsFile)
				break
			}
			fmt.Fprintf(w, "  %s\n", v)
		}
	}
}

// replayCommandReproduces reports whether the `run` command harness prints for o rebuilds o's
// scenario and seed exactly through this command's flags. A shrunk run is not built in: its nemeses
// are the swarm's draws and its safety phase may not be whole milliseconds, which no flag expresses.
func replayCommandReproduces(o *harness.Outcome) bool {
	const prefix = "go run ./cmd/stateflush run "
	command := o.ReplayCommand("")
	if !strings.HasPrefix(command, prefix) || strings.Contains(command, "#") {
		return false
	}
	fs := newFlagSet("stateflush run")
	scnFlags := addScenarioFlags(fs, true, "")
	seed := fs.Uint64("seed", 0, "")
	if err := fs.Parse(strings.Fields(strings.TrimPrefix(command, prefix))); err != nil || fs.NArg() > 0 {
		return false
	}
	scn, err := scnFlags.scenario()
	return err == nil && *seed == o.Spec.Seed && reflect.DeepEqual(scn, o.Spec.Scenario)
}

// outcomeExitCode maps a run's verdict to the exit code. Data loss in a scenario that expects it is
// not a bug of the protocol (the check that it was expected is harness's), so it exits 0.
func outcomeExitCode(v harness.Verdict) int {
	switch v {
	case harness.VerdictViolation, harness.VerdictCrash:
		return exitViolation
	case harness.VerdictUnknown:
		return exitUnknown
	}
	return exitPass
}

// failed reports verdicts a sweep counts as failures on its progress bar.
func failed(v harness.Verdict) bool {
	return v.Found() || v == harness.VerdictUnknown
}

// runName names a run for its report directory: scenario, seed, strategy when not the default,
// and mutants, e.g. "steady-monkey-seed56-no-mitt".
func runName(scn harness.Scenario, seed uint64) string {
	name := fmt.Sprintf("%s-seed%d", scn.Name, seed)
	if scn.KV.Strategy != kv.StateFlush {
		name += "-" + scn.KV.Strategy.String()
	}
	if names := scn.MutantNames(); names != "" {
		name += "-" + strings.ReplaceAll(names, ",", "+")
	}
	return name
}

// defaultReportDir is where a run's report goes without --out.
func defaultReportDir(scn harness.Scenario, seed uint64) string {
	return filepath.Join(outputRoot, runName(scn, seed))
}

// writeReport writes the run's report directory and tells the user where it is and how to replay
// it exactly from its trace.
func writeReport(w io.Writer, o *harness.Outcome, dir string) error {
	tracePath, err := o.WriteReport(dir)
	if err != nil {
		return fmt.Errorf("writing the report to %s: %w", dir, err)
	}
	fmt.Fprintf(w, "report: %s (open %s in a browser)\n", dir, filepath.Join(dir, linearizability.ReportPageFile))
	fmt.Fprintf(w, "replay exactly: %s\n", o.ReplayCommand(tracePath))
	return nil
}

// tallyLine is the Tally in words (data-loss seeds included) with the checks that caught violations.
func tallyLine(t harness.Tally) string {
	s := t.String()
	if len(t.ByCheck) > 0 {
		var parts []string
		for _, check := range slices.Sorted(maps.Keys(t.ByCheck)) {
			parts = append(parts, fmt.Sprintf("%s %d", check, t.ByCheck[check]))
		}
		s += "; caught by " + strings.Join(parts, ", ")
	}
	return s
}

// tallyExitCode: any violation is 1, otherwise any unknown is 3, otherwise 0.
func tallyExitCode(t harness.Tally) int {
	switch {
	case t.Violation > 0 || t.Crash > 0:
		return exitViolation
	case t.Unknown > 0:
		return exitUnknown
	}
	return exitPass
}

// readableFile checks that a file argument exists and is a regular file, so that a missing file is
// reported as bad input with its name.
func readableFile(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return asBadInput(err)
	}
	if info.IsDir() {
		return badInput("%s is a directory, not a file", path)
	}
	return nil
}
