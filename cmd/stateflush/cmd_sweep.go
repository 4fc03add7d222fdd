package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/stateflush/stateflush/harness"
)

var sweepHelpText = help{
	usage: "stateflush sweep [flags]",
	about: `Runs a range of seeds of one scenario on every core (one simulator per worker) and reports the
verdicts. Results come in seed order whatever the number of workers, as one JSON line per seed
(harness.SeedResult: no wall-clock values, so the same sweep gives the same bytes on any machine)
to --out FILE, or to stdout with --json. A summary (the tally of pass / violation / unknown and the
failing seeds with their replay commands) goes to stdout, or to stderr with --json. A progress bar
with seeds/s and failures so far shows on stderr when it is a terminal (--quiet hides it).

--shard i/n runs only seeds number i, i+n, i+2n, ... of the range (counting from 0), so that n
machines (a CI matrix, a Kubernetes Indexed Job, a Slurm array) share one sweep; 'stateflush merge'
combines their outputs into the same lines the whole sweep gives.
Exit code: 0 every seed passed, 1 some seed found a violation, 3 some check ran out of time.`,
	examples: `  stateflush sweep --seeds 1000
  stateflush sweep --seeds 200 --mutant no-mitt --out no-mitt.jsonl
  stateflush sweep --scenario small --seeds 500 --workers 1 --json > small.jsonl
  stateflush sweep --seeds 10000 --shard 3/8 --out shard-3.jsonl --quiet
  stateflush merge shard-*.jsonl --out sweep.jsonl
  stateflush sweep --seed 56 --mutant no-mitt --json      # a one-seed sweep
`,
}

// maxFailuresListed bounds the failing seeds the summary lists; the JSON lines have them all.
const maxFailuresListed = 20

// runSweep is `stateflush sweep`.
func runSweep(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush sweep")
	scnFlags := addScenarioFlags(fs, true, "")
	rangeFlags := addSweepRangeFlags(fs, 100)
	seed := fs.Uint64("seed", 0, "run this one `seed` only (instead of --first-seed and --seeds)")
	shardFlag := fs.String("shard", "", "run `shard` i/n of the seed range, e.g. 0/4 (seeds number i, i+n, ... counting from 0)")
	out := fs.String("out", "", "write the JSON lines to this `file`")
	asJSON := fs.Bool("json", false, "write the JSON lines to stdout (the summary goes to stderr)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	budget := addBudgetFlag(fs)
	positional, err := parseFlags(s, fs, sweepHelpText, args)
	if err != nil {
		return 0, err
	}
	if err := noPositional(fs, positional); err != nil {
		return 0, err
	}
	if isSet(fs, "seed") {
		for _, other := range []string{"shard", "seeds", "first-seed"} {
			if isSet(fs, other) {
				return 0, badInput("--seed and --%s conflict: --seed runs one seed, --%s describes a range", other, other)
			}
		}
		rangeFlags.firstSeed, rangeFlags.seeds = *seed, 1
	}
	if *asJSON && *out != "" {
		return 0, badInput("--json and --out conflict: the JSON lines go either to stdout (--json) or to a file (--out)")
	}
	if err := rangeFlags.validate(); err != nil {
		return 0, err
	}
	if err := validateBudget(*budget); err != nil {
		return 0, err
	}
	shard := harness.AllSeeds
	if *shardFlag != "" {
		if shard, err = harness.ParseShard(*shardFlag); err != nil {
			return 0, asBadInput(fmt.Errorf("--shard: %w", err))
		}
	}
	scn, err := scnFlags.scenario()
	if err != nil {
		return 0, err
	}
	seeds := shard.Seeds(rangeFlags.firstSeed, rangeFlags.seeds)
	if len(seeds) == 0 {
		return 0, badInput("--shard %s of %d seeds holds no seed", shard, rangeFlags.seeds)
	}

	// Where the JSON lines go, and where the words go.
	lines, summary, file, err := s.outputs(*asJSON, *out)
	if err != nil {
		return 0, err
	}
	if file != nil {
		defer file.abandon()
	}

	fmt.Fprintf(summary, "sweep: %s; seeds %d..%d", describeRun(scn), rangeFlags.firstSeed, rangeFlags.firstSeed+uint64(rangeFlags.seeds-1))
	if shard != harness.AllSeeds {
		fmt.Fprintf(summary, ", shard %s (%d seeds)", shard, len(seeds))
	}
	fmt.Fprintf(summary, " on %s\n", workersText(rangeFlags.workers))

	var tally harness.Tally
	var failures []seedRun
	bar := newProgress(s.stderr, *quiet, len(seeds), scn.Name)
	start := time.Now()
	err = runSeeds(sweepSpec{scenario: scn, seeds: seeds, workers: rangeFlags.workers, budget: *budget}, bar,
		func(r seedRun) error {
			tally.Add(r.result)
			if failed(r.result.Verdict) {
				failures = append(failures, r)
			}
			return harness.WriteSeedResult(lines, r.result)
		})
	bar.finish()
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}
	if file != nil {
		if err := file.close(); err != nil {
			return 0, err
		}
	}
	printFailures(summary, failures)
	fmt.Fprintf(summary, "%s\n", tallyLine(tally))
	fmt.Fprintf(summary, "%d seeds in %v: %.1f seeds/s on %s\n", tally.Seeds, elapsed.Round(time.Millisecond), seedsPerSecond(tally.Seeds, elapsed), workersText(rangeFlags.workers))
	if *out != "" {
		fmt.Fprintf(summary, "results: %s\n", *out)
	}
	return tallyExitCode(tally), nil
}

// outputs chooses where a command's JSON lines and its words go: with --json the lines go to
// stdout and the words to stderr; with --out the lines go to that file; otherwise only words, to
// stdout. The caller abandons the returned file (when not nil) on error paths and closes it at the end.
func (s *streams) outputs(asJSON bool, out string) (lines io.Writer, summary io.Writer, file *outputFile, err error) {
	switch {
	case asJSON:
		return s.stdout, s.stderr, nil, nil
	case out != "":
		if file, err = createOutput(out); err != nil {
			return nil, nil, nil, err
		}
		return file, s.stdout, file, nil
	}
	return io.Discard, s.stdout, nil, nil
}

// outputFile is the file --out names, buffered; close reports every write error.
type outputFile struct {
	*bufio.Writer
	file *os.File
}

func createOutput(path string) (*outputFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, asBadInput(fmt.Errorf("--out: %w", err))
	}
	return &outputFile{Writer: bufio.NewWriter(f), file: f}, nil
}

// close flushes and closes the file, naming it in any error.
func (o *outputFile) close() error {
	if err := o.Flush(); err != nil {
		o.file.Close()
		return fmt.Errorf("writing %s: %w", o.file.Name(), err)
	}
	if err := o.file.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", o.file.Name(), err)
	}
	return nil
}

// abandon closes the file on an error path (a no-op after close).
func (o *outputFile) abandon() { o.file.Close() }

// describeRun names what a sweep runs in one line: scenario, strategy and mutants.
func describeRun(scn harness.Scenario) string {
	mutants := "none (the correct protocol)"
	if scn.KV.Mutants.Len() > 0 {
		mutants = scn.KV.Mutants.String()
	}
	return fmt.Sprintf("scenario %s, strategy %s, mutants %s", scn.Name, scn.KV.Strategy, mutants)
}

// printFailures lists failing seeds with their replay commands.
func printFailures(w io.Writer, failures []seedRun) {
	for i, f := range failures {
		if i == maxFailuresListed {
			fmt.Fprintf(w, "... and %d more failing seeds (see the JSON lines)\n", len(failures)-i)
			break
		}
		r := f.result
		fmt.Fprintf(w, "seed %d: %s", r.Seed, r.Verdict)
		if len(r.CaughtBy) > 0 {
			fmt.Fprintf(w, " (caught by %s)", strings.Join(r.CaughtBy, ", "))
		}
		if r.Detail != "" {
			fmt.Fprintf(w, ": %s", oneLine(r.Detail))
		}
		fmt.Fprintln(w)
		if f.replay != "" {
			fmt.Fprintf(w, "  replay: %s\n", f.replay)
		}
	}
}
