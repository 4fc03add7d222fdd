package sim_test

import (
	"fmt"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
)

// The gossip scenario exercises every part of the simulator: eight servers gossip a maximum value
// in rounds driven by foreground timers and send heartbeats on background timers; two clients send
// requests to random servers, retrying on timeouts (cancelling the timer on a reply); links have
// every latency kind, loss and duplication; a fault schedule drawn from the "faults" stream
// partitions, heals, spikes link delays, crashes and restarts servers.

const (
	gossipServers   = 8
	gossipClients   = 2
	gossipRounds    = 12
	clientOps       = 8
	clientAttempts  = 4
	timerRound      = 1
	timerHeartbeat  = 2
	timerRetry      = 3
	heartbeatPeriod = 5 * protocol.Millisecond
	retryTimeout    = 20 * protocol.Millisecond
)

type gossipMsg struct {
	Kind  string
	Value int64
	Seq   int
}

func (m *gossipMsg) Type() string { return m.Kind }

func (m *gossipMsg) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{protocol.A("value", m.Value), protocol.A("seq", m.Seq)}
}

type gossipServer struct {
	value      int64
	round      int
	heartbeats int
}

func (g *gossipServer) Start(env protocol.Env) {
	g.value = int64(env.Rand().Intn(1000))
	env.SetTimer(protocol.Duration(env.Rand().Intn(2000)), protocol.TimerTag{Kind: timerRound})
	env.SetTimer(heartbeatPeriod, protocol.TimerTag{Kind: timerHeartbeat, Background: true})
	env.Emit("server-start", protocol.A("value", g.value))
}

func (g *gossipServer) Receive(env protocol.Env, from protocol.NodeID, m protocol.Message) {
	msg := m.(*gossipMsg)
	switch msg.Kind {
	case "gossip":
		if msg.Value > g.value {
			g.value = msg.Value
			env.Emit("adopt", protocol.A("value", g.value), protocol.A("from", from))
		}
		env.Send(from, &gossipMsg{Kind: "gossip-ack", Value: g.value, Seq: msg.Seq})
	case "gossip-ack":
		if msg.Value > g.value {
			g.value = msg.Value
		}
	case "request":
		env.Send(from, &gossipMsg{Kind: "reply", Value: g.value, Seq: msg.Seq})
	case "heartbeat":
	}
}

func (g *gossipServer) Fire(env protocol.Env, _ protocol.TimerID, tag protocol.TimerTag) {
	switch tag.Kind {
	case timerRound:
		g.round++
		peer := protocol.NodeID(env.Rand().Intn(gossipServers))
		if peer != env.Self() {
			env.Send(peer, &gossipMsg{Kind: "gossip", Value: g.value, Seq: g.round})
		}
		if g.round < gossipRounds {
			env.SetTimer(protocol.Duration(1000+env.Rand().Intn(4000)), protocol.TimerTag{Kind: timerRound, Arg: int64(g.round)})
		}
	case timerHeartbeat:
		g.heartbeats++
		// Heartbeat only while gossiping, so that the run can become quiescent.
		if g.round < gossipRounds {
			env.Send(protocol.NodeID((int(env.Self())+1)%gossipServers), &gossipMsg{Kind: "heartbeat", Seq: g.heartbeats})
		}
		env.SetTimer(heartbeatPeriod, protocol.TimerTag{Kind: timerHeartbeat, Background: true})
	}
}

type gossipClient struct {
	op       int
	attempts int
	retry    protocol.TimerID
}

func (c *gossipClient) Start(env protocol.Env) { c.next(env) }

func (c *gossipClient) next(env protocol.Env) {
	if c.op >= clientOps {
		return
	}
	c.op++
	c.attempts = 0
	env.Emit(protocol.EventOpInvoke, protocol.A("client", env.Self()), protocol.A("seq", c.op), protocol.A("op", protocol.OpGet))
	c.try(env)
}

func (c *gossipClient) try(env protocol.Env) {
	c.attempts++
	server := protocol.NodeID(env.Rand().Intn(gossipServers))
	env.Send(server, &gossipMsg{Kind: "request", Seq: c.op})
	c.retry = env.SetTimer(retryTimeout, protocol.TimerTag{Kind: timerRetry, Arg: int64(c.op)})
}

func (c *gossipClient) Receive(env protocol.Env, _ protocol.NodeID, m protocol.Message) {
	msg := m.(*gossipMsg)
	if msg.Kind != "reply" || msg.Seq != c.op || c.retry == 0 {
		return // a late or duplicated reply
	}
	env.CancelTimer(c.retry)
	c.retry = 0
	env.Emit(protocol.EventOpReturn, protocol.A("client", env.Self()), protocol.A("seq", c.op),
		protocol.A("status", protocol.StatusOK), protocol.A("value", msg.Value))
	c.next(env)
}

func (c *gossipClient) Fire(env protocol.Env, _ protocol.TimerID, tag protocol.TimerTag) {
	if tag.Kind != timerRetry || int(tag.Arg) != c.op {
		return
	}
	c.retry = 0
	if c.attempts < clientAttempts {
		c.try(env)
		return
	}
	env.Emit(protocol.EventOpReturn, protocol.A("client", env.Self()), protocol.A("seq", c.op),
		protocol.A("status", protocol.StatusUnknown))
	c.next(env)
}

type gossipOptions struct {
	mode    sim.TraceMode
	reorder bool
	source  func(stream string) protocol.Rand
}

// gossipConfig builds the scenario's configuration from a seed: the choice of link overrides comes
// from a stream of its own, so it never shifts the simulator's streams.
func gossipConfig(seed uint64, opt gossipOptions) sim.Config {
	choose := sim.NewPRNG(sim.StreamSeed(seed, "scenario"))
	cfg := sim.Config{
		Seed: seed,
		Network: sim.Network{
			Default: sim.Link{Latency: sim.Latency{Kind: sim.Uniform, Min: 100, Max: 2000}, LossProb: 0.02, DupProb: 0.02},
			Links:   map[sim.LinkKey]sim.Link{},
			Reorder: opt.reorder,
		},
		TimeBudget:  10 * protocol.Second,
		StepBudget:  1_000_000,
		Trace:       opt.mode,
		Source:      opt.source,
		Description: map[string]any{"seed": seed, "scenario": "gossip"},
	}
	for i := 0; i < gossipServers; i++ {
		cfg.Nodes = append(cfg.Nodes, sim.NodeSpec{Name: fmt.Sprintf("s%d", i),
			New: func(protocol.NodeID, uint32) protocol.Node { return &gossipServer{} }})
	}
	for i := 0; i < gossipClients; i++ {
		cfg.Nodes = append(cfg.Nodes, sim.NodeSpec{Name: fmt.Sprintf("c%d", i), Client: true,
			New: func(protocol.NodeID, uint32) protocol.Node { return &gossipClient{} }})
	}
	kinds := []sim.Latency{
		{Kind: sim.Constant, Mean: 700},
		{Kind: sim.Exponential, Min: 200, Mean: 1200, Max: 30000},
		{Kind: sim.LongTail, Min: 100, Mean: 900, Max: 40000},
	}
	n := len(cfg.Nodes)
	for i := 0; i < 20; i++ {
		k := sim.LinkKey{From: protocol.NodeID(choose.Intn(n)), To: protocol.NodeID(choose.Intn(n))}
		cfg.Network.Links[k] = sim.Link{Latency: kinds[choose.Intn(len(kinds))], LossProb: 0.05 * choose.Float64(), DupProb: 0.05 * choose.Float64()}
	}
	return cfg
}

// buildGossip creates the scenario's simulation and schedules its faults.
func buildGossip(seed uint64, opt gossipOptions) (*sim.Sim, error) {
	s, err := sim.New(gossipConfig(seed, opt))
	if err != nil {
		return nil, err
	}
	faults := s.Stream(sim.StreamFaults)
	servers := make([]protocol.NodeID, gossipServers)
	for i := range servers {
		servers[i] = protocol.NodeID(i)
	}
	for i := 0; i < 8; i++ {
		at := protocol.Time(faults.Intn(60_000))
		switch faults.Intn(5) {
		case 0:
			split := 1 + faults.Intn(gossipServers-1)
			s.At(at, "partition", func() {
				if err := s.Partition(servers[:split], servers[split:]); err != nil {
					panic(err)
				}
			})
			s.At(at+protocol.Time(faults.Intn(20_000)), "heal", func() { _ = s.Heal() })
		case 1:
			from, to := protocol.NodeID(faults.Intn(gossipServers)), protocol.NodeID(gossipServers+faults.Intn(gossipClients))
			s.At(at, "one-way", func() {
				if err := s.PartitionOneWay([]protocol.NodeID{from}, []protocol.NodeID{to}); err != nil {
					panic(err)
				}
			})
		case 2, 3:
			victim := protocol.NodeID(faults.Intn(gossipServers))
			downFor := protocol.Time(faults.Intn(15_000))
			restart := faults.Intn(4) != 0
			s.At(at, "crash", func() {
				if s.Crash(victim, "test-monkey") != nil {
					return // already down
				}
				if restart {
					s.At(s.Now()+downFor, "restart", func() {
						if err := s.RestartBy(victim, "test-monkey"); err != nil {
							panic(err)
						}
					})
				}
			})
		case 4:
			k := sim.LinkKey{From: protocol.NodeID(faults.Intn(gossipServers)), To: protocol.NodeID(faults.Intn(gossipServers))}
			spike := sim.Link{Latency: sim.Latency{Kind: sim.Uniform, Min: 10_000, Max: 30_000}}
			s.At(at, "delay-spike", func() {
				if err := s.SetLink(k, spike); err != nil {
					panic(err)
				}
			})
			s.At(at+protocol.Time(faults.Intn(20_000)), "delay-spike-end", func() {
				if err := s.ResetLink(k); err != nil {
					panic(err)
				}
			})
		}
	}
	return s, nil
}

// runGossip builds and runs the scenario to its end.
func runGossip(seed uint64, opt gossipOptions) (*sim.Sim, sim.Result, error) {
	s, err := buildGossip(seed, opt)
	if err != nil {
		return nil, sim.Result{}, err
	}
	return s, s.Run(), nil
}
