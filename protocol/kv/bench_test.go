package kv_test

import (
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
)

// BenchmarkRandomRun simulates one TestRandomCrashesConverge schedule per iteration (5 servers, 3
// clients x 40 operations, crashes, a rebalance) in hash-only trace mode and reports simulator
// steps per second and client operations per run.
func BenchmarkRandomRun(b *testing.B) {
	var steps int64
	for i := 0; i < b.N; i++ {
		_, res, _ := randomRun(b, uint64(i+1), randomConfig(), sim.TraceHashOnly)
		steps += res.Steps
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
	b.ReportMetric(float64(steps)/float64(b.N), "steps/run")
}

// BenchmarkCopyLargeBucket creates one copy of a bucket of 20,000 entries (state flush, 64 entries
// per chunk); ns/op is the time to simulate the copy alone (filling the bucket is not timed), and
// copy-ms the copy's duration in virtual time.
func BenchmarkCopyLargeBucket(b *testing.B) {
	const keys = 20000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cfg := defaultCluster()
		cfg.Servers, cfg.Clients, cfg.Buckets, cfg.Redundancy = 3, 1, 1, 2
		cfg.ChunkEntries = 64
		cfg.Workload = kv.Workload{OpsPerClient: 3 * keys, Keys: keys, Mix: kv.OpMix{Put: 1}}
		c := newCluster(b, 1, cfg, sim.Network{Default: sim.Link{Latency: sim.Latency{Kind: sim.Constant, Mean: 100}}}, sim.TraceHashOnly)
		c.sim.Run()
		start := c.sim.Now()
		if err := c.sim.Inject(start, 0, &kv.Rebalance{Bucket: 0, Target: 2}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c.sim.Run()
		var begin, end protocol.Time
		for _, e := range c.events {
			switch e.name {
			case protocol.EventMittOpen:
				begin = e.at
			case protocol.EventInitialized:
				end = e.at
			}
		}
		b.ReportMetric(float64(end-begin)/1000, "copy-ms")
	}
}
