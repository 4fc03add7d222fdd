package main

import (
	"fmt"
	"os"

	"github.com/stateflush/stateflush/harness"
)

var mergeHelpText = help{
	usage: "stateflush merge [flags] FILE...",
	about: `Combines the JSON lines of sweep shards (stateflush sweep --shard i/n --out FILE) into one sweep,
ordered by seed: the same lines the whole sweep writes. A seed in two inputs, or inputs of different
scenarios, strategies or mutants, is an error. The merged lines go to --out FILE, or to stdout with
--json; the summary (tally and failing seeds) goes to stdout, or to stderr with --json.
Exit code: like the sweep: 0 every seed passed, 1 some seed found a violation, 3 some check ran out
of time.`,
	examples: `  stateflush merge shard-0.jsonl shard-1.jsonl --out sweep.jsonl
  stateflush merge --json shard-*.jsonl > sweep.jsonl
  stateflush merge shard-*.jsonl          # the summary only
`,
}

// runMerge is `stateflush merge`.
func runMerge(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush merge")
	out := fs.String("out", "", "write the merged JSON lines to this `file`")
	asJSON := fs.Bool("json", false, "write the merged JSON lines to stdout (the summary goes to stderr)")
	files, err := parseFlags(s, fs, mergeHelpText, args)
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, badInput("no input files (see 'stateflush merge --help')")
	}
	if *asJSON && *out != "" {
		return 0, badInput("--json and --out conflict: the JSON lines go either to stdout (--json) or to a file (--out)")
	}
	var parts [][]harness.SeedResult
	for _, path := range files {
		part, err := readSweepFile(path)
		if err != nil {
			return 0, err
		}
		parts = append(parts, part)
	}
	merged, err := harness.MergeSweeps(parts...)
	if err != nil {
		return 0, asBadInput(err)
	}

	lines, summary, file, err := s.outputs(*asJSON, *out)
	if err != nil {
		return 0, err
	}
	if file != nil {
		defer file.abandon()
	}
	var tally harness.Tally
	var failures []seedRun
	for _, r := range merged {
		tally.Add(r)
		if failed(r.Verdict) {
			// A sweep line does not carry the scenario flags, so no replay command can be rebuilt
			// from it; the sweep that wrote it printed one.
			failures = append(failures, seedRun{result: r})
		}
		if err := harness.WriteSeedResult(lines, r); err != nil {
			return 0, err
		}
	}
	if file != nil {
		if err := file.close(); err != nil {
			return 0, err
		}
	}
	first, last := merged[0].Seed, merged[len(merged)-1].Seed
	fmt.Fprintf(summary, "merge: %d files, scenario %s, strategy %s, seeds %d..%d\n", len(files), merged[0].Scenario, merged[0].Strategy, first, last)
	if span := last - first + 1; span != uint64(len(merged)) {
		fmt.Fprintf(summary, "note: %d of the %d seeds between %d and %d are missing (a shard not given?)\n", span-uint64(len(merged)), span, first, last)
	}
	printFailures(summary, failures)
	fmt.Fprintf(summary, "%s\n", tallyLine(tally))
	if *out != "" {
		fmt.Fprintf(summary, "results: %s\n", *out)
	}
	return tallyExitCode(tally), nil
}

// readSweepFile reads one sweep output; a missing or malformed file is bad input.
func readSweepFile(path string) ([]harness.SeedResult, error) {
	if err := readableFile(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, asBadInput(err)
	}
	defer f.Close()
	results, err := harness.ReadSweep(f, path)
	return results, asBadInput(err)
}
