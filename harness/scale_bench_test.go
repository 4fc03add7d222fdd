package harness

import "testing"

// BenchmarkScaledSeed is one seed of the default scenario at 100 servers, 1,000 buckets, 100
// clients and 10,000 client operations (the README's large case): "simulate" without the checks,
// "checked" as the command line runs a seed. It is the size at which costs that grow faster than
// the cluster show in a profile (go test -run x -bench ScaledSeed -cpuprofile cpu.out ./harness).
func BenchmarkScaledSeed(b *testing.B) {
	scn, err := LookupScenario(DefaultScenario)
	if err != nil {
		b.Fatal(err)
	}
	scn.KV.Servers, scn.KV.Buckets, scn.KV.Clients = 100, 1000, 100
	scn.Workload.OpsPerClient = 100
	for _, c := range []struct {
		name string
		opts Options
	}{{"simulate", Options{HashOnly: true}}, {"checked", Options{}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			seed := uint64(0)
			steps := int64(0)
			for b.Loop() {
				seed++
				o, err := Run(scn, seed, c.opts)
				if err != nil {
					b.Fatal(err)
				}
				if !c.opts.HashOnly && o.Final != VerdictPass {
					b.Fatalf("seed %d: %v", seed, o.Final)
				}
				steps += o.Result.Steps
			}
			b.ReportMetric(float64(steps)/float64(b.N), "steps/seed")
		})
	}
}
