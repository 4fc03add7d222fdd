package main

import (
	"fmt"

	"github.com/stateflush/stateflush/harness"
)

var runHelpText = help{
	usage: "stateflush run [flags]",
	about: `Runs one seed of a scenario and prints its full report: the banner with every drawn parameter and
the replay command, the verdict and the violations. When the run fails (or with --out) it writes
the report directory: index.html (the report page: what failed, then per failing key its
operations by client, faults, views, primaries, copies, final state and space-time diagram),
porcupine.html (porcupine's visualization of the illegal keys), trace.jsonl (replays the run),
history.json, violations.json, summary.txt, replay.sh (works from any directory).
Without --out the directory is ./stateflush-out/<scenario>-seed<N>[-<mutants>].
Exit code: 0 pass, 1 violation, 3 unknown (see 'stateflush --help').`,
	examples: `  stateflush run --seed 7
  stateflush run --scenario small --seed 4 --mutant no-mitt
  stateflush run --seed 56 --mutant no-mitt --out /tmp/no-mitt-56
  stateflush run --scenario steady-monkey --seed 3 --clients 2 --ops-per-client 40 --swarm=false
  stateflush run --seed 7 --json        # the sweep's JSON line for this seed
`,
}

// runOne is `stateflush run`.
func runOne(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush run")
	scnFlags := addScenarioFlags(fs, true, "")
	seed := fs.Uint64("seed", 1, "the `seed`: every random choice of the run derives from it")
	out := fs.String("out", "", "report `directory`, written even when the run passes (default: ./stateflush-out/<run name> when it fails)")
	asJSON := fs.Bool("json", false, "print the run's sweep result as one JSON line instead of the report text")
	budget := addBudgetFlag(fs)
	positional, err := parseFlags(s, fs, runHelpText, args)
	if err != nil {
		return 0, err
	}
	if err := noPositional(fs, positional); err != nil {
		return 0, err
	}
	if err := validateBudget(*budget); err != nil {
		return 0, err
	}
	// Without --out the report is written only when the run fails, so a passing run may run where
	// nothing can be written: only an explicit --out is checked first.
	if *out != "" {
		if err := checkOutputDir("--out", *out); err != nil {
			return 0, err
		}
	}
	scn, err := scnFlags.scenario()
	if err != nil {
		return 0, err
	}
	o, err := harness.Run(scn, *seed, harness.Options{CheckBudget: *budget})
	if err != nil {
		return 0, fmt.Errorf("seed %d: %w", *seed, err)
	}
	if *asJSON {
		if err := harness.WriteSeedResult(s.stdout, o.SeedResult()); err != nil {
			return 0, err
		}
	} else {
		printOutcome(s.stdout, o)
	}
	dir := *out
	if dir == "" && failed(o.Final) {
		dir = defaultReportDir(scn, *seed)
	}
	if dir != "" {
		// With --json stdout carries only the JSON line; where the report went is for stderr.
		w := s.stdout
		if *asJSON {
			w = s.stderr
		}
		if err := writeReport(w, o, dir); err != nil {
			return 0, err
		}
	}
	return outcomeExitCode(o.Final), nil
}
