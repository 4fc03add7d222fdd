package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/stateflush/stateflush/harness"
)

var sweepHelpText = help{
	usage: "stateflush sweep [flags]",
	about: `Runs a range of seeds of one scenario on every core (one simulator per worker) and reports the
verdicts. Results come in seed order whatever the number of workers, as one JSON line per seed
(harness.SweepLine: no wall-clock values, so the same sweep gives the same bytes on any machine)
to --out FILE, or to stdout with --json. Each line names its sweep: the digest of the scenario with
every flag and the budget, the version of the build, the seed range and the shard. A summary (the
tally of pass / violation / unknown and the failing seeds with their replay commands) goes to
stdout, or to stderr with --json. A progress bar with seeds/s and failures so far shows on stderr
when it is a terminal (--quiet hides it).

--out FILE is written as FILE.partial and renamed to FILE when the sweep is complete, so an older
FILE stays until then; FILE.lock keeps a second command from writing the same FILE meanwhile.
Ctrl-C (SIGINT) or SIGTERM stops the sweep: the seeds in progress are dropped, every completed one
is in FILE.partial as a whole line, and the summary so far ends with the command that resumes it
(--resume FILE.partial: the same flags, and the seeds already there are not run again).

--shard i/n runs only seeds number i, i+n, i+2n, ... of the range (counting from 0), so that n
machines share one sweep; 'stateflush merge' combines their outputs into the same lines the whole
sweep gives. A shard may hold no seed (more shards than seeds): its result is empty. --shard auto
reads i and n from the batch system: a Slurm array (SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_MIN
and _MAX, or _COUNT), a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with --shard-count N or
STATEFLUSH_SHARD_COUNT) or a CI matrix (STATEFLUSH_SHARD_INDEX and STATEFLUSH_SHARD_COUNT).
Exit code: 0 every seed passed, 1 some seed found a violation, 3 some check ran out of time, 130
interrupted (the partial results are saved).`,
	examples: `  stateflush sweep --seeds 1000
  stateflush sweep --seeds 200 --mutant no-mitt --out no-mitt.jsonl
  stateflush sweep --scenario small --seeds 500 --workers 1 --json > small.jsonl
  stateflush sweep --seeds 10000 --shard 3/8 --out shard-3.jsonl --quiet
  stateflush sweep --seeds 10000 --out sweep.jsonl --resume auto    # continue sweep.jsonl.partial if there is one
  stateflush merge shard-*.jsonl --out sweep.jsonl
  stateflush sweep --seed 56 --mutant no-mitt --json      # a one-seed sweep
`,
}

// maxFailuresListed bounds the failing seeds the summary lists; the JSON lines have them all.
const maxFailuresListed = 20

// sweepFlags are the flags of `stateflush sweep` besides the scenario's.
type sweepFlags struct {
	rangeFlags *sweepRangeFlags
	seed       uint64
	shard      string
	shardCount int
	out        string
	resume     string
	asJSON     bool
	quiet      bool
	budget     *time.Duration
}

// runSweep is `stateflush sweep`.
func runSweep(s *streams, args []string) (int, error) {
	// SIGINT and SIGTERM stop the sweep from here on, and stay caught until the command returns:
	// an interruption while an earlier run's lines are copied (maybe into the file they came from)
	// must not kill the process, nor a second signal (the terminal's Ctrl-C and the supervisor's
	// copy of it, or Slurm signalling every process of the task) while it saves the lines and
	// prints the summary.
	ctx, stop := signal.NotifyContext(s.context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := newFlagSet("stateflush sweep")
	scnFlags := addScenarioFlags(fs, true, "")
	f := sweepFlags{rangeFlags: addSweepRangeFlags(fs, 100)}
	fs.Uint64Var(&f.seed, "seed", 0, "run this one `seed` only (instead of --first-seed and --seeds)")
	fs.StringVar(&f.shard, "shard", "", "run `shard` i/n of the seed range, e.g. 0/4 (seeds number i, i+n, ... counting from 0), or auto: from the batch system's environment")
	fs.IntVar(&f.shardCount, "shard-count", 0, "with --shard auto: the `number` of shards (a Kubernetes Indexed Job's completions)")
	fs.StringVar(&f.out, "out", "", "write the JSON lines to this `file` (as FILE.partial until the sweep is complete)")
	fs.StringVar(&f.resume, "resume", "", "continue the interrupted sweep whose lines are in this `file` (FILE.partial): its seeds are not run again; auto: from the --out file's .partial if there is one (a batch task that is retried)")
	fs.BoolVar(&f.asJSON, "json", false, "write the JSON lines to stdout (the summary goes to stderr)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress bar")
	f.budget = addBudgetFlag(fs)
	positional, err := parseFlags(s, fs, sweepHelpText, args)
	if err != nil {
		return 0, err
	}
	if err := noPositional(fs, positional); err != nil {
		return 0, err
	}
	rangeFlags := f.rangeFlags
	if isSet(fs, "seed") {
		for _, other := range []string{"shard", "seeds", "first-seed"} {
			if isSet(fs, other) {
				return 0, badInput("--seed and --%s conflict: --seed runs one seed, --%s describes a range", other, other)
			}
		}
		rangeFlags.firstSeed, rangeFlags.seeds = f.seed, 1
	}
	if f.asJSON && f.out != "" {
		return 0, badInput("--json and --out conflict: the JSON lines go either to stdout (--json) or to a file (--out)")
	}
	if isSet(fs, "resume") && f.out == "" {
		return 0, badInput("--resume needs --out: the resumed sweep writes the earlier lines and the new ones to one file")
	}
	if f.resume == "auto" {
		// A file named auto is ./auto.
		f.resume = ""
		if _, err := os.Stat(f.out + partialSuffix); err == nil {
			f.resume = f.out + partialSuffix
		}
	}
	if err := rangeFlags.validate(); err != nil {
		return 0, err
	}
	if err := validateBudget(*f.budget); err != nil {
		return 0, err
	}
	shard := harness.AllSeeds
	shardSource := ""
	switch {
	case f.shard == "auto":
		if isSet(fs, "shard-count") && f.shardCount < 1 {
			return 0, badInput("--shard-count %d: must be at least 1", f.shardCount)
		}
		a, err := resolveAutoShard(s.env, f.shardCount)
		if err != nil {
			return 0, err
		}
		shard, shardSource = a.shard, a.source
	case isSet(fs, "shard-count"):
		return 0, badInput("--shard-count goes with --shard auto (with --shard i/n the count is n)")
	case f.shard != "":
		if shard, err = harness.ParseShard(f.shard); err != nil {
			return 0, asBadInput(fmt.Errorf("--shard: %w (or --shard auto)", err))
		}
	}
	scn, err := scnFlags.scenario()
	if err != nil {
		return 0, err
	}
	spec, err := harness.SpecDigest(scn, *f.budget)
	if err != nil {
		return 0, err
	}
	id := harness.SweepID{Spec: spec, Version: lineVersion(), FirstSeed: rangeFlags.firstSeed, Seeds: rangeFlags.seeds, Shard: shard}
	seeds := shard.Seeds(rangeFlags.firstSeed, rangeFlags.seeds)

	// The lines of an earlier, interrupted run of this sweep: read before the output is opened,
	// which may be the same file.
	var earlier []harness.SweepLine
	if f.resume != "" {
		if earlier, err = readResume(s, f.resume, id); err != nil {
			return 0, err
		}
		seeds = notIn(seeds, earlier)
	}

	// Where the JSON lines go, and where the words go.
	lines, summary, file, err := s.outputs(f.asJSON, f.out)
	if err != nil {
		return 0, err
	}
	if file != nil {
		defer file.abandon()
	}

	fmt.Fprintf(summary, "sweep: %s; seeds %s", describeRun(scn), id.Range())
	if shard != harness.AllSeeds {
		fmt.Fprintf(summary, ", shard %s (%d seeds)", shard, len(shard.Seeds(rangeFlags.firstSeed, rangeFlags.seeds)))
		if shardSource != "" {
			fmt.Fprintf(summary, " from %s", shardSource)
		}
	}
	fmt.Fprintf(summary, " on %s\n", workersText(rangeFlags.workers))
	if f.resume != "" {
		fmt.Fprintf(summary, "resuming %s: %d seeds done, %d to run\n", f.resume, len(earlier), len(seeds))
	}

	var tally harness.Tally
	var failures []seedRun
	written := 0
	// write writes one line, whole, and flushes it, so that an interruption or a kill leaves every
	// completed seed in the file.
	write := func(l harness.SweepLine, r seedRun) error {
		tally.Add(l.SeedResult)
		if failed(l.Verdict) {
			failures = append(failures, r)
		}
		if err := harness.WriteSweepLine(lines, l); err != nil {
			return err
		}
		if fl, ok := lines.(interface{ Flush() error }); ok {
			if err := fl.Flush(); err != nil {
				return err
			}
		}
		return nil
	}
	// The earlier lines go out in seed order among the new ones.
	next := 0
	writeEarlierBefore := func(seed uint64, all bool) error {
		for ; next < len(earlier) && (all || earlier[next].Seed < seed); next++ {
			if err := write(earlier[next], seedRun{result: earlier[next].SeedResult}); err != nil {
				return err
			}
		}
		return nil
	}

	// The earlier lines before the first seed to run (all of them, when the earlier run was an
	// interrupted sweep) go out at once: the output may be the file they were read from.
	if len(seeds) > 0 {
		if err := writeEarlierBefore(seeds[0], false); err != nil {
			return 0, err
		}
	}

	bar := newProgress(s.stderr, f.quiet, len(seeds), scn.Name)
	start := time.Now()
	interrupted := false
	if len(seeds) > 0 {
		interrupted, err = runSeeds(ctx.Done(), sweepSpec{scenario: scn, seeds: seeds, workers: rangeFlags.workers, budget: *f.budget}, bar,
			func(r seedRun) error {
				if err := writeEarlierBefore(r.result.Seed, false); err != nil {
					return err
				}
				if err := write(harness.SweepLine{SeedResult: r.result, SweepID: id}, r); err != nil {
					return err
				}
				written++
				if s.afterLine != nil {
					s.afterLine(written)
				}
				return nil
			})
	}
	if interrupted {
		bar.clear()
	} else {
		bar.finish()
	}
	if err == nil {
		err = writeEarlierBefore(0, true)
	}
	elapsed := time.Since(start)
	if err != nil {
		if file != nil && written+len(earlier) > 0 {
			if kerr := file.keepPartial(); kerr == nil {
				fmt.Fprintf(s.stderr, "stateflush sweep: the %d seeds done are in %s\n", tally.Seeds, file.partial)
			}
		}
		return 0, err
	}
	if interrupted {
		if file != nil {
			if err := file.keepPartial(); err != nil {
				return 0, err
			}
		}
	} else if file != nil {
		if err := file.commit(); err != nil {
			return 0, err
		}
	}
	printFailures(summary, failures)
	if len(shard.Seeds(rangeFlags.firstSeed, rangeFlags.seeds)) == 0 {
		fmt.Fprintf(summary, "shard %s of %s holds no seed: nothing to run (an empty result)\n", shard, plural(rangeFlags.seeds, "1 seed", fmt.Sprintf("%d seeds", rangeFlags.seeds)))
	}
	fmt.Fprintf(summary, "%s\n", tallyLine(tally))
	fmt.Fprintf(summary, "%s in %v: %.1f seeds/s on %s\n", plural(written, "1 seed", fmt.Sprintf("%d seeds", written)), elapsed.Round(time.Millisecond), seedsPerSecond(written, elapsed), workersText(rangeFlags.workers))
	if interrupted {
		todo := len(seeds) - written
		fmt.Fprintf(summary, "interrupted: %d of %d seeds done, %d not run\n", tally.Seeds, tally.Seeds+todo, todo)
		if file != nil {
			fmt.Fprintf(summary, "partial results: %s\n", file.partial)
			fmt.Fprintf(summary, "resume: %s\n", resumeCommand(args, file.partial))
		} else if f.asJSON {
			fmt.Fprintf(summary, "resume: save the lines written so far in SAVED.jsonl, then run %s\n", resumeCommand(toOut(args, "sweep.jsonl"), "SAVED.jsonl"))
		} else {
			fmt.Fprintf(summary, "to keep results, rerun with --out FILE (an interrupted sweep then resumes with --resume FILE.partial)\n")
		}
		return exitInterrupted, nil
	}
	if f.out != "" {
		fmt.Fprintf(summary, "results: %s\n", f.out)
	}
	return tallyExitCode(tally), nil
}

// readResume reads the lines of an earlier run of the sweep id describes; lines of another sweep
// (another flag, build, range or shard) are refused, naming the difference.
func readResume(s *streams, path string, id harness.SweepID) ([]harness.SweepLine, error) {
	if err := readableFile(path); err != nil {
		return nil, asBadInput(fmt.Errorf("--resume: %w", err))
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, asBadInput(fmt.Errorf("--resume: %w", err))
	}
	defer fh.Close()
	f, err := harness.ReadPartialSweep(fh, path)
	if err != nil {
		return nil, asBadInput(fmt.Errorf("--resume: %w", err))
	}
	if f.DroppedTail != "" {
		fmt.Fprintf(s.stderr, "stateflush sweep: --resume %s: its last line was cut (the sweep was killed while writing it); that seed runs again\n", path)
	}
	if len(f.Lines) > 0 {
		if d := f.Lines[0].SweepID.Differs(id, true); d != "" {
			return nil, badInput("--resume %s: written by another sweep than this command's: %s", path, d)
		}
	}
	slices.SortFunc(f.Lines, func(a, b harness.SweepLine) int { return cmp.Compare(a.Seed, b.Seed) })
	return f.Lines, nil
}

// notIn is seeds without those the lines hold.
func notIn(seeds []uint64, lines []harness.SweepLine) []uint64 {
	done := make(map[uint64]bool, len(lines))
	for _, l := range lines {
		done[l.Seed] = true
	}
	var rest []uint64
	for _, seed := range seeds {
		if !done[seed] {
			rest = append(rest, seed)
		}
	}
	return rest
}

// resumeCommand is the command that resumes an interrupted sweep: the same arguments, with --resume
// naming the partial file (in place of an earlier --resume).
func resumeCommand(args []string, partial string) string {
	words := []string{"go", "run", "./cmd/stateflush", "sweep"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--resume" || a == "-resume" {
			i++
			continue
		}
		if strings.HasPrefix(a, "--resume=") || strings.HasPrefix(a, "-resume=") {
			continue
		}
		words = append(words, a)
	}
	words = append(words, "--resume", partial)
	for i, w := range words {
		words[i] = shellWord(w)
	}
	return strings.Join(words, " ")
}

// toOut is a sweep's arguments with --json replaced by --out path.
func toOut(args []string, path string) []string {
	var out []string
	for _, a := range args {
		if a == "--json" || a == "-json" || a == "--json=true" || a == "-json=true" {
			continue
		}
		out = append(out, a)
	}
	return append(out, "--out", path)
}

// shellWord quotes a word for a POSIX shell when it needs it.
func shellWord(w string) string {
	if w != "" && strings.IndexFunc(w, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// outputs chooses where a command's JSON lines and its words go: with --json the lines go to
// stdout and the words to stderr; with --out the lines go to that file; otherwise only words, to
// stdout. The caller abandons the returned file (when not nil) on error paths and commits it at the
// end.
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

// describeRun names what a sweep runs in one line: scenario, strategy and mutants.
func describeRun(scn harness.Scenario) string {
	mutants := "none (the correct protocol)"
	if names := scn.MutantNames(); names != "" {
		mutants = names
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
