package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol/kv"
)

var mutantsHelpText = help{
	usage: "stateflush mutants [flags]",
	about: `The mutation score: runs each mutant (a named, plausible bug of the store: of the state flush, or of another safety mechanism) over a
budget of seeds and reports how fast the checks catch it: seeds to the first detection, the checks
that caught it, and the size of its first counterexample before and after shrinking. By default a
mutant's search stops at its first detection; --full runs every seed of the budget and gives
detection rates. Uncaught mutants count as the budget plus one in the median seeds to detection.
--out DIR writes each shrunk counterexample's report to DIR/<mutant>.
Exit code: 0 whenever the score was computed, caught or not (the table is the result); 2 bad input.`,
	examples: `  stateflush mutants
  stateflush mutants --seeds 500 --full --json > score.json
  stateflush mutants --mutant no-mitt,skip-flush --seeds 1000 --out mutant-reports
  stateflush mutants --scenario small --seeds 300 --shrink-tries 0
`,
}

// mutationReport is the --json output of `stateflush mutants`.
type mutationReport struct {
	Scenario               string                `json:"scenario"`
	Strategy               string                `json:"strategy"`
	SeedsPerMutant         int                   `json:"seeds_per_mutant"`
	FirstSeed              uint64                `json:"first_seed"`
	Full                   bool                  `json:"full"`
	MedianSeedsToDetection int                   `json:"median_seeds_to_detection"`
	Caught                 int                   `json:"caught"`
	Mutants                []harness.MutantScore `json:"mutants"`
	// Reports maps a mutant to its shrunk counterexample's report directory (with --out).
	Reports map[string]string `json:"reports,omitempty"`
}

// runMutants is `stateflush mutants`.
func runMutants(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush mutants")
	scnFlags := addScenarioFlags(fs, false, "")
	mutantList := fs.String("mutant", "", "comma-separated `mutants` to score, each on its own (default: all: "+strings.Join(kv.MutantNames(), ", ")+")")
	rangeFlags := addSweepRangeFlags(fs, 200)
	full := fs.Bool("full", false, "run every seed of the budget for detection rates (default: stop at each mutant's first detection)")
	shrinkTries := fs.Int("shrink-tries", 50, "`runs` spent shrinking each first counterexample (0: no shrinking)")
	asJSON := fs.Bool("json", false, "print the score as JSON")
	out := fs.String("out", "", "write each shrunk counterexample's report to `dir`/<mutant>")
	quiet := fs.Bool("quiet", false, "no progress bar")
	positional, err := parseFlags(s, fs, mutantsHelpText, args)
	if err != nil {
		return 0, err
	}
	if err := noPositional(fs, positional); err != nil {
		return 0, err
	}
	if err := rangeFlags.validate(); err != nil {
		return 0, err
	}
	if *shrinkTries < 0 {
		return 0, badInput("--shrink-tries %d: must be at least 0", *shrinkTries)
	}
	if *out != "" {
		if err := checkOutputDir("--out", *out); err != nil {
			return 0, err
		}
	}
	scn, err := scnFlags.scenario()
	if err != nil {
		return 0, err
	}
	var names []string
	if *mutantList != "" {
		set, err := kv.ParseMutants(*mutantList)
		if err != nil {
			return 0, asBadInput(fmt.Errorf("--mutant: %w", err))
		}
		if err := mutantsMeanSomething(scn.KV.Strategy, set.List()); err != nil {
			return 0, err
		}
		for _, m := range set.List() {
			names = append(names, m.String())
		}
	} else {
		// Without a list: every mutant that changes something under the strategy.
		var skipped []string
		for _, m := range kv.AllMutants() {
			if scn.KV.Strategy != kv.StateFlush && m.InFlush() {
				skipped = append(skipped, m.String())
				continue
			}
			names = append(names, m.String())
		}
		if len(skipped) > 0 {
			fmt.Fprintf(s.stderr, "stateflush mutants: not scoring %s: the %s strategy runs no flush, and the flush is all they change\n", strings.Join(skipped, ", "), scn.KV.Strategy)
		}
	}

	bar := newProgress(s.stderr, *quiet, len(names)*rangeFlags.seeds, names[0]).mutant()
	current, done := names[0], 0
	start := time.Now()
	scores, err := harness.ScoreMutants(harness.MutationConfig{
		Scenario: scn, Mutants: names, Seeds: rangeFlags.seeds, FirstSeed: rangeFlags.firstSeed,
		Full: *full, ShrinkTries: *shrinkTries, Workers: rangeFlags.workers,
		Progress: func(mutant string, seed uint64, verdict harness.Verdict) {
			if mutant != current {
				// The previous mutant's search stopped early: its remaining seeds will not run.
				bar.skip(rangeFlags.seeds - done)
				bar.relabel(mutant)
				current, done = mutant, 0
			}
			done++
			bar.seedDone(verdict.Found())
		},
	})
	bar.finish()
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}

	report := mutationReport{
		Scenario: scn.Name, Strategy: scn.KV.Strategy.String(), SeedsPerMutant: rangeFlags.seeds,
		FirstSeed: rangeFlags.firstSeed, Full: *full, Mutants: scores,
		MedianSeedsToDetection: harness.MedianSeedsToDetection(scores, rangeFlags.seeds),
	}
	for _, sc := range scores {
		if sc.Caught {
			report.Caught++
		}
	}
	// Reports are written before anything is printed so that the JSON can name them.
	if *out != "" {
		report.Reports = map[string]string{}
		for _, sc := range scores {
			if sc.Shrunk == nil {
				continue
			}
			dir := filepath.Join(*out, sc.Mutant)
			if _, err := sc.Shrunk.WriteReport(dir); err != nil {
				return 0, fmt.Errorf("writing the report of mutant %s to %s: %w", sc.Mutant, dir, err)
			}
			report.Reports[sc.Mutant] = dir
		}
	}
	if *asJSON {
		b, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(s.stdout, "%s\n", b)
	} else {
		search := "each search stops at its first detection"
		if *full {
			search = "every seed runs"
		}
		fmt.Fprintf(s.stdout, "mutation score: scenario %s, strategy %s, seeds %d..%d per mutant (%s)\n\n",
			scn.Name, scn.KV.Strategy, rangeFlags.firstSeed, rangeFlags.firstSeed+uint64(rangeFlags.seeds-1), search)
		if err := harness.WriteScoreTable(s.stdout, scores); err != nil {
			return 0, err
		}
		fmt.Fprintf(s.stdout, "\ncaught %d of %d mutants; median seeds to detection: %d (an uncaught mutant counts as %d)\n",
			report.Caught, len(scores), report.MedianSeedsToDetection, rangeFlags.seeds+1)
		for _, sc := range scores {
			if sc.Shrunk == nil {
				continue
			}
			if dir, ok := report.Reports[sc.Mutant]; ok {
				fmt.Fprintf(s.stdout, "  %s: report %s, replay exactly: %s\n", sc.Mutant, dir, sc.Shrunk.ReplayCommand(filepath.Join(dir, linearizability.ReportTraceFile)))
				continue
			}
			note := ""
			if !replayCommandReproduces(sc.Shrunk) {
				note = "  # approximate: the shrunk run's nemeses are no flags; --out writes its exact trace"
			}
			fmt.Fprintf(s.stdout, "  %s: shrunk counterexample: %s%s\n", sc.Mutant, sc.ShrunkReplay, note)
		}
	}
	fmt.Fprintf(s.stderr, "mutation score took %v on %s\n", elapsed.Round(time.Millisecond), workersText(rangeFlags.workers))
	return exitPass, nil
}
