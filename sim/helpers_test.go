package sim_test

import (
	"fmt"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/trace"
)

// scriptNode is a node whose handlers are test closures; nil handlers do nothing.
type scriptNode struct {
	onStart   func(env protocol.Env)
	onReceive func(env protocol.Env, from protocol.NodeID, m protocol.Message)
	onFire    func(env protocol.Env, id protocol.TimerID, tag protocol.TimerTag)
}

func (n *scriptNode) Start(env protocol.Env) {
	if n.onStart != nil {
		n.onStart(env)
	}
}

func (n *scriptNode) Receive(env protocol.Env, from protocol.NodeID, m protocol.Message) {
	if n.onReceive != nil {
		n.onReceive(env, from, m)
	}
}

func (n *scriptNode) Fire(env protocol.Env, id protocol.TimerID, tag protocol.TimerTag) {
	if n.onFire != nil {
		n.onFire(env, id, tag)
	}
}

// testMsg is a message with a kind and a number.
type testMsg struct {
	kind string
	n    int
}

func (m *testMsg) Type() string { return m.kind }

// constLink is a link with a constant latency and no faults.
func constLink(latency protocol.Duration) sim.Link {
	return sim.Link{Latency: sim.Latency{Kind: sim.Constant, Mean: latency}}
}

// newCluster builds a Full-trace simulation of n nodes named n0, n1, ... from one factory, with a
// 1 ms constant-latency network; configure adjusts the configuration before New.
func newCluster(t testing.TB, n int, factory sim.NodeFactory, configure func(*sim.Config)) *sim.Sim {
	t.Helper()
	cfg := sim.Config{
		Seed:       1,
		Network:    sim.Network{Default: constLink(protocol.Millisecond)},
		TimeBudget: 10 * protocol.Second,
		StepBudget: 1_000_000,
	}
	for i := 0; i < n; i++ {
		cfg.Nodes = append(cfg.Nodes, sim.NodeSpec{Name: fmt.Sprintf("n%d", i), New: factory})
	}
	if configure != nil {
		configure(&cfg)
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	return s
}

// recordsOf returns the records of the given kind (and, if name is not empty, name).
func recordsOf(records []trace.Record, kind trace.Kind, name string) []trace.Record {
	var out []trace.Record
	for _, r := range records {
		if r.Kind == kind && (name == "" || r.Name == name) {
			out = append(out, r)
		}
	}
	return out
}

// fataler is what testing.TB and *rapid.T have in common for reporting a failure.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkConservation checks that at quiescence every message sent (and every duplicate) was either
// delivered or dropped.
func checkConservation(t fataler, label string, st sim.Stats) {
	t.Helper()
	if st.Sent+st.Duplicated != st.Delivered+st.Dropped() {
		t.Fatalf("%s: sent %d + duplicated %d != delivered %d + dropped %d (%+v)",
			label, st.Sent, st.Duplicated, st.Delivered, st.Dropped(), st)
	}
}

// fifoViolations counts deliveries that overtook an earlier message on the same link: message IDs
// grow with send order, so on each link the delivered IDs must never decrease.
func fifoViolations(records []trace.Record) int {
	type link struct{ from, to int32 }
	last := map[link]uint64{}
	violations := 0
	for _, r := range records {
		if r.Kind != trace.KindDeliver || r.Peer == int32(protocol.External) {
			continue
		}
		k := link{r.Peer, r.Node}
		if r.MsgID < last[k] {
			violations++
		} else {
			last[k] = r.MsgID
		}
	}
	return violations
}
