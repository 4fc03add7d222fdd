package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
)

// defaultMutant is the mutant the default job shows being caught. no-mitt (the new copy ignores
// writes that reach it while it is being filled) is the heart of the flush's correctness and among
// the mutants the default scenario catches most often (see stateflush mutants --full), so that the
// default budget of seeds catches it.
const defaultMutant = "no-mitt"

// defaultShrinkTries bounds the runs spent shrinking the counterexample; the default scenario's
// runs take tens of milliseconds, so the shrink takes a few seconds.
const defaultShrinkTries = 100

// rootHelp is the help of stateflush itself: the default job's flags, the subcommands and the exit
// codes. It is built when asked for because the list of subcommands refers back to the default job.
func rootHelp() help {
	var subcommands strings.Builder
	tw := tabwriter.NewWriter(&subcommands, 0, 8, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	return help{
		usage: "stateflush [flags]\n       stateflush SUBCOMMAND [flags] [ARGS]",
		about: `stateflush tests the state flush operation (creating a new copy of a data bucket without blocking
writes) in a deterministic simulator under the chaos monkey, checks linearizability and the store's
invariants, and reports failures with a replay command.

With no subcommand it runs the default job: a sweep of --seeds seeds of the default scenario with the
correct protocol, then with --mutant (a deliberately broken variant); it prints the scenario, the
verdicts of each, and the mutant's first counterexample shrunk to a smaller run, and writes that
counterexample's report directory (--out). It exits 0 when the correct protocol passed every seed
and the checks caught the mutant: the expected result. It takes well under a minute on 2 cores.

SUBCOMMANDS (stateflush SUBCOMMAND --help for each)
` + subcommands.String() + `
The flags below are the default job's. The scenario flags change the scenario in run, sweep and
mutants too: they are the flags of every printed replay command.`,
		examples: `  stateflush                                  # the default job
  stateflush --mutant skip-flush --seeds 400  # another mutant, more seeds
  stateflush --scenario small --seeds 300
  stateflush run --seed 56 --mutant no-mitt
  stateflush sweep --seeds 1000 --out sweep.jsonl
  stateflush replay stateflush-out/steady-monkey-seed56-no-mitt/trace.jsonl
  stateflush mutants --seeds 200
  stateflush help sweep
  stateflush --version
`,
		extra: exitCodesHelp,
	}
}

// runDemo is the default job (stateflush with no subcommand).
func runDemo(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush")
	scnFlags := addScenarioFlags(fs, true, defaultMutant)
	rangeFlags := addSweepRangeFlags(fs, 200)
	out := fs.String("out", "", "report `directory` of the shrunk counterexample (default: ./stateflush-out/<run name>-shrunk)")
	shrinkTries := fs.Int("shrink-tries", defaultShrinkTries, "`runs` spent shrinking the mutant's counterexample: seeds per small workload searched, then runs cutting it down (0: no shrinking)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	budget := addBudgetFlag(fs)
	version := fs.Bool("version", false, "print the module version and VCS revision of this build and exit")
	positional, err := parseFlags(s, fs, rootHelp(), args)
	if err != nil {
		return 0, err
	}
	if *version {
		fmt.Fprintln(s.stdout, buildVersion())
		return exitPass, nil
	}
	if len(positional) > 0 {
		return 0, badInput("unexpected argument %q: a subcommand comes before its flags (see 'stateflush --help')", positional[0])
	}
	if err := rangeFlags.validate(); err != nil {
		return 0, err
	}
	if err := validateBudget(*budget); err != nil {
		return 0, err
	}
	if *shrinkTries < 0 {
		return 0, badInput("--shrink-tries %d: must be at least 0", *shrinkTries)
	}
	if err := checkReportDir(*out); err != nil {
		return 0, err
	}
	mutated, err := scnFlags.scenario()
	if err != nil {
		return 0, err
	}
	if mutated.KV.Mutants.Len() == 0 {
		return 0, badInput("--mutant is empty: the default job compares the correct protocol with a mutant (known: %s)", strings.Join(kv.MutantNames(), ", "))
	}
	correct := mutated
	correct.KV.Mutants = 0
	seeds := harness.AllSeeds.Seeds(rangeFlags.firstSeed, rangeFlags.seeds)

	w := s.stdout
	baseline := baselineName(correct.KV.Strategy)
	fmt.Fprintf(w, "stateflush: %s (%d..%d) of %s and of mutant %s, on %s\n",
		count(len(seeds), "seed", "seeds"), seeds[0], seeds[len(seeds)-1], baseline, mutated.KV.Mutants, workersText(rangeFlags.workers))
	describeScenario(w, mutated)
	fmt.Fprintln(w)

	// The correct protocol: every seed must pass.
	correctTally, correctFailures, err := demoSweep(s, *quiet, sweepSpec{scenario: correct, seeds: seeds, workers: rangeFlags.workers, budget: *budget}, strings.TrimPrefix(baseline, "the "))
	if err != nil {
		return 0, err
	}
	// The mutant: the checks must catch it on some seed; its first violation is kept.
	var first *harness.Outcome
	mutantTally, _, err := demoSweep(s, *quiet, sweepSpec{scenario: mutated, seeds: seeds, workers: rangeFlags.workers, budget: *budget, keepViolations: true},
		"mutant "+mutated.KV.Mutants.String(), func(r seedRun) {
			if first == nil && r.outcome != nil {
				first = r.outcome
			}
		})
	if err != nil {
		return 0, err
	}
	printFailures(w, correctFailures)

	if first != nil {
		counterexample := first
		fmt.Fprintf(w, "\nfirst counterexample: seed %d, caught by %s, %s\n", first.Spec.Seed, strings.Join(first.CaughtBy, ", "), count(len(first.History), "client op", "client ops"))
		if *shrinkTries > 0 {
			// A small run found by searching seeds (at most 30 client operations, replayable from
			// flags) beats the large run cut down; cut it down only when the search finds none.
			start := time.Now()
			if small := harness.SearchSmall(first, harness.SmallCounterexampleOps, *shrinkTries); small != nil {
				counterexample = small
				fmt.Fprintf(w, "shrunk (a search of small workloads, %v) to %s:\n", time.Since(start).Round(time.Millisecond), count(len(counterexample.History), "client op", "client ops"))
			} else {
				shrunk := harness.Shrink(first, *shrinkTries)
				counterexample = shrunk.Outcome
				fmt.Fprintf(w, "shrunk in %s (%v) to %s:\n", count(shrunk.Tries, "run", "runs"), time.Since(start).Round(time.Millisecond), count(len(counterexample.History), "client op", "client ops"))
			}
		}
		printOutcome(w, counterexample)
		dir := *out
		if dir == "" {
			dir = defaultReportDir(counterexample.Spec.Scenario, counterexample.Spec.Seed) + "-shrunk"
		}
		if err := writeReport(w, counterexample, dir); err != nil {
			return 0, err
		}
	}

	fmt.Fprintln(w)
	switch {
	case correctTally.Violation > 0 && correctTally.Crash == 0 && correct.KV.Strategy == kv.Naive:
		fmt.Fprintf(w, "result: %s failed a check on %d of %d seeds, as it is built to: it copies without the flush, so it is no correct baseline to catch a mutant against (use --strategy %s or %s) (exit 1)\n",
			baseline, correctTally.Violation, correctTally.Seeds, kv.StateFlush, kv.Blocking)
		return exitViolation, nil
	case correctTally.Violation+correctTally.Crash > 0:
		fmt.Fprintf(w, "result: %s FAILED on %d of %d seeds: a bug (exit 1)\n", baseline, correctTally.Violation+correctTally.Crash, correctTally.Seeds)
		return exitViolation, nil
	case correctTally.Unknown > 0:
		fmt.Fprintf(w, "result: %s had no violation but %d checks ran out of time: inconclusive (exit 3)\n", baseline, correctTally.Unknown)
		return exitUnknown, nil
	case mutantTally.Violation == 0:
		fmt.Fprintf(w, "result: %s passed every seed, but the checks did not catch mutant %s in %s: try more --seeds (exit 3)\n", baseline, mutated.KV.Mutants, count(mutantTally.Seeds, "seed", "seeds"))
		return exitUnknown, nil
	}
	fmt.Fprintf(w, "result: as expected: %s passed every seed and the checks caught mutant %s on %d of %s (exit 0)\n",
		baseline, mutated.KV.Mutants, mutantTally.Violation, count(mutantTally.Seeds, "seed", "seeds"))
	return exitPass, nil
}

// demoSweep runs one sweep of the default job and prints its tally; also, when given, sees every
// result in seed order. It returns the tally and the failing seeds.
func demoSweep(s *streams, quiet bool, spec sweepSpec, label string, also ...func(seedRun)) (harness.Tally, []seedRun, error) {
	var tally harness.Tally
	var failures []seedRun
	bar := newProgress(s.stderr, quiet, len(spec.seeds), label)
	if len(spec.scenario.KV.Mutants.List()) > 0 {
		bar.mutant()
	}
	start := time.Now()
	_, err := runSeeds(nil, spec, bar, func(r seedRun) error {
		tally.Add(r.result)
		if failed(r.result.Verdict) {
			// Without the outcome: the list must not hold every failing run's trace.
			failures = append(failures, seedRun{result: r.result, replay: r.replay})
		}
		for _, f := range also {
			f(r)
		}
		return nil
	})
	bar.finish()
	if err != nil {
		return tally, nil, err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(s.stdout, "%-28s %s  [%v, %.0f seeds/s]\n", label+":", tallyLine(tally), elapsed.Round(time.Millisecond), seedsPerSecond(tally.Seeds, elapsed))
	return tally, failures, nil
}

// describeScenario prints what a scenario runs: cluster, workload, phases and nemeses. Each seed's
// own banner (run, replay) shows the nemeses the swarm drew for it.
func describeScenario(w io.Writer, scn harness.Scenario) {
	k := scn.KV
	fmt.Fprintf(w, "scenario %s: %s\n", scn.Name, scn.Description)
	fmt.Fprintf(w, "  cluster: %d servers, %d clients, %d buckets, redundancy %d, strategy %s, source %s, %d ops over %d keys\n",
		k.Servers, k.Clients, k.Buckets, k.Redundancy, k.Strategy, k.SourceChoice, scn.ClientOps(), scn.Workload.Keys)
	fmt.Fprintf(w, "  phases: safety %v then quiesce within %v; link latency %s min %dµs mean %dµs max %dµs\n",
		protocol.Readable(scn.SafetyPhase), protocol.Readable(scn.QuiesceBudget), scn.Latency.Kind, scn.Latency.Min, scn.Latency.Mean, scn.Latency.Max)
	swarm := ""
	if scn.Swarm {
		swarm = " (swarm: per seed, each is on with probability 1/2 and its rate scaled by 1/4 to 2)"
	}
	fmt.Fprintf(w, "  nemeses%s: %s\n", swarm, scn.Nemeses.Describe())
}

// baselineName names the run without mutants for the default job's text: the protocol under study
// is "the correct protocol"; the naive strategy is incorrect on purpose and must not be called so.
func baselineName(strategy kv.Strategy) string {
	switch strategy {
	case kv.StateFlush:
		return "the correct protocol"
	case kv.Naive:
		return "the naive strategy (no flush: incorrect on purpose)"
	}
	return fmt.Sprintf("the correct protocol (strategy %s)", strategy)
}
