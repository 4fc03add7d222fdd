package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol/kv"
)

// TestFlushMutantsChangeNothingWithoutTheFlush backs the error below: under the blocking and naive
// strategies every flush mutant leaves the run exactly as it was (same trace hash), while under the
// state flush the mutants as a whole do change runs.
func TestFlushMutantsChangeNothingWithoutTheFlush(t *testing.T) {
	base, err := harness.LookupScenario("steady-monkey")
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		strategy kv.Strategy
		mutants  kv.Mutants
		seed     uint64
	}
	hashes := map[run]uint64{}
	hash := func(strategy kv.Strategy, m kv.Mutants, seed uint64) uint64 {
		if h, ok := hashes[run{strategy, m, seed}]; ok {
			return h
		}
		scn := base
		scn.KV.Strategy, scn.KV.Mutants = strategy, m
		o, err := harness.Run(scn, seed, harness.Options{})
		if err != nil {
			t.Fatal(err)
		}
		hashes[run{strategy, m, seed}] = o.Result.Hash
		return o.Result.Hash
	}
	changedUnderFlush := false
	for _, m := range kv.AllMutants() {
		if !m.InFlush() {
			continue
		}
		for seed := uint64(1); seed <= 1; seed++ {
			for _, strategy := range []kv.Strategy{kv.Blocking, kv.Naive} {
				if got, want := hash(strategy, kv.NewMutants(m), seed), hash(strategy, 0, seed); got != want {
					t.Errorf("mutant %s changes seed %d of strategy %s (hash %016x, without it %016x)", m, seed, strategy, got, want)
				}
			}
			if hash(kv.StateFlush, kv.NewMutants(m), seed) != hash(kv.StateFlush, 0, seed) {
				changedUnderFlush = true
			}
		}
	}
	if !changedUnderFlush {
		t.Error("no flush mutant changed any state-flush run: the comparison cannot tell")
	}
}

func TestFlushMutantWithoutFlushIsAnErrorNamingBoth(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--scenario", "small", "--strategy", "blocking", "--mutant", "skip-flush"},
		{"run", "--scenario", "small", "--strategy", "naive", "--mutant", "no-mitt,observer-early"},
		{"mutants", "--scenario", "small", "--strategy", "naive", "--mutant", "count-on-receipt", "--seeds", "1"},
		{"--scenario", "small", "--strategy", "blocking", "--mutant", "flush-not-bound-to-source", "--seeds", "1"},
	} {
		r := cli(t, args...)
		wantCode(t, r, exitUsage, args...)
		strategy, mutant := args[slicesIndex(args, "--strategy")+1], args[slicesIndex(args, "--mutant")+1]
		mutant = strings.TrimPrefix(mutant, "no-mitt,")
		if !strings.Contains(r.stderr, "--mutant "+mutant) || !strings.Contains(r.stderr, "--strategy "+strategy) || r.stdout != "" {
			t.Errorf("stateflush %s: want an error naming --mutant %s and --strategy %s before any run:\n%s", strings.Join(args, " "), mutant, strategy, r)
		}
	}
	// A mutant outside the flush is fine with the naive strategy.
	args := []string{"run", "--scenario", "small", "--strategy", "naive", "--mutant", "no-mitt", "--seed", "1", "--out", t.TempDir()}
	if r := cli(t, args...); r.code == exitUsage {
		t.Errorf("stateflush %s: %s", strings.Join(args, " "), r)
	}
	// Without a list, mutants scores only the mutants that change the strategy's runs and says so.
	args = []string{"mutants", "--scenario", "small", "--strategy", "blocking", "--seeds", "1", "--shrink-tries", "0", "--quiet", "--json"}
	r := cli(t, args...)
	if r.code == exitUsage || !strings.Contains(r.stderr, "not scoring skip-flush") || strings.Contains(r.stdout, `"skip-flush"`) || !strings.Contains(r.stdout, `"no-mitt"`) {
		t.Errorf("stateflush %s: want no-mitt scored, skip-flush left out with a note:\n%s", strings.Join(args, " "), r)
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestNaiveBaselineFailingIsNotCalledTheCorrectProtocol runs the default job with the naive
// strategy on a seed where it loses data: the result says so without calling it a bug of the
// correct protocol.
func TestNaiveBaselineFailingIsNotCalledTheCorrectProtocol(t *testing.T) {
	r := cli(t, "sweep", "--scenario", "small", "--strategy", "naive", "--seeds", "200", "--json", "--quiet")
	f, err := harness.ReadSweep(strings.NewReader(r.stdout), "sweep")
	if err != nil {
		t.Fatal(err)
	}
	lines := f.Lines
	var seed uint64
	for _, l := range lines {
		if l.Verdict == harness.VerdictViolation {
			seed = l.Seed
			break
		}
	}
	if seed == 0 {
		t.Fatal("the naive strategy passed seeds 1..200 of the small scenario: no failing seed to test with")
	}
	args := []string{"--scenario", "small", "--strategy", "naive", "--mutant", "no-mitt", "--first-seed", fmt.Sprint(seed), "--seeds", "1", "--quiet", "--shrink-tries", "0", "--out", t.TempDir()}
	r = cli(t, args...)
	wantCode(t, r, exitViolation, args...)
	if strings.Contains(r.stdout, "correct protocol") || !strings.Contains(r.stdout, "result: the naive strategy") || !strings.Contains(r.stdout, "as it is built to") {
		t.Errorf("stateflush %s: the naive baseline's failure is worded as the correct protocol's:\n%s", strings.Join(args, " "), r.stdout)
	}
}
