package sim_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/trace"
)

// heard is what a node of a connection test received: data numbers, and the peers of the
// ConnectionLost notices, with when and from whom.
type heard struct {
	data    []int
	lost    []protocol.NodeID // the Peer of each notice
	lostAt  []protocol.Time
	lostBy  []protocol.NodeID // the sender Receive was given
	inc     []uint32          // the incarnation that received each notice
	dataInc []uint32
}

// listener returns a node that records what it receives in h and, if onLost is set, calls it on a
// notice.
func listener(h *heard, onLost func(env protocol.Env, peer protocol.NodeID)) *scriptNode {
	return &scriptNode{onReceive: func(env protocol.Env, from protocol.NodeID, m protocol.Message) {
		switch m := m.(type) {
		case *protocol.ConnectionLost:
			h.lost = append(h.lost, m.Peer)
			h.lostAt = append(h.lostAt, env.Now())
			h.lostBy = append(h.lostBy, from)
			h.inc = append(h.inc, env.Incarnation())
			if onLost != nil {
				onLost(env, m.Peer)
			}
		case *testMsg:
			h.data = append(h.data, m.n)
			h.dataInc = append(h.dataInc, env.Incarnation())
		}
	}}
}

func breakAt(t *testing.T, s *sim.Sim, at protocol.Time, a, b protocol.NodeID, notice protocol.Duration) {
	t.Helper()
	s.At(at, "break", func() {
		if err := s.BreakConnection(a, b, notice, "middlebox"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBreakConnectionLosesWhatIsInFlightBothWays(t *testing.T) {
	h := make([]heard, 3)
	s := newCluster(t, 3, func(id protocol.NodeID, inc uint32) protocol.Node {
		n := listener(&h[id], nil)
		n.onStart = func(env protocol.Env) {
			switch id {
			case 0:
				env.Send(1, &testMsg{kind: "data", n: 1})
				env.Send(1, &testMsg{kind: "data", n: 2})
				env.Send(2, &testMsg{kind: "data", n: 3}) // another connection: untouched
			case 1:
				env.Send(0, &testMsg{kind: "data", n: 4})
				env.Send(0, &testMsg{kind: "data", n: 5})
			}
		}
		return n
	}, func(c *sim.Config) { c.Network.Default = constLink(10 * protocol.Millisecond) })
	breakAt(t, s, 5*ms, 0, 1, protocol.Millisecond)
	if res := s.RunUntil(5*ms + ms/2); res.Stats.Faults != 1 {
		t.Fatalf("faults %d after the break, want 1", res.Stats.Faults)
	}
	want := []string{"1× connection n0-n1 not yet told to n0", "1× connection n1-n0 not yet told to n1",
		"1× message data n0->n2", "2× message data n0->n1", "2× message data n1->n0"}
	if got := s.Pending(); !slices.Equal(got, want) {
		t.Fatalf("Pending = %q, want %q", got, want)
	}
	res := s.Run()
	if len(h[0].data) != 0 || len(h[1].data) != 0 || !slices.Equal(h[2].data, []int{3}) {
		t.Fatalf("received n0 %v, n1 %v, n2 %v; want nothing between n0 and n1, [3] at n2", h[0].data, h[1].data, h[2].data)
	}
	if res.Stats.DroppedConnectionLost != 4 || res.Stats.Dropped() != 4 {
		t.Fatalf("dropped as connection-lost %d (of %d); want all 4 in flight between n0 and n1", res.Stats.DroppedConnectionLost, res.Stats.Dropped())
	}
	for _, d := range recordsOf(s.Trace(), trace.KindDrop, "") {
		if d.Name != sim.DropConnectionLost || d.TimeUS != int64(10*ms) {
			t.Fatalf("drop %+v, want connection-lost at the would-be arrival (10ms)", d)
		}
	}
	for id, other := range []protocol.NodeID{1, 0} {
		if !slices.Equal(h[id].lost, []protocol.NodeID{other}) || h[id].lostAt[0] != 6*ms || h[id].lostBy[0] != protocol.External {
			t.Fatalf("n%d was told %v at %v by %v; want ConnectionLost{Peer: %d} at 6ms from External", id, h[id].lost, h[id].lostAt, h[id].lostBy, other)
		}
	}
	broken := recordsOf(s.Trace(), trace.KindFault, "connection-broken")
	if len(broken) != 1 {
		t.Fatalf("connection-broken records %+v, want one", broken)
	}
	for k, v := range map[string]string{"a": "0", "b": "1", "by": "middlebox", "notice": "1000", "action": "break"} {
		if got, _ := broken[0].Get(k); got != v {
			t.Fatalf("connection-broken record %+v: %s=%q, want %q", broken[0], k, got, v)
		}
	}
	if told := recordsOf(s.Trace(), trace.KindFault, "connection-told"); len(told) != 2 || told[0].TimeUS != int64(6*ms) {
		t.Fatalf("connection-told records %+v, want two at 6ms", told)
	}
	if res.Stats.Faults != 1 || res.End != sim.EndQuiescent {
		t.Fatalf("faults %d, end %s; want the break counted once and a quiescent end", res.Stats.Faults, res.End)
	}
	checkConservation(t, "break", res.Stats)
}

func TestSendsBeforeTheNoticeAreLostAndAfterItArrive(t *testing.T) {
	var h heard
	s := newCluster(t, 2, func(id protocol.NodeID, inc uint32) protocol.Node {
		if id == 1 {
			return listener(&h, nil)
		}
		// n0 sends data n at n ms (n = 1..10), and "again" (n = 100) as soon as it is told.
		n := listener(new(heard), func(env protocol.Env, peer protocol.NodeID) {
			env.Send(peer, &testMsg{kind: "again", n: 100})
		})
		n.onStart = func(env protocol.Env) { env.SetTimer(protocol.Millisecond, protocol.TimerTag{Arg: 1}) }
		n.onFire = func(env protocol.Env, _ protocol.TimerID, tag protocol.TimerTag) {
			env.Send(1, &testMsg{kind: "data", n: int(tag.Arg)})
			if tag.Arg < 10 {
				env.SetTimer(protocol.Millisecond, protocol.TimerTag{Arg: tag.Arg + 1})
			}
		}
		return n
	}, func(c *sim.Config) { c.Network.Default = constLink(100 * protocol.Microsecond) })
	breakAt(t, s, 4*ms+ms/2, 0, 1, 3*protocol.Millisecond) // n0 is told at 7.5 ms
	res := s.Run()
	if want := []int{1, 2, 3, 4, 100, 8, 9, 10}; !slices.Equal(h.data, want) {
		t.Fatalf("n1 received %v, want %v: the sends at 5, 6 and 7 ms went into the dead socket", h.data, want)
	}
	drops := recordsOf(s.Trace(), trace.KindDrop, sim.DropConnectionLost)
	if len(drops) != 3 || drops[0].TimeUS != int64(5*ms) || drops[2].TimeUS != int64(7*ms) {
		t.Fatalf("connection-lost drops %+v, want three, at the sends (5, 6, 7 ms)", drops)
	}
	if res.Stats.DroppedConnectionLost != 3 {
		t.Fatalf("DroppedConnectionLost %d, want 3", res.Stats.DroppedConnectionLost)
	}
	checkConservation(t, "dead socket", res.Stats)
}

func TestFIFOIsKeptAcrossTheReconnection(t *testing.T) {
	const period = 200 * protocol.Microsecond
	const breakTime, notice = 3 * ms, protocol.Millisecond // n0 is told at 4 ms
	var log []string
	var sentAt []protocol.Time // by data number
	var h heard
	s := newCluster(t, 2, func(id protocol.NodeID, inc uint32) protocol.Node {
		if id == 1 {
			n := listener(&h, nil)
			receive := n.onReceive
			n.onReceive = func(env protocol.Env, from protocol.NodeID, m protocol.Message) {
				log = append(log, m.Type())
				receive(env, from, m)
			}
			return n
		}
		return &scriptNode{
			onStart: func(env protocol.Env) { env.SetTimer(period, protocol.TimerTag{}) },
			onFire: func(env protocol.Env, _ protocol.TimerID, _ protocol.TimerTag) {
				sentAt = append(sentAt, env.Now())
				env.Send(1, &testMsg{kind: "data", n: len(sentAt) - 1})
				if len(sentAt) < 60 {
					env.SetTimer(period, protocol.TimerTag{})
				}
			},
		}
	}, func(c *sim.Config) {
		c.Network.Default = sim.Link{Latency: sim.Latency{Kind: sim.Uniform, Min: 100, Max: 5000}}
	})
	// n1 is paused over the break: what reached its buffers before the break survives, what was
	// still on the wire is lost, and everything waits until 20 ms.
	s.At(0, "pause", func() { _ = s.Pause(1, 20*protocol.Millisecond, "") })
	breakAt(t, s, breakTime, 0, 1, notice)
	res := s.Run()
	if !slices.IsSorted(h.data) || fifoViolations(s.Trace()) != 0 {
		t.Fatalf("n1 received %v: a message overtook an earlier one on the link", h.data)
	}
	notified := slices.Index(log, protocol.MsgConnectionLost)
	if notified < 0 {
		t.Fatalf("n1 was never told (received %v)", log)
	}
	before, after := h.data[:notified], h.data[notified:]
	if len(before) == 0 || len(after) == 0 || res.Stats.DroppedConnectionLost == 0 {
		t.Fatalf("received %v before the notice and %v after it, %d lost; want some of each", before, after, res.Stats.DroppedConnectionLost)
	}
	for _, n := range before {
		if sentAt[n] >= breakTime {
			t.Fatalf("data %d, sent at %v, reached n1 before its notice: only what arrived before the break may", n, sentAt[n])
		}
	}
	for _, n := range after {
		if sentAt[n] < breakTime+protocol.Time(notice) {
			t.Fatalf("data %d, sent at %v, reached n1 after its notice: it was on the wire or in the dead socket and must be lost", n, sentAt[n])
		}
	}
	checkConservation(t, "fifo", res.Stats)
}

func TestWhatReachedAPausedEndSurvivesTheBreak(t *testing.T) {
	var h heard
	s := newCluster(t, 2, func(id protocol.NodeID, inc uint32) protocol.Node {
		if id == 1 {
			return listener(&h, nil)
		}
		return &scriptNode{
			onStart: func(env protocol.Env) {
				env.Send(1, &testMsg{kind: "data", n: 1}) // reaches paused n1 at 10 ms
				env.SetTimer(7*protocol.Millisecond, protocol.TimerTag{})
			},
			onFire: func(env protocol.Env, _ protocol.TimerID, _ protocol.TimerTag) {
				env.Send(1, &testMsg{kind: "data", n: 2}) // would reach it at 17 ms: on the wire at the break
			},
		}
	}, func(c *sim.Config) { c.Network.Default = constLink(10 * protocol.Millisecond) })
	s.At(0, "pause", func() { _ = s.Pause(1, 50*protocol.Millisecond, "") })
	breakAt(t, s, 12*ms, 0, 1, protocol.Millisecond)
	res := s.Run()
	if !slices.Equal(h.data, []int{1}) || res.Stats.DroppedConnectionLost != 1 {
		t.Fatalf("n1 received %v, %d lost; want [1] (it was in n1's buffers) and the other lost", h.data, res.Stats.DroppedConnectionLost)
	}
	if len(h.lostAt) != 1 || h.lostAt[0] != 50*ms {
		t.Fatalf("paused n1 was told at %v, want once, when it resumed (50ms)", h.lostAt)
	}
	if told := recordsOf(s.Trace(), trace.KindFault, "connection-told"); len(told) != 2 || told[1].TimeUS != int64(50*ms) || told[1].Node != 1 {
		t.Fatalf("connection-told records %+v, want n0's at 13ms and n1's at 50ms", told)
	}
}

func TestACrashedEndIsNeverToldAndItsRestartConnects(t *testing.T) {
	h := make([]heard, 2)
	s := newCluster(t, 2, func(id protocol.NodeID, inc uint32) protocol.Node {
		n := listener(&h[id], nil)
		switch {
		case id == 1 && inc == 1:
			n.onStart = func(env protocol.Env) { env.Send(0, &testMsg{kind: "hello", n: 10}) }
		case id == 0:
			n.onStart = func(env protocol.Env) { env.SetTimer(9*protocol.Millisecond, protocol.TimerTag{}) }
			n.onFire = func(env protocol.Env, _ protocol.TimerID, _ protocol.TimerTag) {
				env.Send(1, &testMsg{kind: "ping", n: 20}) // before n0 is told, to n1's new incarnation
			}
		}
		return n
	}, nil)
	breakAt(t, s, 5*ms, 0, 1, 10*protocol.Millisecond) // the ends would be told at 15 ms
	s.At(6*ms, "crash", func() { _ = s.Crash(1, "") })
	s.At(8*ms, "restart", func() { _ = s.Restart(1) })
	res := s.Run()
	if len(h[1].lost) != 0 {
		t.Fatalf("n1 was told %v (incarnations %v): a crashed end is never told about its old connection", h[1].lost, h[1].inc)
	}
	if !slices.Equal(h[0].data, []int{10}) || !slices.Equal(h[1].data, []int{20}) || !slices.Equal(h[1].dataInc, []uint32{1}) {
		t.Fatalf("n0 received %v, n1 %v (incarnations %v); want the restart's hello at n0 and n0's ping at n1's incarnation 1", h[0].data, h[1].data, h[1].dataInc)
	}
	if len(h[0].lostAt) != 1 || h[0].lostAt[0] != 15*ms {
		t.Fatalf("surviving n0 was told at %v, want once at 15ms", h[0].lostAt)
	}
	if res.Stats.DroppedConnectionLost != 0 || res.Stats.DroppedReceiverCrashed != 1 || res.End != sim.EndQuiescent {
		t.Fatalf("connection-lost %d, receiver-crashed %d (n1's notice), end %s; want 0, 1, quiescent", res.Stats.DroppedConnectionLost, res.Stats.DroppedReceiverCrashed, res.End)
	}
	checkConservation(t, "crash", res.Stats)
}

func TestBreakConnectionRejectsBadArguments(t *testing.T) {
	s := newCluster(t, 3, func(protocol.NodeID, uint32) protocol.Node { return &scriptNode{} }, nil)
	_ = s.Crash(2, "")
	for _, tc := range []struct {
		param string
		a, b  protocol.NodeID
		d     protocol.Duration
	}{
		{"a", 9, 1, protocol.Millisecond},
		{"a", protocol.External, 1, protocol.Millisecond},
		{"b", 0, 3, protocol.Millisecond},
		{"b", 1, 1, protocol.Millisecond},
		{"notice", 0, 1, 0},
		{"notice", 0, 1, -5},
	} {
		err := s.BreakConnection(tc.a, tc.b, tc.d, "")
		var pe *sim.ParamError
		if !errors.As(err, &pe) || !errors.Is(err, sim.ErrInvalid) || pe.Param != tc.param || pe.Value == "" {
			t.Errorf("BreakConnection(%d, %d, %d): %v, want a *ParamError naming %q", tc.a, tc.b, tc.d, err, tc.param)
		}
	}
	for _, tc := range []struct {
		param string
		a, b  protocol.NodeID
	}{{"a", 2, 0}, {"b", 0, 2}} {
		if err := s.BreakConnection(tc.a, tc.b, protocol.Millisecond, ""); !errors.Is(err, sim.ErrNotAlive) || !strings.Contains(err.Error(), tc.param+"=2") {
			t.Errorf("BreakConnection(%d, %d) with node 2 down: %v, want ErrNotAlive naming %s=2", tc.a, tc.b, err, tc.param)
		}
	}
	if st := s.Stats(); st.Faults != 0 || st.Sent != 0 {
		t.Fatalf("rejected breaks left faults %d, sends %d; want none", st.Faults, st.Sent)
	}
}

// connectionChatter is a cluster of four nodes that keep messages going around a ring over random
// latencies and resend their last message to a peer when told their connection to it broke.
func connectionChatter(t *testing.T, seed uint64, mode sim.TraceMode, breaks bool) sim.Result {
	t.Helper()
	s := newCluster(t, 4, func(id protocol.NodeID, inc uint32) protocol.Node {
		last := map[protocol.NodeID]*testMsg{}
		send := func(env protocol.Env, to protocol.NodeID, m *testMsg) {
			last[to] = m
			env.Send(to, m)
		}
		next := (id + 1) % 4
		return &scriptNode{
			onStart: func(env protocol.Env) { send(env, next, &testMsg{kind: "token", n: int(id) * 1000}) },
			onReceive: func(env protocol.Env, _ protocol.NodeID, m protocol.Message) {
				switch m := m.(type) {
				case *protocol.ConnectionLost:
					if l := last[m.Peer]; l != nil {
						send(env, m.Peer, l)
					}
				case *testMsg:
					if m.n%1000 < 40 {
						send(env, next, &testMsg{kind: "token", n: m.n + 1})
					}
				}
			},
		}
	}, func(c *sim.Config) {
		c.Seed = seed
		c.Trace = mode
		c.Network.Default = sim.Link{Latency: sim.Latency{Kind: sim.Exponential, Min: 100, Mean: 800, Max: 20_000}}
	})
	if breaks {
		faults := s.Stream("faults")
		for i := 0; i < 5; i++ {
			a := protocol.NodeID(faults.Intn(4))
			b := (a + 1) % 4 // a connection of the ring, or the break may find nothing to lose
			s.At(protocol.Time(1+faults.Intn(20))*ms, "break", func() { _ = s.BreakConnection(a, b, protocol.Duration(1+faults.Intn(3000)), "monkey") })
		}
	}
	res := s.Run()
	checkConservation(t, "chatter", res.Stats)
	return res
}

func TestBreakConnectionIsDeterministic(t *testing.T) {
	var lost int64
	for seed := uint64(1); seed <= 20; seed++ {
		full := connectionChatter(t, seed, sim.TraceFull, true)
		again := connectionChatter(t, seed, sim.TraceHashOnly, true)
		events := connectionChatter(t, seed, sim.TraceEvents, true)
		if full.Hash != again.Hash || full.Hash != events.Hash || full.Stats != again.Stats {
			t.Fatalf("seed %d: hashes %x (full), %x (hash-only), %x (events); stats %+v and %+v", seed, full.Hash, again.Hash, events.Hash, full.Stats, again.Stats)
		}
		if calm := connectionChatter(t, seed, sim.TraceHashOnly, false); calm.Hash == full.Hash {
			t.Fatalf("seed %d: the same hash with and without the breaks", seed)
		}
		lost += full.Stats.DroppedConnectionLost
	}
	if lost == 0 {
		t.Fatal("the breaks lost nothing in any seed: the scenario does not exercise them")
	}
}

func TestAnEndStaysBrokenUntilToldAboutTheLatestBreak(t *testing.T) {
	var h heard
	s := newCluster(t, 2, func(id protocol.NodeID, inc uint32) protocol.Node {
		if id == 1 {
			return listener(&h, nil)
		}
		// n0 sends data n at n ms (n = 1..12).
		return &scriptNode{
			onStart: func(env protocol.Env) { env.SetTimer(protocol.Millisecond, protocol.TimerTag{Arg: 1}) },
			onFire: func(env protocol.Env, _ protocol.TimerID, tag protocol.TimerTag) {
				env.Send(1, &testMsg{kind: "data", n: int(tag.Arg)})
				if tag.Arg < 12 {
					env.SetTimer(protocol.Millisecond, protocol.TimerTag{Arg: tag.Arg + 1})
				}
			},
		}
	}, func(c *sim.Config) { c.Network.Default = constLink(100 * protocol.Microsecond) })
	breakAt(t, s, 4*ms+ms/2, 0, 1, 2*protocol.Millisecond) // first notice at 6.5 ms
	breakAt(t, s, 5*ms+ms/2, 0, 1, 5*protocol.Millisecond) // the latest at 10.5 ms
	s.Run()
	if want := []int{1, 2, 3, 4, 11, 12}; !slices.Equal(h.data, want) {
		t.Fatalf("n1 received %v, want %v: the first notice must not reopen what the second break broke", h.data, want)
	}
	if len(h.lostAt) != 2 {
		t.Fatalf("n1 was told at %v, want once per break", h.lostAt)
	}
}
