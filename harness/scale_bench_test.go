package harness

import "testing"

// BenchmarkScaledSeed is one seed of the default scenario at 30 servers, 300 buckets, 30 clients
// and 3,000 client operations: a size at which costs that grow faster than the cluster show in a
// profile (go test -run x -bench ScaledSeed -cpuprofile cpu.out ./harness).
func BenchmarkScaledSeed(b *testing.B) {
	scn, err := LookupScenario(DefaultScenario)
	if err != nil {
		b.Fatal(err)
	}
	scn.KV.Servers, scn.KV.Buckets, scn.KV.Clients = 30, 300, 30
	scn.KV.Workload.OpsPerClient = 100
	b.ReportAllocs()
	seed := uint64(0)
	steps := int64(0)
	for b.Loop() {
		seed++
		o, err := Run(scn, seed, Options{HashOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		steps += o.Result.Steps
	}
	b.ReportMetric(float64(steps)/float64(b.N), "steps/seed")
}
