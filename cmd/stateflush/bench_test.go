package main

import (
	"testing"
	"time"

	"github.com/stateflush/stateflush/harness"
)

// BenchmarkSweepDefaultScenario measures `stateflush sweep` on one worker: seeds 1..b.N of the
// default scenario (1,000 client operations, chaos monkey, every check on). The target is 100
// seeds/s per core. Run: go test -run '^$' -bench SweepDefault -benchtime 200x ./cmd/stateflush/
func BenchmarkSweepDefaultScenario(b *testing.B) {
	scn, err := harness.LookupScenario(harness.DefaultScenario)
	if err != nil {
		b.Fatal(err)
	}
	seeds := harness.AllSeeds.Seeds(1, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	_, err = runSeeds(nil, sweepSpec{scenario: scn, seeds: seeds, workers: 1, budget: 10 * time.Second}, &progress{},
		func(r seedRun) error {
			if r.result.Verdict != harness.VerdictPass {
				b.Errorf("seed %d: %s: %s", r.result.Seed, r.result.Verdict, r.result.Detail)
			}
			return nil
		})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "seeds/s")
}
