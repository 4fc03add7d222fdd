package harness

import (
	"runtime"
	"testing"
)

// BenchmarkDefaultScenarioSeed measures one seed of the default scenario end to end: 1,000 client
// operations under the chaos monkey and swarm-drawn faults, then every check. The sweep throughput
// target is 100 seeds per second per core, i.e. at most 10 ms per op here with -cpu 1.
func BenchmarkDefaultScenarioSeed(b *testing.B) { benchmarkDefaultScenario(b, Options{}) }

// BenchmarkDefaultScenarioSimulationOnly is the same runs without keeping the trace or checking:
// the simulator's and the protocol's share of the cost.
func BenchmarkDefaultScenarioSimulationOnly(b *testing.B) {
	benchmarkDefaultScenario(b, Options{HashOnly: true})
}

// benchmarkDefaultScenario reports, besides time and allocations per seed, the simulated steps per
// seed and the heap allocations per simulated step (the target is at most one).
func benchmarkDefaultScenario(b *testing.B, opt Options) {
	scn, err := LookupScenario(DefaultScenario)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	seed := uint64(0)
	steps := int64(0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		seed++
		o, err := Run(scn, seed, opt)
		if err != nil {
			b.Fatal(err)
		}
		steps += o.Result.Steps
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "seeds/s")
	b.ReportMetric(float64(steps)/float64(b.N), "steps/seed")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(max(steps, 1)), "allocs/step")
}
