package harness

import "testing"

// BenchmarkDefaultScenarioSeed measures one seed of the default scenario end to end: 1,000 client
// operations under the chaos monkey and swarm-drawn faults, then every check. The sweep throughput
// target is 100 seeds per second per core, i.e. at most 10 ms per op here with -cpu 1.
func BenchmarkDefaultScenarioSeed(b *testing.B) { benchmarkDefaultScenario(b, Options{}) }

// BenchmarkDefaultScenarioSimulationOnly is the same runs without keeping the trace or checking:
// the simulator's and the protocol's share of the cost.
func BenchmarkDefaultScenarioSimulationOnly(b *testing.B) {
	benchmarkDefaultScenario(b, Options{HashOnly: true})
}

func benchmarkDefaultScenario(b *testing.B, opt Options) {
	scn, err := LookupScenario(DefaultScenario)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	seed := uint64(0)
	for b.Loop() {
		seed++
		if _, err := Run(scn, seed, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "seeds/s")
}
