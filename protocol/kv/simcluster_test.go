package kv_test

import (
	"slices"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
)

// cluster is a kv cluster in the simulator, with every protocol event also recorded here (through a
// tapping Env), for tests and benchmarks that look at the store's events in the trace's hash-only
// mode. Checking runs goes through package harness, as everywhere else.
type cluster struct {
	t      testing.TB
	cfg    kv.Config
	sim    *sim.Sim
	events []tapped
}

type tapped struct {
	node  protocol.NodeID
	at    protocol.Time
	name  string
	attrs []protocol.Attr
}

func (e tapped) get(key string) string {
	for _, a := range e.attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

type tapNode struct {
	inner protocol.Node
	c     *cluster
}

type tapEnv struct {
	protocol.Env
	c *cluster
}

func (e tapEnv) Emit(name string, attrs ...protocol.Attr) {
	e.c.events = append(e.c.events, tapped{node: e.Self(), at: e.Now(), name: name, attrs: slices.Clone(attrs)})
	e.Env.Emit(name, attrs...)
}

func (n tapNode) Start(env protocol.Env) { n.inner.Start(tapEnv{env, n.c}) }
func (n tapNode) Receive(env protocol.Env, from protocol.NodeID, m protocol.Message) {
	n.inner.Receive(tapEnv{env, n.c}, from, m)
}
func (n tapNode) Fire(env protocol.Env, id protocol.TimerID, tag protocol.TimerTag) {
	n.inner.Fire(tapEnv{env, n.c}, id, tag)
}

// testCluster is a cluster's configuration and what its clients run, which the tests of this
// package vary together.
type testCluster struct {
	kv.Config
	Workload kv.Workload
}

// defaultCluster is kv's default configuration running kv's default workload.
func defaultCluster() testCluster {
	return testCluster{Config: kv.DefaultConfig(), Workload: kv.DefaultWorkload()}
}

func newCluster(t testing.TB, seed uint64, tc testCluster, network sim.Network, mode sim.TraceMode) *cluster {
	t.Helper()
	cfg := tc.Config
	factory, err := kv.NewFactory(cfg, tc.Workload)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	c := &cluster{t: t, cfg: cfg}
	var nodes []sim.NodeSpec
	for id := 0; id < cfg.Servers+cfg.Clients; id++ {
		nid := protocol.NodeID(id)
		nodes = append(nodes, sim.NodeSpec{
			Name:   kv.NodeName(cfg, nid),
			Client: kv.IsClient(cfg, nid),
			New: func(id protocol.NodeID, inc uint32) protocol.Node {
				return tapNode{inner: factory(id, inc), c: c}
			},
		})
	}
	s, err := sim.New(sim.Config{
		Seed:        seed,
		Nodes:       nodes,
		Network:     network,
		TimeBudget:  60 * protocol.Second,
		StepBudget:  20_000_000,
		Trace:       mode,
		Description: map[string]any{"seed": seed, "strategy": cfg.Strategy.String(), "mutants": cfg.Mutants.String()},
	})
	if err != nil {
		t.Fatalf("sim: %v", err)
	}
	c.sim = s
	return c
}

func (c *cluster) server(id protocol.NodeID) *kv.Server {
	n := c.sim.Node(id)
	if n == nil {
		return nil
	}
	return n.(tapNode).inner.(*kv.Server)
}

func (c *cluster) named(name string) []tapped {
	var out []tapped
	for _, e := range c.events {
		if e.name == name {
			out = append(out, e)
		}
	}
	return out
}
