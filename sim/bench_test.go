package sim_test

import (
	"fmt"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
)

// pingPongNode answers every ping with a pong and every pong with a ping to a random peer, so a
// fixed number of messages circulate forever. Messages are preallocated and reused: the benchmark
// measures the simulator, not the protocol's allocations.
type pingPongNode struct{ peers int }

type pingMsg struct{}

func (pingMsg) Type() string { return "ping" }

type pongMsg struct{}

func (pongMsg) Type() string { return "pong" }

var (
	thePing protocol.Message = pingMsg{}
	thePong protocol.Message = pongMsg{}
)

func (p *pingPongNode) Start(env protocol.Env) { p.pingSomeone(env) }

func (p *pingPongNode) pingSomeone(env protocol.Env) {
	to := protocol.NodeID(env.Rand().Intn(p.peers - 1))
	if to >= env.Self() {
		to++
	}
	env.Send(to, thePing)
}

func (p *pingPongNode) Receive(env protocol.Env, from protocol.NodeID, m protocol.Message) {
	if m == thePing {
		env.Send(from, thePong)
		return
	}
	p.pingSomeone(env)
}

func (p *pingPongNode) Fire(protocol.Env, protocol.TimerID, protocol.TimerTag) {}

// BenchmarkPingPong8 measures the simulator's hot path: eight nodes ping-ponging over a network with
// uniformly random latency, in HashOnly mode. One op is one delivered message (one event).
func BenchmarkPingPong8(b *testing.B) {
	res := runBenchCluster(b, sim.Latency{Kind: sim.Uniform, Min: 100, Max: 1000},
		func() protocol.Node { return &pingPongNode{peers: benchNodes} })
	if res.Stats.Delivered != int64(b.N) {
		b.Fatalf("run ended after %d deliveries, want %d", res.Stats.Delivered, b.N)
	}
	b.ReportMetric(float64(res.Stats.Delivered)/b.Elapsed().Seconds(), "msgs/s")
}

// benchNodes is the cluster size of the benchmarks.
const benchNodes = 8

// runBenchCluster runs benchNodes nodes in HashOnly mode for b.N events, timing only the run, and
// checks that it ended by its step budget.
func runBenchCluster(b *testing.B, latency sim.Latency, newNode func() protocol.Node) sim.Result {
	cfg := sim.Config{
		Seed:       1,
		Network:    sim.Network{Default: sim.Link{Latency: latency}},
		TimeBudget: protocol.Duration(1) << 62,
		StepBudget: int64(b.N),
		Trace:      sim.TraceHashOnly,
	}
	for i := 0; i < benchNodes; i++ {
		cfg.Nodes = append(cfg.Nodes, sim.NodeSpec{Name: fmt.Sprintf("n%d", i),
			New: func(protocol.NodeID, uint32) protocol.Node { return newNode() }})
	}
	s, err := sim.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	res := s.Run()
	b.StopTimer()
	if res.End != sim.EndStepBudget {
		b.Fatalf("run ended with %s, want step-budget", res.End)
	}
	return res
}

// timerNode exercises the timer and event paths: on each tick it re-arms its tick, re-arms (cancels
// and sets) a watchdog, emits an event and pings a random peer.
type timerNode struct {
	peers    int
	watchdog protocol.TimerID
}

var tickAttrs = []protocol.Attr{{Key: "phase", Value: "steady"}}

func (n *timerNode) Start(env protocol.Env) {
	env.SetTimer(protocol.Duration(env.Rand().Intn(1000)), protocol.TimerTag{Kind: 1})
}

func (n *timerNode) Receive(protocol.Env, protocol.NodeID, protocol.Message) {}

func (n *timerNode) Fire(env protocol.Env, _ protocol.TimerID, tag protocol.TimerTag) {
	if tag.Kind != 1 {
		return
	}
	env.SetTimer(protocol.Duration(100+env.Rand().Intn(900)), tag)
	env.CancelTimer(n.watchdog)
	n.watchdog = env.SetTimer(10*protocol.Millisecond, protocol.TimerTag{Kind: 2})
	env.Emit("tick", tickAttrs...)
	env.Send(protocol.NodeID(env.Rand().Intn(n.peers)), thePing)
}

// BenchmarkTimers8 measures the timer, cancellation and event paths in HashOnly mode. One op is one
// event (a timer firing or a delivery).
func BenchmarkTimers8(b *testing.B) {
	res := runBenchCluster(b, sim.Latency{Kind: sim.Exponential, Min: 100, Mean: 500, Max: 10_000},
		func() protocol.Node { return &timerNode{peers: benchNodes} })
	b.ReportMetric(float64(res.Steps)/b.Elapsed().Seconds(), "events/s")
}
