package main

import (
	"fmt"
	"time"

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
Without --out the directory is ./stateflush-out/<scenario>-seed<N>[-<mutants>]. On a terminal a
status line on stderr shows the run's progress (virtual time of the fault phase, then checking).
Exit code: 0 pass, 1 violation, 3 unknown (see 'stateflush --help').`,
	examples: `  stateflush run --seed 7
  stateflush run --scenario small --seed 4 --mutant no-mitt
  stateflush run --seed 56 --mutant no-mitt --out /tmp/no-mitt-56
  stateflush run --scenario steady-monkey --seed 3 --clients 2 --ops-per-client 40 --swarm=false
  stateflush run --seed 7 --json        # the sweep's JSON line for this seed
  stateflush run --seed 1 --mutant no-mitt --shrink 40 --out /tmp/no-mitt-1
`,
}

// runOne is `stateflush run`.
func runOne(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush run")
	scnFlags := addScenarioFlags(fs, true, "")
	seed := fs.Uint64("seed", 1, "the `seed`: every random choice of the run derives from it")
	out := fs.String("out", "", "report `directory`, written even when the run passes (default: ./stateflush-out/<run name> when it fails)")
	asJSON := fs.Bool("json", false, "print the run's sweep result as one JSON line instead of the report text")
	shrinkTries := fs.Int("shrink", 0, "when the run fails, shrink it with at most this many `runs` (fewer clients, operations, nemeses, a shorter safety phase; any failure, a local code change's included) and write the smaller run's report, whose trace replays it, to <report>-shrunk; 0: no shrinking")
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
	if *shrinkTries < 0 {
		return 0, badInput("--shrink %d: must be 0 (no shrinking) or a number of runs", *shrinkTries)
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
	status := newRunStatus(s.stderr, fmt.Sprintf("seed %d", *seed))
	o, err := harness.Run(scn, *seed, harness.Options{CheckBudget: *budget, Progress: status.update})
	status.clear()
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
	if *shrinkTries > 0 && failed(o.Final) {
		w := s.stdout
		if *asJSON {
			w = s.stderr
		}
		start := time.Now()
		shrunk := harness.Shrink(o, *shrinkTries)
		if shrunk.Outcome == o {
			fmt.Fprintf(w, "\nshrinking: no smaller run fails the same checks (%s, %v)\n", count(shrunk.Tries, "run", "runs"), time.Since(start).Round(time.Millisecond))
		} else {
			fmt.Fprintf(w, "\nshrunk in %s (%v) from %s to %s:\n", count(shrunk.Tries, "run", "runs"), time.Since(start).Round(time.Millisecond),
				count(len(o.History), "client op", "client ops"), count(len(shrunk.Outcome.History), "client op", "client ops"))
			printOutcome(w, shrunk.Outcome)
			if err := writeReport(w, shrunk.Outcome, dir+"-shrunk"); err != nil {
				return 0, err
			}
		}
	}
	return outcomeExitCode(o.Final), nil
}
