package notebooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"gonum.org/v1/plot/vg"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/spacetime"
)

// Experiment 6: a space-time (Lamport) diagram of a shrunk failing run: one lane per member,
// arrows for the messages that matter to the failing key, the state flush and catcher's-mitt
// phases marked, and the read that no linearization explains highlighted.

const (
	// spacetimeMutant is the bug drawn: without a catcher's mitt, a new copy drops the writes it
	// receives while it is being created, and a later promotion loses them.
	spacetimeMutant = "no-mitt"
	// spacetimeSeeds bounds the search of the default scenario's seeds for a run in which the
	// linearizability check (not only convergence) catches the mutant.
	spacetimeSeeds       = 200
	spacetimeShrinkTries = 120
)

func runSpacetimeDiagram(outDir string) error {
	failing, err := firstLinearizabilityFailure(spacetimeMutant, spacetimeSeeds)
	if err != nil {
		return err
	}
	// Shrink keeps a smaller run when it fails one of the checks that caught the original; the
	// diagram needs a read that fails linearizability, so only that check is named.
	target := *failing
	target.CaughtBy = []string{string(linearizability.LinearizabilityCheck)}
	shrunk := harness.Shrink(&target, spacetimeShrinkTries).Outcome
	shrinkNote := fmt.Sprintf("shrunk from %d to %d ops", len(failing.History), len(shrunk.History))
	switch {
	case shrunk == &target:
		shrunk, shrinkNote = failing, "no smaller run fails linearizability"
	case !hasViolatingRead(shrunk):
		shrunk, shrinkNote = failing, "not shrunk: the smaller runs fail only in their final state"
	}
	full, err := harness.Run(shrunk.Spec.Scenario, shrunk.Spec.Seed, harness.Options{FullTrace: true})
	if err != nil {
		return err
	}
	if full.Result.Hash != shrunk.Result.Hash {
		return fmt.Errorf("spacetime-diagram: rerunning seed %d with the full trace gave hash %016x, not %016x", shrunk.Spec.Seed, full.Result.Hash, shrunk.Result.Hash)
	}
	// The diagram needs a read that fails on its own: the first illegal key that has one.
	var d *spacetime.Diagram
	for _, key := range full.Verdict.IllegalKeys {
		candidate, err := spacetime.Build(spacetime.Input{Records: full.Records, History: full.History, Config: full.Drawn.KV, Key: key})
		if err == nil && candidate.ReadIsViolating() {
			d = candidate
			break
		}
	}
	if d == nil {
		return fmt.Errorf("spacetime-diagram: seed %d: no illegal key among %v: %w", full.Spec.Seed, full.Verdict.IllegalKeys, spacetime.ErrNoViolatingRead)
	}
	title := fmt.Sprintf("Mutant %s, scenario %s, seed %d (%s): key %s, bucket %d",
		spacetimeMutant, shrunk.Spec.Scenario.Name, shrunk.Spec.Seed, shrinkNote, d.Key(), d.Bucket())
	if err := saveFigure(outDir, "spacetime-diagram", 24*vg.Centimeter, 15*vg.Centimeter, d.Painter(title)); err != nil {
		return err
	}
	// The run drawn, exactly: a shrunk scenario has no command-line flags, so its spec is saved.
	var spec bytes.Buffer
	if err := json.Indent(&spec, shrunk.TraceHeader(), "", "  "); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "spacetime-diagram-run.json"), append(spec.Bytes(), '\n'), 0o644); err != nil {
		return err
	}
	return writeCSV(outDir, "spacetime-diagram", []string{"what", "value"}, [][]string{
		{"mutant", spacetimeMutant},
		{"scenario", shrunk.Spec.Scenario.Name},
		{"seed", fmt.Sprint(shrunk.Spec.Seed)},
		{"shrinking", shrinkNote},
		{"unshrunk_replay", failing.ReplayCommand("")},
		{"run_spec", "spacetime-diagram-run.json (harness.RunSpec of the run drawn: scenario and seed)"},
		{"caught_by", strings.Join(shrunk.CaughtBy, " ")},
		{"key", d.Key()},
		{"bucket", fmt.Sprint(d.Bucket())},
		{"missed_write", d.Write().String()},
		{"violating_read", d.Read().String()},
		{"arrows", fmt.Sprint(d.Arrows())},
	})
}

// hasViolatingRead says whether one of the run's illegal keys has a client read that no
// linearization explains (not only the final state): the read the diagram ends with.
func hasViolatingRead(o *harness.Outcome) bool {
	for _, key := range o.Verdict.IllegalKeys {
		if _, err := linearizability.FirstIllegalRead(o.History, key, 10*time.Second); err == nil {
			return true
		}
	}
	return false
}

// firstLinearizabilityFailure runs the default scenario with the mutant, seed after seed, until
// the linearizability check catches it.
func firstLinearizabilityFailure(mutant string, seeds int) (*harness.Outcome, error) {
	scn, err := harness.LookupScenario(harness.DefaultScenario)
	if err != nil {
		return nil, err
	}
	m, err := kv.ParseMutant(mutant)
	if err != nil {
		return nil, err
	}
	scn.KV.Mutants = kv.NewMutants(m)
	type result struct {
		o   *harness.Outcome
		err error
	}
	var found *harness.Outcome
	var runErr error
	harness.ParallelSeeds(harness.AllSeeds.Seeds(1, seeds), runtime.GOMAXPROCS(0), func(seed uint64) result {
		o, err := harness.Run(scn, seed, harness.Options{})
		return result{o, err}
	}, func(r result) {
		switch {
		case r.err != nil:
			runErr = r.err
		case found == nil && r.o.Verdict.Result == linearizability.Illegal && hasViolatingRead(r.o):
			found = r.o
		}
	}, func() bool { return runErr != nil || found != nil })
	if runErr != nil {
		return nil, runErr
	}
	if found == nil {
		return nil, fmt.Errorf("spacetime-diagram: no seed in 1..%d of scenario %s fails linearizability with mutant %s", seeds, scn.Name, mutant)
	}
	return found, nil
}
