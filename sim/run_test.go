package sim_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/trace"
)

// pingForever: node 0 and node 1 bounce one message forever.
func pingForever(protocol.NodeID, uint32) protocol.Node {
	return &scriptNode{
		onStart: func(env protocol.Env) {
			if env.Self() == 0 {
				env.Send(1, &testMsg{kind: "ping"})
			}
		},
		onReceive: func(env protocol.Env, from protocol.NodeID, m protocol.Message) { env.Send(from, m) },
	}
}

func TestEndReasons(t *testing.T) {
	t.Run("quiescent", func(t *testing.T) {
		s := newCluster(t, 2, senderFactory(1, new(int), nil), nil)
		res := s.Run()
		if res.End != sim.EndQuiescent || res.Now != 1*ms || res.Steps != 1 {
			t.Fatalf("got %s at %v after %d steps, want quiescent at 1ms after 1", res.End, res.Now, res.Steps)
		}
		again := s.Run()
		if again.End != sim.EndQuiescent || len(recordsOf(s.Trace(), trace.KindEnd, "")) != 1 {
			t.Fatalf("Run at quiescence: %s, end records %d; want quiescent and still one end record", again.End, len(recordsOf(s.Trace(), trace.KindEnd, "")))
		}
	})
	t.Run("time-budget", func(t *testing.T) {
		s := newCluster(t, 2, pingForever, func(c *sim.Config) { c.TimeBudget = 50 * protocol.Millisecond })
		res := s.Run()
		if res.End != sim.EndTimeBudget || res.Now != 50*ms || res.Stats.Delivered != 50 {
			t.Fatalf("got %s at %v with %d deliveries, want time-budget at 50ms with 50", res.End, res.Now, res.Stats.Delivered)
		}
		if again := s.Run(); again.End != sim.EndTimeBudget || again.Steps != res.Steps {
			t.Fatalf("Run after the time budget: %+v", again)
		}
	})
	t.Run("step-budget", func(t *testing.T) {
		s := newCluster(t, 2, pingForever, func(c *sim.Config) { c.StepBudget = 7 })
		res := s.Run()
		if res.End != sim.EndStepBudget || res.Steps != 7 || res.Now != 7*ms {
			t.Fatalf("got %s after %d steps at %v, want step-budget after 7 at 7ms", res.End, res.Steps, res.Now)
		}
		end := recordsOf(s.Trace(), trace.KindEnd, "")
		if last := s.Trace()[len(s.Trace())-1]; len(end) != 1 || end[0].Name != string(sim.EndStepBudget) || last.Kind != trace.KindEnd {
			t.Fatalf("end records %+v, want one final step-budget record", end)
		}
	})
	t.Run("time-reached", func(t *testing.T) {
		s := newCluster(t, 2, pingForever, nil)
		res := s.RunUntil(10*ms + 500)
		if res.End != sim.EndTimeReached || res.Now != 10*ms+500 || res.Stats.Delivered != 10 {
			t.Fatalf("got %s at %v with %d deliveries, want time-reached at 10.5ms with 10", res.End, res.Now, res.Stats.Delivered)
		}
		if len(recordsOf(s.Trace(), trace.KindEnd, "")) != 0 {
			t.Fatal("RunUntil wrote an end record")
		}
	})
}

func TestPhasesHashLikeOneRun(t *testing.T) {
	whole := newCluster(t, 2, pingForever, func(c *sim.Config) { c.TimeBudget = 30 * protocol.Millisecond })
	phased := newCluster(t, 2, pingForever, func(c *sim.Config) { c.TimeBudget = 30 * protocol.Millisecond })
	phased.RunUntil(10 * ms)
	phased.RunUntil(20 * ms)
	if a, b := whole.Run(), phased.Run(); a.Hash != b.Hash || a.End != b.End {
		t.Fatalf("one run %s %#x, three phases %s %#x", a.End, a.Hash, b.End, b.Hash)
	}
}

func TestBackgroundTimersDoNotPreventQuiescence(t *testing.T) {
	ticks := 0
	s := newCluster(t, 1, func(protocol.NodeID, uint32) protocol.Node {
		return &scriptNode{
			onStart: func(env protocol.Env) {
				env.SetTimer(protocol.Millisecond, protocol.TimerTag{Background: true})
			},
			onFire: func(env protocol.Env, _ protocol.TimerID, tag protocol.TimerTag) {
				ticks++
				env.SetTimer(protocol.Millisecond, tag)
			},
		}
	}, nil)
	if res := s.Run(); res.End != sim.EndQuiescent || res.Now != 0 || ticks != 0 {
		t.Fatalf("got %s at %v after %d ticks, want quiescent at once", res.End, res.Now, ticks)
	}
	if res := s.RunUntil(5 * ms); res.End != sim.EndTimeReached || ticks != 5 {
		t.Fatalf("RunUntil(5ms): %s after %d ticks, want 5 background ticks", res.End, ticks)
	}
	// A pending foreground action keeps the run going; a background one does not.
	if err := s.ScheduleBackground(100*ms, "probe", func() { t.Error("background action ran past quiescence") }); err != nil {
		t.Fatal(err)
	}
	if res := s.Run(); res.End != sim.EndQuiescent || res.Now != 5*ms {
		t.Fatalf("with a background action pending: %s at %v, want quiescent at 5ms", res.End, res.Now)
	}
	// The action at 8 ms runs before the tick due then (armed later), and the run is then quiescent.
	ran := false
	s.At(8*ms, "work", func() { ran = true })
	if res := s.Run(); !ran || res.End != sim.EndQuiescent || res.Now != 8*ms || ticks != 7 {
		t.Fatalf("with a foreground action pending: ran %v, %s at %v after %d ticks", ran, res.End, res.Now, ticks)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	node := func(protocol.NodeID, uint32) protocol.Node { return &scriptNode{} }
	valid := func() sim.Config {
		return sim.Config{
			Nodes:      []sim.NodeSpec{{Name: "a", New: node}, {Name: "b", New: node}},
			Network:    sim.Network{Default: constLink(protocol.Millisecond)},
			TimeBudget: protocol.Second,
			StepBudget: 100,
		}
	}
	if _, err := sim.New(valid()); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	lat := func(l sim.Latency) func(*sim.Config) {
		return func(c *sim.Config) { c.Network.Default.Latency = l }
	}
	cases := []struct {
		param  string
		mutate func(*sim.Config)
	}{
		{"Config.Nodes", func(c *sim.Config) { c.Nodes = nil }},
		{"Config.Nodes[1].Name", func(c *sim.Config) { c.Nodes[1].Name = "" }},
		{"Config.Nodes[1].Name", func(c *sim.Config) { c.Nodes[1].Name = "a" }},
		{"Config.Nodes[0].New", func(c *sim.Config) { c.Nodes[0].New = nil }},
		{"Config.Nodes[0].New", func(c *sim.Config) {
			c.Nodes[0].New = func(protocol.NodeID, uint32) protocol.Node { return nil }
		}},
		{"Config.Nodes[1].Location", func(c *sim.Config) { c.Nodes[1].Location = 1 }},
		{"Config.Nodes[1].Location", func(c *sim.Config) {
			c.Network.Hops = sim.DataCenterTopology(10)
			c.Nodes[1].Location = 2
		}},
		{"Config.TimeBudget", func(c *sim.Config) { c.TimeBudget = 0 }},
		{"Config.TimeBudget", func(c *sim.Config) { c.TimeBudget = -5 }},
		{"Config.StepBudget", func(c *sim.Config) { c.StepBudget = 0 }},
		{"Config.StepBudget", func(c *sim.Config) { c.StepBudget = -1 }},
		{"Config.Trace", func(c *sim.Config) { c.Trace = 7 }},
		{"Config.Network.Default.Latency.Mean", lat(sim.Latency{Kind: sim.Constant, Mean: -1})},
		{"Config.Network.Default.Latency.Min", lat(sim.Latency{Kind: sim.Uniform, Min: -1, Max: 5})},
		{"Config.Network.Default.Latency.Max", lat(sim.Latency{Kind: sim.Uniform, Min: 5, Max: 4})},
		{"Config.Network.Default.Latency.Min", lat(sim.Latency{Kind: sim.Constant, Min: 3, Mean: 5})},
		{"Config.Network.Default.Latency.Mean", lat(sim.Latency{Kind: sim.Uniform, Mean: 3, Max: 5})},
		{"Config.Network.Default.Latency.Mean", lat(sim.Latency{Kind: sim.Exponential, Min: 10, Mean: 5})},
		{"Config.Network.Default.Latency.Max", lat(sim.Latency{Kind: sim.Exponential, Mean: 5, Max: 4})},
		{"Config.Network.Default.Latency.Max", lat(sim.Latency{Kind: sim.LongTail, Mean: 5})},
		{"Config.Network.Default.Latency.Max", lat(sim.Latency{Kind: sim.LongTail, Mean: 5, Max: -2})},
		{"Config.Network.Default.Latency.Kind", lat(sim.Latency{Kind: 9})},
		{"Config.Network.Default.LossProb", func(c *sim.Config) { c.Network.Default.LossProb = -0.1 }},
		{"Config.Network.Default.LossProb", func(c *sim.Config) { c.Network.Default.LossProb = math.NaN() }},
		{"Config.Network.Default.DupProb", func(c *sim.Config) { c.Network.Default.DupProb = 1.01 }},
		{"Config.Network.Links[0->5].To", func(c *sim.Config) {
			c.Network.Links = map[sim.LinkKey]sim.Link{{From: 0, To: 5}: constLink(1)}
		}},
		{"Config.Network.Links[-1->0].From", func(c *sim.Config) {
			c.Network.Links = map[sim.LinkKey]sim.Link{{From: -1, To: 0}: constLink(1)}
		}},
		{"Config.Network.Links[1->0].LossProb", func(c *sim.Config) {
			c.Network.Links = map[sim.LinkKey]sim.Link{{From: 1, To: 0}: {LossProb: 2}}
		}},
		{"Config.Network.Hops.PerHop", func(c *sim.Config) { c.Network.Hops = sim.DataCenterTopology(-1) }},
		{"Config.Network.Hops.Hops", func(c *sim.Config) { c.Network.Hops = &sim.HopTopology{PerHop: 1} }},
		{"Config.Network.Hops.Hops[1]", func(c *sim.Config) {
			c.Network.Hops = &sim.HopTopology{Hops: [][]int{{1, 2}, {1}}, PerHop: 1}
		}},
		{"Config.Network.Hops.Hops[0][1]", func(c *sim.Config) {
			c.Network.Hops = &sim.HopTopology{Hops: [][]int{{1, -2}, {1, 1}}, PerHop: 1}
		}},
	}
	for _, tc := range cases {
		cfg := valid()
		tc.mutate(&cfg)
		s, err := sim.New(cfg)
		var pe *sim.ParamError
		if s != nil || !errors.As(err, &pe) || !errors.Is(err, sim.ErrInvalid) {
			t.Errorf("%s: New returned %v, %v; want a *ParamError", tc.param, s, err)
			continue
		}
		if pe.Param != tc.param || pe.Value == "" || !strings.Contains(err.Error(), tc.param) {
			t.Errorf("error %q names parameter %q (value %q), want %q", err, pe.Param, pe.Value, tc.param)
		}
	}
}

func TestEnvUsedOutsideItsCallPanics(t *testing.T) {
	var kept protocol.Env
	s := newCluster(t, 1, func(protocol.NodeID, uint32) protocol.Node {
		return &scriptNode{onStart: func(env protocol.Env) { kept = env }}
	}, nil)
	s.Run()
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "outside") {
			t.Fatalf("recovered %v, want a panic about using an Env outside its call", r)
		}
	}()
	kept.Send(0, &testMsg{kind: "late"})
}

type describedMsg struct{ key string }

func (m *describedMsg) Type() string { return "put" }

func (m *describedMsg) TraceAttrs() []protocol.Attr { return []protocol.Attr{protocol.A("key", m.key)} }

func TestTraceRecordsCausesAttrsAndEvents(t *testing.T) {
	factory := func(id protocol.NodeID, _ uint32) protocol.Node {
		return &scriptNode{
			onStart: func(env protocol.Env) {
				if id == 0 {
					env.Send(1, &describedMsg{key: "k1"})
				}
			},
			onReceive: func(env protocol.Env, from protocol.NodeID, m protocol.Message) {
				env.Emit("got", protocol.A("from", from), protocol.A("type", m.Type()))
			},
		}
	}
	s := newCluster(t, 2, factory, nil)
	res := s.Run()
	recs := s.Trace()
	send, deliver, event := recordsOf(recs, trace.KindSend, ""), recordsOf(recs, trace.KindDeliver, ""), recordsOf(recs, trace.KindEvent, "got")
	if len(send) != 1 || len(deliver) != 1 || len(event) != 1 {
		t.Fatalf("trace %+v", recs)
	}
	if key, _ := send[0].Get("key"); key != "k1" || send[0].Name != "put" || send[0].Node != 0 || send[0].Peer != 1 {
		t.Fatalf("send record %+v, want put 0->1 with attr key=k1", send[0])
	}
	if deliver[0].Cause != send[0].Seq || deliver[0].MsgID != send[0].MsgID || deliver[0].Node != 1 || deliver[0].Peer != 0 {
		t.Fatalf("deliver record %+v does not point at its send %+v", deliver[0], send[0])
	}
	if from, _ := event[0].Get("from"); event[0].Cause != deliver[0].Seq || event[0].Node != 1 || from != "0" {
		t.Fatalf("event record %+v, want node 1 caused by the delivery %d", event[0], deliver[0].Seq)
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has Seq %d", i, r.Seq)
		}
	}
	hashOnly := newCluster(t, 2, factory, func(c *sim.Config) { c.Trace = sim.TraceHashOnly })
	if got := hashOnly.Run(); got.Hash != res.Hash || hashOnly.Trace() != nil {
		t.Fatalf("HashOnly: hash %#x (Full %#x), %d records kept", got.Hash, res.Hash, len(hashOnly.Trace()))
	}
	if err := hashOnly.WriteTrace(new(strings.Builder)); !errors.Is(err, sim.ErrNoTrace) {
		t.Fatalf("WriteTrace in HashOnly mode: %v, want ErrNoTrace", err)
	}
}

func TestStreamsAreIndependentAndStable(t *testing.T) {
	a, b := newCluster(t, 1, pingForever, nil), newCluster(t, 1, pingForever, nil)
	for i := 0; i < 100; i++ {
		a.Stream(sim.StreamWork).Intn(10) // draws on one stream only
	}
	if x, y := a.Stream(sim.StreamFaults).Float64(), b.Stream(sim.StreamFaults).Float64(); x != y {
		t.Fatalf("drawing from %q moved %q: %v vs %v", sim.StreamWork, sim.StreamFaults, x, y)
	}
	if sim.StreamSeed(1, "faults") == sim.StreamSeed(1, "workload") || sim.StreamSeed(1, "faults") == sim.StreamSeed(2, "faults") {
		t.Fatal("stream seeds collide")
	}
	if a.Stream("x") != a.Stream("x") {
		t.Fatal("Stream returned a new stream for a name it already has")
	}
}

func TestPRNGDrawsAreInRangeAndUniform(t *testing.T) {
	p := sim.NewPRNG(0)
	const draws = 60000
	var counts [6]int
	sum := 0.0
	for i := 0; i < draws; i++ {
		v := p.Intn(6)
		if v < 0 || v >= 6 {
			t.Fatalf("Intn(6) = %d", v)
		}
		counts[v]++
		f := p.Float64()
		if f < 0 || f >= 1 {
			t.Fatalf("Float64() = %v", f)
		}
		sum += f
	}
	for v, c := range counts {
		if math.Abs(float64(c)-draws/6) > 0.05*draws/6 {
			t.Fatalf("Intn(6) drew %d %d times of %d", v, c, draws)
		}
	}
	if mean := sum / draws; math.Abs(mean-0.5) > 0.01 {
		t.Fatalf("mean of Float64 = %v", mean)
	}
	if sim.NewPRNG(7).Uint64() != sim.NewPRNG(7).Uint64() || sim.NewPRNG(7).Uint64() == sim.NewPRNG(8).Uint64() {
		t.Fatal("PRNG is not a function of its seed")
	}
}

// TestRapidDrivesTheWholeRun lets rapid choose every latency, loss, duplication and protocol choice
// of the gossip scenario: FIFO and message conservation must hold for every schedule.
func TestRapidDrivesTheWholeRun(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "seed")
		s, res, err := runGossip(seed, gossipOptions{mode: sim.TraceFull, source: sim.RapidSource(rt)})
		if err != nil {
			rt.Fatal(err)
		}
		if res.End != sim.EndQuiescent {
			rt.Fatalf("run ended with %s", res.End)
		}
		if v := fifoViolations(s.Trace()); v != 0 {
			rt.Fatalf("%d FIFO violations", v)
		}
		checkConservation(rt, "rapid", res.Stats)
		if trace.Hash(s.Trace()) != res.Hash {
			rt.Fatal("trace hash differs from the simulator's")
		}
	})
}
