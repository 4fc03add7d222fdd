package kv_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/trace"
)

// invokes lists a run's op-invoke events as "client seq op key value", in event order.
func invokes(c *cluster) []string {
	var out []string
	for _, e := range c.named(protocol.EventOpInvoke) {
		out = append(out, fmt.Sprintf("%s %s %s %s %s", e.get("client"), e.get("seq"), e.get("op"), e.get("key"), e.get("value")))
	}
	return out
}

// Workload.OnlyKeys: a run restricted to some keys invokes exactly the operations the unrestricted
// run of the same seed invokes on those keys (same clients, sequence numbers, kinds and values),
// sends clients' requests for no other key, and every client still gets through its whole workload.
func TestOnlyKeysKeepsTheDrawsAndPerformsOnlyTheListedKeys(t *testing.T) {
	cfg := defaultCluster()
	for _, seed := range []uint64{3, 11} {
		full, _, _ := randomRun(t, seed, cfg, sim.TraceEvents)
		all := invokes(full)
		keys := map[string]bool{}
		for _, e := range full.named(protocol.EventOpInvoke) {
			if len(keys) < 2 {
				keys[e.get("key")] = true
			}
		}
		only := cfg
		for k := range keys {
			only.Workload.OnlyKeys = append(only.Workload.OnlyKeys, k)
		}
		slices.Sort(only.Workload.OnlyKeys)

		shrunk, res, desc := randomRun(t, seed, only, sim.TraceFull)
		var want []string
		for i, e := range full.named(protocol.EventOpInvoke) {
			if keys[e.get("key")] {
				want = append(want, all[i])
			}
		}
		got := invokes(shrunk)
		// Timing differs once other operations are gone, so compare per client in sequence order.
		slices.Sort(want)
		slices.Sort(got)
		if len(want) == 0 || len(want) == len(all) {
			t.Fatalf("seed %d: keys %v select %d of %d operations: not a restriction", seed, only.Workload.OnlyKeys, len(want), len(all))
		}
		if !slices.Equal(got, want) {
			t.Errorf("seed %d (%s) keys %v: restricted run invoked\n%v\nwant the unrestricted run's\n%v", seed, desc, only.Workload.OnlyKeys, got, want)
		}
		if returns := len(shrunk.named(protocol.EventOpReturn)); returns != len(got) {
			t.Errorf("seed %d: %d op-returns for %d op-invokes", seed, returns, len(got))
		}
		for _, r := range shrunk.sim.Trace() {
			if r.Kind != trace.KindSend || !kv.IsClient(only.Config, protocol.NodeID(r.Node)) {
				continue
			}
			if key, _ := r.Get("key"); !keys[key] {
				t.Errorf("seed %d: client %d sent a request for key %q, not among %v", seed, r.Node, key, only.Workload.OnlyKeys)
				break
			}
		}
		for id := cfg.Servers; id < cfg.Servers+cfg.Clients; id++ {
			client := shrunk.sim.Node(protocol.NodeID(id)).(tapNode).inner.(*kv.Client)
			if client.Completed() != cfg.Workload.OpsPerClient {
				t.Errorf("seed %d: c%d completed %d of %d operations (run ended %s)", seed, id-cfg.Servers, client.Completed(), cfg.Workload.OpsPerClient, res.End)
			}
		}
	}
}
