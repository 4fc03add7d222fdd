package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/stateflush/stateflush/harness"
)

var mergeHelpText = help{
	usage: "stateflush merge [flags] FILE...",
	about: `Combines the JSON lines of sweep shards (stateflush sweep --shard i/n --out FILE) into one sweep,
ordered by seed: the same lines the whole sweep writes. Every sweep line names its sweep (the digest
of the scenario with every flag and the budget, the version of the build, the seed range and the
shard); inputs of different sweeps, a seed in two inputs, an unknown verdict or a malformed hash
are errors. Seeds of the range that no input holds (a shard not given, or interrupted) are an error
unless --allow-missing; an empty input (a shard that holds no seed) adds nothing. The merged lines
go to --out FILE (as FILE.partial until complete), or to stdout with --json; the summary (tally and
failing seeds) goes to stdout, or to stderr with --json.
Exit code: like the sweep: 0 every seed passed, 1 some seed found a violation, 3 some check ran out
of time; 2 for inputs that do not merge or leave seeds missing.`,
	examples: `  stateflush merge shard-0.jsonl shard-1.jsonl --out sweep.jsonl
  stateflush merge --json shard-*.jsonl > sweep.jsonl
  stateflush merge shard-*.jsonl          # the summary only
  stateflush merge --allow-missing shard-0.jsonl --out sweep.jsonl   # what there is of an incomplete sweep
`,
}

// maxMissingListed bounds the missing seed ranges an error names.
const maxMissingListed = 10

// runMerge is `stateflush merge`.
func runMerge(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush merge")
	out := fs.String("out", "", "write the merged JSON lines to this `file`")
	asJSON := fs.Bool("json", false, "write the merged JSON lines to stdout (the summary goes to stderr)")
	allowMissing := fs.Bool("allow-missing", false, "merge even when seeds of the range are in no input (the summary names them)")
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
	var parts []harness.SweepFile
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
	missing := ""
	if len(merged.Missing) > 0 {
		missing = fmt.Sprintf("%d of the %d seeds of %s are in no input: %s", merged.MissingSeeds(), merged.ID.Seeds, merged.ID.Range(), rangesText(merged.Missing))
		if !*allowMissing {
			return 0, badInput("%s (a shard not given, or interrupted? --allow-missing merges what there is)", missing)
		}
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
	for _, l := range merged.Lines {
		tally.Add(l.SeedResult)
		if failed(l.Verdict) {
			// A sweep line carries the digest of the scenario's flags, not the flags, so no replay
			// command can be rebuilt from it; the sweep that wrote it printed one.
			failures = append(failures, seedRun{result: l.SeedResult})
		}
		if err := harness.WriteSweepLine(lines, l); err != nil {
			return 0, err
		}
	}
	if file != nil {
		if err := file.commit(); err != nil {
			return 0, err
		}
	}
	first := merged.Lines[0]
	fmt.Fprintf(summary, "merge: %s, scenario %s, strategy %s, seeds %s\n", plural(len(files), "1 file", fmt.Sprintf("%d files", len(files))), first.Scenario, first.Strategy, merged.ID.Range())
	if missing != "" {
		fmt.Fprintf(summary, "incomplete: %s\n", missing)
	}
	printFailures(summary, failures)
	fmt.Fprintf(summary, "%s\n", tallyLine(tally))
	if *out != "" {
		fmt.Fprintf(summary, "results: %s\n", *out)
	}
	return tallyExitCode(tally), nil
}

// rangesText lists seed ranges, the first few of them.
func rangesText(ranges []harness.SeedRange) string {
	var words []string
	for i, r := range ranges {
		if i == maxMissingListed {
			words = append(words, fmt.Sprintf("and %d more ranges", len(ranges)-i))
			break
		}
		words = append(words, r.String())
	}
	return strings.Join(words, ", ")
}

// readSweepFile reads one sweep output; a missing or malformed file is bad input.
func readSweepFile(path string) (harness.SweepFile, error) {
	if err := readableFile(path); err != nil {
		return harness.SweepFile{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return harness.SweepFile{}, asBadInput(err)
	}
	defer f.Close()
	results, err := harness.ReadSweep(f, path)
	return results, asBadInput(err)
}
