package sim_test

import (
	"errors"
	"math"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/trace"
)

const ms = protocol.Time(protocol.Millisecond)

// senderFactory builds node 0 as a node whose incarnation 0 sends `count` messages to node 1 at
// start, and every other node (and later incarnation) as a silent node that counts what it receives.
func senderFactory(count int, received *int, built *[]uint32) sim.NodeFactory {
	return func(id protocol.NodeID, inc uint32) protocol.Node {
		if built != nil && id == 1 {
			*built = append(*built, inc)
		}
		if id == 0 && inc == 0 {
			return &scriptNode{onStart: func(env protocol.Env) {
				for i := 0; i < count; i++ {
					env.Send(1, &testMsg{kind: "data", n: i})
				}
			}}
		}
		return &scriptNode{onReceive: func(protocol.Env, protocol.NodeID, protocol.Message) { *received++ }}
	}
}

func TestCrashDropsMessagesInFlightToTheNodeEvenIfItRestarts(t *testing.T) {
	received := 0
	var built []uint32
	s := newCluster(t, 2, senderFactory(3, &received, &built), func(c *sim.Config) {
		c.Network.Default = constLink(10 * protocol.Millisecond)
	})
	s.At(5*ms, "crash", func() {
		if err := s.Crash(1, "chaos-monkey"); err != nil {
			t.Fatal(err)
		}
		if s.Alive(1) || s.Node(1) != nil {
			t.Fatal("node 1 still alive after Crash")
		}
	})
	s.At(6*ms, "restart", func() {
		if err := s.Restart(1); err != nil {
			t.Fatal(err)
		}
	})
	res := s.Run()
	if res.End != sim.EndQuiescent {
		t.Fatalf("end %s, want quiescent", res.End)
	}
	if received != 0 || res.Stats.DroppedReceiverCrashed != 3 {
		t.Fatalf("received %d, dropped as receiver-crashed %d; want 0 and 3", received, res.Stats.DroppedReceiverCrashed)
	}
	if got := recordsOf(s.Trace(), trace.KindDrop, sim.DropReceiverCrashed); len(got) != 3 || got[0].TimeUS != int64(10*ms) {
		t.Fatalf("receiver-crashed drop records %+v, want 3 at 10ms", got)
	}
	crash := recordsOf(s.Trace(), trace.KindCrash, "")
	if len(crash) != 1 || crash[0].Node != 1 {
		t.Fatalf("crash records %+v", crash)
	}
	if by, _ := crash[0].Get("by"); by != "chaos-monkey" {
		t.Fatalf("crash record by = %q, want chaos-monkey", by)
	}
	if action, _ := crash[0].Get("action"); action != "crash" {
		t.Fatalf("crash record action = %q, want the scheduled action's label", action)
	}
	restart := recordsOf(s.Trace(), trace.KindRestart, "")
	if len(restart) != 1 || restart[0].Incarnation != 1 || restart[0].TimeUS != int64(6*ms) {
		t.Fatalf("restart records %+v, want incarnation 1 at 6ms", restart)
	}
	if s.Incarnation(1) != 1 || s.StartedAt(1) != 6*ms || !s.Alive(1) {
		t.Fatalf("after restart: incarnation %d, started at %v, alive %v", s.Incarnation(1), s.StartedAt(1), s.Alive(1))
	}
	if len(built) != 2 || built[0] != 0 || built[1] != 1 {
		t.Fatalf("factory for node 1 called with incarnations %v, want [0 1]", built)
	}
	checkConservation(t, "crash", res.Stats)
}

func TestMessagesOfACrashedSenderStillArrive(t *testing.T) {
	received := 0
	s := newCluster(t, 2, senderFactory(2, &received, nil), func(c *sim.Config) {
		c.Network.Default = constLink(10 * protocol.Millisecond)
	})
	s.At(1*ms, "crash", func() { _ = s.Crash(0, "") })
	res := s.Run()
	if received != 2 || res.Stats.Dropped() != 0 {
		t.Fatalf("received %d, dropped %d; want 2 and 0: messages on the wire outlive their sender", received, res.Stats.Dropped())
	}
}

func TestMessagesOfAnOlderIncarnationAreDroppedAsStale(t *testing.T) {
	received := 0
	s := newCluster(t, 2, senderFactory(2, &received, nil), func(c *sim.Config) {
		c.Network.Default = constLink(10 * protocol.Millisecond)
	})
	s.At(1*ms, "crash", func() { _ = s.Crash(0, "") })
	s.At(2*ms, "restart", func() { _ = s.RestartBy(0, "operator") })
	res := s.Run()
	if received != 0 || res.Stats.DroppedStaleIncarnation != 2 {
		t.Fatalf("received %d, stale-incarnation drops %d; want 0 and 2", received, res.Stats.DroppedStaleIncarnation)
	}
	drops := recordsOf(s.Trace(), trace.KindDrop, sim.DropStaleIncarnation)
	if len(drops) != 2 || drops[0].Node != 1 || drops[0].Peer != 0 {
		t.Fatalf("stale drops %+v", drops)
	}
	restart := recordsOf(s.Trace(), trace.KindRestart, "")
	if by, _ := restart[0].Get("by"); by != "operator" {
		t.Fatalf("restart by = %q, want operator", by)
	}
}

func TestMessagesToANodeThatIsDownAreDropped(t *testing.T) {
	received := 0
	s := newCluster(t, 2, senderFactory(1, &received, nil), nil)
	if err := s.Crash(1, ""); err != nil { // before the run starts: node 1 never starts
		t.Fatal(err)
	}
	res := s.Run()
	if received != 0 || res.Stats.DroppedReceiverDown != 1 {
		t.Fatalf("received %d, receiver-down drops %d; want 0 and 1", received, res.Stats.DroppedReceiverDown)
	}
}

func TestCrashCancelsTimersAndRestartStartsAFreshIncarnation(t *testing.T) {
	var fired []uint32
	var started []protocol.Time
	factory := func(id protocol.NodeID, inc uint32) protocol.Node {
		return &scriptNode{
			onStart: func(env protocol.Env) {
				started = append(started, env.Now())
				env.SetTimer(10*protocol.Millisecond, protocol.TimerTag{Kind: 7})
			},
			onFire: func(env protocol.Env, _ protocol.TimerID, tag protocol.TimerTag) {
				fired = append(fired, env.Incarnation())
			},
		}
	}
	s := newCluster(t, 1, factory, nil)
	s.At(5*ms, "crash", func() { _ = s.Crash(0, "") })
	res := s.Run()
	if res.End != sim.EndQuiescent || res.Now != 5*ms || len(fired) != 0 {
		t.Fatalf("after crash: end %s at %v, fired %v; want quiescent at 5ms, nothing fired", res.End, res.Now, fired)
	}
	if err := s.Restart(0); err != nil {
		t.Fatal(err)
	}
	res = s.Run()
	if len(fired) != 1 || fired[0] != 1 || res.Now != 15*ms {
		t.Fatalf("after restart: fired %v at %v, want incarnation 1's timer at 15ms", fired, res.Now)
	}
	if len(started) != 2 || started[1] != 5*ms {
		t.Fatalf("Start ran at %v, want [0 5ms]", started)
	}
	if len(recordsOf(s.Trace(), trace.KindTimer, "")) != 1 || res.Stats.TimersFired != 1 {
		t.Fatalf("want exactly one timer record")
	}
}

func TestCancelledTimersDoNotFireNorKeepTheRunGoing(t *testing.T) {
	var fired []int64
	s := newCluster(t, 1, func(protocol.NodeID, uint32) protocol.Node {
		return &scriptNode{
			onStart: func(env protocol.Env) {
				a := env.SetTimer(3*protocol.Millisecond, protocol.TimerTag{Arg: 1})
				env.SetTimer(2*protocol.Millisecond, protocol.TimerTag{Arg: 2})
				env.CancelTimer(a)
				env.CancelTimer(a)      // twice: a no-op
				env.CancelTimer(999999) // never armed: a no-op
			},
			onFire: func(_ protocol.Env, _ protocol.TimerID, tag protocol.TimerTag) { fired = append(fired, tag.Arg) },
		}
	}, nil)
	res := s.Run()
	if len(fired) != 1 || fired[0] != 2 || res.Now != 2*ms || res.Stats.TimersCancelled != 1 {
		t.Fatalf("fired %v, end at %v, cancelled %d; want [2] at 2ms, 1 cancelled", fired, res.Now, res.Stats.TimersCancelled)
	}
}

// broadcaster: node 0 sends one message to every other node each millisecond, `rounds` times.
func broadcaster(rounds int, got map[protocol.NodeID][]protocol.Time) sim.NodeFactory {
	return func(id protocol.NodeID, _ uint32) protocol.Node {
		if id != 0 {
			return &scriptNode{onReceive: func(env protocol.Env, from protocol.NodeID, m protocol.Message) {
				got[env.Self()] = append(got[env.Self()], env.Now())
				if m.(*testMsg).kind == "ask" {
					env.Send(from, &testMsg{kind: "answer"})
				}
			}}
		}
		sent := 0
		return &scriptNode{
			onStart: func(env protocol.Env) { env.SetTimer(0, protocol.TimerTag{}) },
			onFire: func(env protocol.Env, _ protocol.TimerID, _ protocol.TimerTag) {
				for to := protocol.NodeID(1); to < 4; to++ {
					env.Send(to, &testMsg{kind: "ask"})
				}
				if sent++; sent < rounds {
					env.SetTimer(protocol.Millisecond, protocol.TimerTag{})
				}
			},
			onReceive: func(env protocol.Env, from protocol.NodeID, _ protocol.Message) {
				got[0] = append(got[0], env.Now())
			},
		}
	}
}

func TestPartitionDropsAcrossTheCutUntilHeal(t *testing.T) {
	got := map[protocol.NodeID][]protocol.Time{}
	s := newCluster(t, 4, broadcaster(10, got), nil)
	// Sends at 0..9 ms arrive 1 ms later; the cut lasts from 0 until 4.5 ms.
	s.At(0, "partition", func() {
		if err := s.Partition([]protocol.NodeID{0, 1}, []protocol.NodeID{2, 3}); err != nil {
			t.Fatal(err)
		}
		if !s.Partitioned(0, 2) || !s.Partitioned(3, 1) || s.Partitioned(0, 1) {
			t.Fatal("Partitioned disagrees with the partition")
		}
	})
	s.At(4*ms+500, "heal", func() { _ = s.Heal() })
	res := s.Run()
	if len(got[1]) != 10 {
		t.Fatalf("node 1, same side: received %d, want 10", len(got[1]))
	}
	for _, id := range []protocol.NodeID{2, 3} {
		if len(got[id]) != 5 || got[id][0] != 6*ms {
			t.Fatalf("node %d across the cut: received at %v, want the 5 sends after the heal (from 6ms)", id, got[id])
		}
	}
	if res.Stats.DroppedPartition != 10 || res.Stats.Faults != 2 {
		t.Fatalf("partition drops %d, faults %d; want 10 and 2", res.Stats.DroppedPartition, res.Stats.Faults)
	}
	faults := recordsOf(s.Trace(), trace.KindFault, "")
	if len(faults) != 2 || faults[0].Name != "partition" || faults[1].Name != "heal" {
		t.Fatalf("fault records %+v", faults)
	}
	if a, _ := faults[0].Get("a"); a != "0,1" {
		t.Fatalf("partition record a = %q, want 0,1", a)
	}
}

func TestOneWayPartitionCutsOneDirectionOnly(t *testing.T) {
	got := map[protocol.NodeID][]protocol.Time{}
	s := newCluster(t, 4, broadcaster(1, got), nil)
	if err := s.PartitionOneWay([]protocol.NodeID{2}, []protocol.NodeID{0}); err != nil {
		t.Fatal(err)
	}
	res := s.Run()
	// Node 0 asks 1, 2, 3; all asks arrive; the answer of node 2 is cut.
	if len(got[1])+len(got[2])+len(got[3]) != 3 || len(got[0]) != 2 || res.Stats.DroppedPartition != 1 {
		t.Fatalf("received %v, partition drops %d; want 3 asks, 2 answers, 1 drop", got, res.Stats.DroppedPartition)
	}
}

func TestLossAndDuplicationRatesAreHonoured(t *testing.T) {
	const messages = 20000
	const lossProb, dupProb = 0.1, 0.05
	received := 0
	s := newCluster(t, 2, senderFactory(messages, &received, nil), func(c *sim.Config) {
		c.Network.Default = sim.Link{Latency: sim.Latency{Kind: sim.Uniform, Min: 10, Max: 5000}, LossProb: lossProb, DupProb: dupProb}
		c.Trace = sim.TraceHashOnly
	})
	res := s.Run()
	lossRate := float64(res.Stats.DroppedLoss) / messages
	dupRate := float64(res.Stats.Duplicated) / float64(messages-res.Stats.DroppedLoss)
	if math.Abs(lossRate-lossProb) > 0.01 || math.Abs(dupRate-dupProb) > 0.01 {
		t.Fatalf("loss rate %.4f (want %.2f), duplication rate %.4f (want %.2f)", lossRate, lossProb, dupRate, dupProb)
	}
	if int64(received) != res.Stats.Delivered || res.Stats.Delivered != messages-res.Stats.DroppedLoss+res.Stats.Duplicated {
		t.Fatalf("received %d, stats %+v", received, res.Stats)
	}
}

func TestDelaySpikeAndResetKeepFIFO(t *testing.T) {
	var order []int
	var times []protocol.Time
	s := newCluster(t, 2, func(id protocol.NodeID, _ uint32) protocol.Node {
		if id == 1 {
			return &scriptNode{onReceive: func(env protocol.Env, _ protocol.NodeID, m protocol.Message) {
				order = append(order, m.(*testMsg).n)
				times = append(times, env.Now())
			}}
		}
		n := 0
		return &scriptNode{
			onStart: func(env protocol.Env) { env.SetTimer(0, protocol.TimerTag{}) },
			onFire: func(env protocol.Env, _ protocol.TimerID, _ protocol.TimerTag) {
				env.Send(1, &testMsg{kind: "data", n: n})
				if n++; n < 6 {
					env.SetTimer(protocol.Millisecond, protocol.TimerTag{})
				}
			},
		}
	}, nil)
	key := sim.LinkKey{From: 0, To: 1}
	s.At(1*ms, "spike", func() {
		if err := s.SetLink(key, constLink(20*protocol.Millisecond)); err != nil {
			t.Fatal(err)
		}
	})
	s.At(3*ms, "spike-end", func() {
		if err := s.ResetLink(key); err != nil {
			t.Fatal(err)
		}
		if s.Link(key) != constLink(protocol.Millisecond) {
			t.Fatalf("after ResetLink the link is %+v", s.Link(key))
		}
	})
	s.Run()
	// Sends at 1 and 2 ms take 20 ms; the sends at 3, 4, 5 ms must wait behind them.
	want := []protocol.Time{1 * ms, 21 * ms, 22 * ms, 22 * ms, 22 * ms, 22 * ms}
	for i := range order {
		if order[i] != i {
			t.Fatalf("delivery order %v, want FIFO", order)
		}
	}
	for i := range want {
		if times[i] != want[i] {
			t.Fatalf("delivery times %v, want %v", times, want)
		}
	}
	if len(recordsOf(s.Trace(), trace.KindFault, "set-link")) != 1 || len(recordsOf(s.Trace(), trace.KindFault, "reset-link")) != 1 {
		t.Fatal("want one set-link and one reset-link fault record")
	}
}

func TestHopTopologyLatencyFollowsHopCount(t *testing.T) {
	const perHop = 100 * protocol.Microsecond
	arrivals := map[protocol.NodeID]protocol.Time{}
	s := newCluster(t, 3, func(id protocol.NodeID, _ uint32) protocol.Node {
		return &scriptNode{
			onStart: func(env protocol.Env) {
				if id == 0 {
					env.Send(1, &testMsg{kind: "x"})
					env.Send(2, &testMsg{kind: "x"})
				}
			},
			onReceive: func(env protocol.Env, _ protocol.NodeID, _ protocol.Message) { arrivals[env.Self()] = env.Now() },
		}
	}, func(c *sim.Config) {
		c.Network.Hops = sim.DataCenterTopology(perHop)
		c.Nodes[0].Location = sim.LocationDataCenter
		c.Nodes[1].Location = sim.LocationDataCenter
		c.Nodes[2].Location = sim.LocationDesk
	})
	s.Run()
	inDC, toDesk := protocol.Duration(arrivals[1]), protocol.Duration(arrivals[2])
	if inDC < perHop || inDC > perHop*3/2 || toDesk < 7*perHop || toDesk > 7*perHop*3/2 {
		t.Fatalf("latency within the data center %d, to the desk %d; want [%d,%d] and [%d,%d]",
			inDC, toDesk, perHop, perHop*3/2, 7*perHop, 7*perHop*3/2)
	}
	if l := sim.HopLatency(0, perHop); l.Kind != sim.Constant || l.Mean != 0 {
		t.Fatalf("HopLatency(0) = %+v, want constant 0", l)
	}
}

func TestInjectDeliversFromExternal(t *testing.T) {
	var from []protocol.NodeID
	var at []protocol.Time
	s := newCluster(t, 2, func(protocol.NodeID, uint32) protocol.Node {
		return &scriptNode{onReceive: func(env protocol.Env, f protocol.NodeID, _ protocol.Message) {
			from = append(from, f)
			at = append(at, env.Now())
		}}
	}, nil)
	if err := s.Inject(5*ms, 1, &testMsg{kind: "rebalance"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Inject(6*ms, 0, &testMsg{kind: "rebalance"}); err != nil {
		t.Fatal(err)
	}
	s.At(5*ms+1, "crash", func() { _ = s.Crash(0, "") })
	res := s.Run()
	if len(from) != 1 || from[0] != protocol.External || at[0] != 5*ms || res.Stats.DroppedReceiverCrashed != 1 {
		t.Fatalf("deliveries from %v at %v, stats %+v; want one from External at 5ms and one drop", from, at, res.Stats)
	}
	for _, err := range []error{
		s.Inject(s.Now()-1, 1, &testMsg{kind: "x"}),
		s.Inject(s.Now(), 7, &testMsg{kind: "x"}),
		s.Inject(s.Now(), 1, nil),
	} {
		if !errors.Is(err, sim.ErrInvalid) {
			t.Fatalf("Inject error %v, want ErrInvalid", err)
		}
	}
}

func TestSendToAnUnknownNodeIsDropped(t *testing.T) {
	s := newCluster(t, 1, func(protocol.NodeID, uint32) protocol.Node {
		return &scriptNode{onStart: func(env protocol.Env) {
			env.Send(5, &testMsg{kind: "x"})
			env.Send(protocol.External, &testMsg{kind: "x"})
		}}
	}, nil)
	if res := s.Run(); res.Stats.DroppedNoSuchNode != 2 {
		t.Fatalf("no-such-node drops %d, want 2", res.Stats.DroppedNoSuchNode)
	}
}

func TestFaultMethodsRejectBadArguments(t *testing.T) {
	s := newCluster(t, 3, func(protocol.NodeID, uint32) protocol.Node { return &scriptNode{} }, nil)
	ids := func(v ...protocol.NodeID) []protocol.NodeID { return v }
	s.RunUntil(5 * ms)
	for name, err := range map[string]error{
		"Crash unknown":          s.Crash(3, ""),
		"Crash negative":         s.Crash(-1, ""),
		"Restart unknown":        s.Restart(9),
		"Partition empty a":      s.Partition(nil, ids(1)),
		"Partition empty b":      s.Partition(ids(1), nil),
		"Partition unknown":      s.Partition(ids(0), ids(4)),
		"Partition overlap":      s.Partition(ids(0, 1), ids(1, 2)),
		"OneWay unknown":         s.PartitionOneWay(ids(-3), ids(1)),
		"SetLink unknown":        s.SetLink(sim.LinkKey{From: 0, To: 3}, constLink(1)),
		"SetLink negative":       s.SetLink(sim.LinkKey{From: 0, To: 1}, constLink(-1)),
		"SetLink bad loss":       s.SetLink(sim.LinkKey{From: 0, To: 1}, sim.Link{LossProb: 1.5}),
		"SetLink NaN dup":        s.SetLink(sim.LinkKey{From: 0, To: 1}, sim.Link{DupProb: math.NaN()}),
		"ResetLink unknown":      s.ResetLink(sim.LinkKey{From: 7, To: 1}),
		"Schedule nil action":    s.Schedule(s.Now(), "x", nil),
		"Schedule in the past":   s.Schedule(1*ms, "x", func() {}),
		"Background in the past": s.ScheduleBackground(1*ms, "x", func() {}),
	} {
		var pe *sim.ParamError
		if !errors.As(err, &pe) || !errors.Is(err, sim.ErrInvalid) || pe.Param == "" || pe.Value == "" {
			t.Errorf("%s: error %v, want a *ParamError naming parameter and value", name, err)
		}
	}
	if err := s.Restart(0); !errors.Is(err, sim.ErrAlive) {
		t.Errorf("Restart of a live node: %v, want ErrAlive", err)
	}
	_ = s.Crash(0, "")
	if err := s.Crash(0, ""); !errors.Is(err, sim.ErrNotAlive) {
		t.Errorf("Crash of a dead node: %v, want ErrNotAlive", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("At in the past did not panic")
			}
		}()
		s.At(0, "past", func() {})
	}()
}

// TestLatencyKindText: latency kinds read and write as names; unknown names and kinds are errors.
func TestLatencyKindText(t *testing.T) {
	for k := sim.Constant; k <= sim.LongTail; k++ {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back sim.LatencyKind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Fatalf("%s: read back %v, %v", b, back, err)
		}
	}
	var k sim.LatencyKind
	if err := k.UnmarshalText([]byte("gaussian")); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := sim.LatencyKind(9).MarshalText(); err == nil {
		t.Error("out-of-range kind marshalled")
	}
}
