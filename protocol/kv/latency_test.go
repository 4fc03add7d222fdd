package kv_test

import (
	"sort"
	"strconv"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
)

// copyLatency runs one fixed scenario: three servers, one bucket with two copies, two clients
// writing continuously over a key space of keys keys; once the bucket has been filled for
// fillTime, a rebalance creates a copy on s2. It returns the latencies (µs) of the writes invoked
// while the copy was under way, and the copy's size.
func copyLatency(t *testing.T, strategy kv.Strategy, keys int) (latenciesUS []int64, entries int, blocked int) {
	t.Helper()
	cfg := defaultCluster()
	cfg.Servers, cfg.Clients, cfg.Buckets, cfg.Redundancy = 3, 2, 1, 2
	cfg.Strategy = strategy
	cfg.ChunkEntries = 8
	cfg.ImageChunkDelay = 200 * protocol.Microsecond
	cfg.Workload = kv.Workload{
		OpsPerClient: 6 * keys,
		ThinkTimeMin: 50 * protocol.Microsecond,
		ThinkTimeMax: 150 * protocol.Microsecond,
		Keys:         keys,
		Mix:          kv.OpMix{Put: 3, Append: 1},
	}
	network := sim.Network{Default: sim.Link{Latency: sim.Latency{Kind: sim.Constant, Mean: 200 * protocol.Microsecond}}}
	c := newCluster(t, 7, cfg, network, sim.TraceHashOnly)
	fillTime := protocol.Time(keys) * protocol.Time(2*protocol.Millisecond)
	c.sim.RunUntil(fillTime)
	if err := c.sim.Inject(fillTime, 0, &kv.Rebalance{Bucket: 0, Target: 2}); err != nil {
		t.Fatal(err)
	}
	if res := c.sim.Run(); res.End != sim.EndQuiescent {
		t.Fatalf("run ended with %s", res.End)
	}
	var begin, end protocol.Time = -1, -1
	for _, e := range c.events {
		switch {
		case e.name == protocol.EventMittOpen && begin < 0:
			begin = e.at
		case e.name == protocol.EventInitialized && end < 0:
			end = e.at
			entries, _ = strconv.Atoi(e.get("entries"))
		case e.name == protocol.EventWriteBlocked:
			blocked++
		}
	}
	if begin < 0 || end < 0 {
		t.Fatalf("%s, %d keys: no copy was made", strategy, keys)
	}
	invoked := map[string]protocol.Time{}
	for _, e := range c.events {
		id := e.get("client") + "/" + e.get("seq")
		switch e.name {
		case protocol.EventOpInvoke:
			if e.get("op") != protocol.OpGet && e.at >= begin && e.at <= end {
				invoked[id] = e.at
			}
		case protocol.EventOpReturn:
			if at, ok := invoked[id]; ok && e.get("status") == protocol.StatusOK {
				latenciesUS = append(latenciesUS, int64(e.at-at))
			}
		}
	}
	if len(latenciesUS) == 0 {
		t.Fatalf("%s, %d keys: no write completed during the copy", strategy, keys)
	}
	sort.Slice(latenciesUS, func(i, j int) bool { return latenciesUS[i] < latenciesUS[j] })
	return latenciesUS, entries, blocked
}

func mean(xs []int64) int64 {
	var sum int64
	for _, x := range xs {
		sum += x
	}
	return sum / int64(len(xs))
}

// TestWriteLatencyDuringCopy: writes issued during a copy are faster with the state flush than with
// the blocking baseline, whose stall grows with the size of the bucket being copied.
func TestWriteLatencyDuringCopy(t *testing.T) {
	var blockingMax []int64
	for _, keys := range []int{40, 160} {
		flush, flushEntries, flushBlocked := copyLatency(t, kv.StateFlush, keys)
		block, blockEntries, blocked := copyLatency(t, kv.Blocking, keys)
		t.Logf("%3d keys: state flush copied %d entries, %d writes during the copy, mean %dµs max %dµs; "+
			"blocking copied %d entries, %d writes (%d held), mean %dµs max %dµs",
			keys, flushEntries, len(flush), mean(flush), flush[len(flush)-1],
			blockEntries, len(block), blocked, mean(block), block[len(block)-1])
		if flushBlocked != 0 {
			t.Errorf("%d keys: the state flush held %d writes", keys, flushBlocked)
		}
		if blocked == 0 {
			t.Errorf("%d keys: the blocking baseline held no write", keys)
		}
		if mean(flush) >= mean(block) {
			t.Errorf("%d keys: mean write latency during the copy %dµs with the state flush, %dµs blocking: want lower", keys, mean(flush), mean(block))
		}
		blockingMax = append(blockingMax, block[len(block)-1])
	}
	if blockingMax[1] <= blockingMax[0] {
		t.Errorf("blocking stall %dµs for the larger bucket, %dµs for the smaller: want it to grow", blockingMax[1], blockingMax[0])
	}
}
