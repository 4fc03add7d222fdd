package harness

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stateflush/stateflush/protocol/kv"
)

// MutantScore is how well the checks catch one mutant.
type MutantScore struct {
	Mutant string `json:"mutant"`
	// Mechanism is the safety mechanism of the store the mutant removes or weakens.
	Mechanism kv.Mechanism `json:"mechanism"`
	// Scenario is the scenario the seeds ran.
	Scenario string `json:"scenario"`
	// Seeds is how many seeds ran (a search stops at the first detection unless Full is set).
	Seeds int `json:"seeds"`
	// Full says every seed of the budget ran, so Detections/Seeds is a detection rate.
	Full   bool `json:"full"`
	Caught bool `json:"caught"`
	// FirstSeed is the first seed that caught it and SeedsToDetection its position (1-based).
	FirstSeed        uint64 `json:"first_seed,omitempty"`
	SeedsToDetection int    `json:"seeds_to_detection,omitempty"`
	// Detections counts the seeds that caught it (all of them when the search was Full).
	Detections int `json:"detections"`
	// CaughtBy names the checks that failed on the first detection.
	CaughtBy []string `json:"caught_by,omitempty"`
	// FirstByCheck is, per check, the position (1-based) of the first seed that check caught:
	// which checks see the mutant, and how soon.
	FirstByCheck map[string]int `json:"first_by_check,omitempty"`
	// OpsBefore and ShrunkOps are the first counterexample's client operations before and after
	// shrinking; ShrunkBy says what produced the shrunk size ("search": a small workload found by
	// SearchSmall; "search+shrink": that, then cut down by Shrink; "shrink": the first
	// counterexample cut down by Shrink); ShrunkReplay replays the shrunk counterexample.
	OpsBefore    int    `json:"ops_before,omitempty"`
	ShrunkOps    int    `json:"shrunk_ops,omitempty"`
	ShrunkBy     string `json:"shrunk_by,omitempty"`
	ShrunkReplay string `json:"shrunk_replay,omitempty"`
	// Unknown counts seeds whose verdict was Unknown (the check ran out of time).
	Unknown int `json:"unknown"`
	// BaselineFailures counts seeds that failed with the mutant and fail without it too: the
	// correct protocol's own failures, never counted as detections.
	BaselineFailures int `json:"baseline_failures,omitempty"`
	// Shrunk is the shrunk counterexample's outcome (not serialised).
	Shrunk *Outcome `json:"-"`
}

// MutationConfig says how to score mutants.
type MutationConfig struct {
	Scenario Scenario
	// Mutants to score (names from kv.MutantNames); empty means all.
	Mutants []string
	// Seeds is the budget of seeds per mutant, starting at FirstSeed.
	Seeds     int
	FirstSeed uint64
	// Full runs every seed of the budget (for detection rates); otherwise a mutant's search stops at
	// its first detection.
	Full bool
	// ShrinkTries bounds the seeds SearchSmall tries per small workload, and then the runs Shrink
	// spends, for each first counterexample; 0 skips shrinking.
	ShrinkTries int
	Workers     int
	// CheckBudget bounds each run's linearizability check (0: the default); see Options.
	CheckBudget time.Duration
	// Progress, when set, is called after each seed (for a progress bar).
	Progress func(mutant string, seed uint64, verdict Verdict)
}

// HomeScenario names the built-in scenario whose faults set a mutant's trap: the default for every
// mutant but those of the mechanisms that only faults of another scenario exercise. The partition
// rule and the read fence matter only when the servers split (partitions, where splits are
// frequent and long; the default draws them in some seeds only), and the lapse quarantine only
// when a server resumes after a pause longer than failure detection (pauses).
func HomeScenario(m kv.Mutant) string {
	switch m.Mechanism() {
	case kv.MechPartitionRule, kv.MechReadFence:
		return "partitions"
	case kv.MechLapse:
		return "pauses"
	}
	return DefaultScenario
}

// SmallCounterexampleOps is the size of counterexample the mutation score looks for (the issue's
// target: at most 30 client operations).
const SmallCounterexampleOps = 30

// ScoreMutants runs each mutant over the seed budget and reports how the checks fared. A seed that
// fails with the mutant is run again without it: if the correct protocol fails it too, the seed
// counts as a baseline failure, never as a detection (the mutant did not cause it).
func ScoreMutants(cfg MutationConfig) ([]MutantScore, error) {
	names := cfg.Mutants
	if len(names) == 0 {
		names = kv.MutantNames()
	}
	if cfg.Seeds < 1 {
		return nil, fmt.Errorf("mutation score: Seeds=%d, need at least 1", cfg.Seeds)
	}
	var scores []MutantScore
	for _, name := range names {
		m, err := kv.ParseMutant(name)
		if err != nil {
			return nil, err
		}
		scn := cfg.Scenario
		scn.KV.Mutants = kv.NewMutants(m)
		if err := scn.Validate(); err != nil {
			return nil, err
		}
		score := MutantScore{Mutant: name, Mechanism: m.Mechanism(), Scenario: cfg.Scenario.Name, Full: cfg.Full}
		var first *Outcome
		var runErr error
		type seedRun struct {
			o *Outcome
			// baselineFails: the seed fails without the mutant too (checked only for failures).
			baselineFails bool
			err           error
		}
		correct := cfg.Scenario
		correct.KV.Mutants = 0
		ParallelSeeds(AllSeeds.Seeds(cfg.FirstSeed, cfg.Seeds), cfg.Workers,
			func(seed uint64) seedRun {
				o, err := Run(scn, seed, Options{CheckBudget: cfg.CheckBudget})
				if err != nil || (o.Final != VerdictViolation && o.Final != VerdictCrash) {
					return seedRun{o: o, err: err}
				}
				base, err := Run(correct, seed, Options{CheckBudget: cfg.CheckBudget})
				return seedRun{o: o, baselineFails: err == nil && base.Final != VerdictPass, err: err}
			},
			func(r seedRun) {
				if r.err != nil {
					runErr = r.err
					return
				}
				o := r.o
				score.Seeds++
				switch {
				case r.baselineFails:
					score.BaselineFailures++
				case o.Final == VerdictViolation || o.Final == VerdictCrash:
					score.Detections++
					for _, c := range o.CaughtBy {
						if score.FirstByCheck == nil {
							score.FirstByCheck = map[string]int{}
						}
						if _, seen := score.FirstByCheck[c]; !seen {
							score.FirstByCheck[c] = score.Seeds
						}
					}
					if first == nil {
						first = o
						score.Caught, score.FirstSeed, score.SeedsToDetection, score.CaughtBy = true, o.Spec.Seed, score.Seeds, o.CaughtBy
					}
				case o.Final == VerdictUnknown:
					score.Unknown++
				}
				if cfg.Progress != nil {
					cfg.Progress(name, o.Spec.Seed, o.Final)
				}
			},
			func() bool { return runErr != nil || (!cfg.Full && first != nil) })
		if runErr != nil {
			return nil, runErr
		}
		if first != nil {
			score.OpsBefore = len(first.History)
			if cfg.ShrinkTries > 0 {
				// A small run found by search beats a large run cut down: search first, then cut
				// down what the search found (or, without it, the first counterexample).
				small, by := SearchSmall(first, SmallCounterexampleOps, cfg.ShrinkTries), "search"
				if small == nil {
					small, by = first, "shrink"
				}
				if cut := Shrink(small, cfg.ShrinkTries).Outcome; len(cut.History) < len(small.History) {
					small = cut
					if by == "search" {
						by = "search+shrink"
					}
				}
				score.Shrunk = small
				score.ShrunkOps = len(small.History)
				score.ShrunkBy = by
				score.ShrunkReplay = small.ReplayCommand("")
			}
		}
		scores = append(scores, score)
	}
	return scores, nil
}

// cells are the caught, seeds-to-detection and shrunk-counterexample cells both tables show.
func (s MutantScore) cells() (caught, seeds, shrunk string) {
	caught, seeds, shrunk = "NO", "-", "-"
	if s.Caught {
		caught, seeds = "yes", fmt.Sprint(s.SeedsToDetection)
	}
	if s.ShrunkOps > 0 {
		shrunk = fmt.Sprintf("%d (from %d, by %s)", s.ShrunkOps, s.OpsBefore, s.ShrunkBy)
	}
	return caught, seeds, shrunk
}

// WriteScoreTable prints the mutation score as an aligned text table.
func WriteScoreTable(w io.Writer, scores []MutantScore) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "mutant\tmechanism\tscenario\tcaught\tseeds to detection\tdetections/seeds\tcaught by\tshrunk ops")
	for _, s := range scores {
		caught, seeds, shrunk := s.cells()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", s.Mutant, s.Mechanism, s.Scenario, caught, seeds, s.Detections, s.Seeds, strings.Join(s.CaughtBy, ","), shrunk)
	}
	return tw.Flush()
}

// WriteScoreMarkdown prints the mutation score as the README's Markdown table: per mutant the
// safety mechanism it weakens, whether it was caught, the seeds to its first detection, its
// detection rate over the budget (with Full; "-" for a search that stopped at its first
// detection), the first seed at which each check caught it, and the shrunk counterexample's size
// with what produced it.
func WriteScoreMarkdown(w io.Writer, scores []MutantScore) error {
	var b strings.Builder
	b.WriteString("| mutant | mechanism | scenario | caught | seeds to detection | detection rate | first catch per check (seed) | shrunk counterexample (client ops) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, s := range scores {
		caught, seeds, shrunk := s.cells()
		var checks []string
		for _, c := range slices.Sorted(maps.Keys(s.FirstByCheck)) {
			checks = append(checks, fmt.Sprintf("%s %d", c, s.FirstByCheck[c]))
		}
		rate := "-"
		if s.Full && s.Seeds > 0 {
			rate = fmt.Sprintf("%d%% (%d/%d)", (100*s.Detections+s.Seeds/2)/s.Seeds, s.Detections, s.Seeds)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Mutant, s.Mechanism, s.Scenario, caught, seeds, rate, strings.Join(checks, ", "), shrunk)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// MedianSeedsToDetection is the median over caught mutants; uncaught mutants count as the budget
// plus one, so they raise the median instead of vanishing from it.
func MedianSeedsToDetection(scores []MutantScore, budget int) int {
	var xs []int
	for _, s := range scores {
		if s.Caught {
			xs = append(xs, s.SeedsToDetection)
		} else {
			xs = append(xs, budget+1)
		}
	}
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// UnreachableByRandomSchedules lists mutants that the default scenario's random schedules cannot
// expose, with the reason; the mutation score and the corpus accept that they are not caught. It is
// empty: flush-not-bound-to-source, the last one, became reachable with the source-bounce nemesis
// (Nemeses.SourceBounceProb), which makes a copy retry from a second source while writes are still
// in flight to it.
var UnreachableByRandomSchedules = map[string]string{}
