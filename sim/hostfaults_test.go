package sim_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/trace"
)

func TestHostCrashLosesWhatTheHostHadInFlight(t *testing.T) {
	received := 0
	s := newCluster(t, 2, senderFactory(2, &received, nil), func(c *sim.Config) {
		c.Network.Default = constLink(10 * protocol.Millisecond)
	})
	s.At(1*ms, "crash", func() {
		if err := s.CrashHost(0, "chaos-monkey"); err != nil {
			t.Fatal(err)
		}
	})
	res := s.Run()
	if received != 0 || res.Stats.DroppedSenderHostDown != 2 || res.Stats.HostCrashes != 1 {
		t.Fatalf("received %d, dropped as sender-host-down %d, host crashes %d; want 0, 2, 1", received, res.Stats.DroppedSenderHostDown, res.Stats.HostCrashes)
	}
	crashes := recordsOf(s.Trace(), trace.KindCrash, "")
	if kind, _ := crashes[0].Get("kind"); kind != "host" {
		t.Fatalf("crash record %+v does not say kind=host", crashes[0])
	}
	checkConservation(t, "host crash", res.Stats)
}

func TestHostCrashSparesWhatItsNextIncarnationSends(t *testing.T) {
	received := 0
	s := newCluster(t, 2, func(id protocol.NodeID, inc uint32) protocol.Node {
		if id == 0 {
			return &scriptNode{onStart: func(env protocol.Env) { env.Send(1, &testMsg{kind: "hello", n: int(inc)}) }}
		}
		return &scriptNode{onReceive: func(protocol.Env, protocol.NodeID, protocol.Message) { received++ }}
	}, nil)
	s.At(0, "crash", func() { _ = s.CrashHost(0, "") })
	s.At(0, "restart", func() { _ = s.Restart(0) })
	res := s.Run()
	if received != 1 || res.Stats.Dropped() != 1 {
		t.Fatalf("received %d, dropped %d; want the new incarnation's hello only (1, 1)", received, res.Stats.Dropped())
	}
}

// fanOut builds node 0 as a node that, on the first message it receives, sends one message to every
// other node, sets a timer and emits an event; the others count what they receive.
func fanOut(received map[protocol.NodeID]int, fired *int) sim.NodeFactory {
	return func(id protocol.NodeID, inc uint32) protocol.Node {
		if id == 0 {
			return &scriptNode{
				onReceive: func(env protocol.Env, _ protocol.NodeID, _ protocol.Message) {
					for to := protocol.NodeID(1); to < 4; to++ {
						env.Send(to, &testMsg{kind: "write", n: int(to)})
					}
					env.SetTimer(protocol.Millisecond, protocol.TimerTag{Kind: 1})
					env.Emit("applied")
				},
				onFire: func(protocol.Env, protocol.TimerID, protocol.TimerTag) { *fired++ },
			}
		}
		return &scriptNode{
			onStart: func(env protocol.Env) {
				if id == 3 && inc == 0 {
					env.Send(0, &testMsg{kind: "go"})
				}
			},
			onReceive: func(protocol.Env, protocol.NodeID, protocol.Message) { received[id]++ },
		}
	}
}

func TestCrashInStepCutsTheStepAfterItsDrawnSend(t *testing.T) {
	for _, kind := range []sim.CrashKind{sim.ProcessCrash, sim.HostCrash} {
		t.Run(kind.String(), func(t *testing.T) {
			received := map[protocol.NodeID]int{}
			fired := 0
			s := newCluster(t, 4, fanOut(received, &fired), nil)
			if err := s.CrashInStep(0, 1, kind, "chaos-monkey", 50*protocol.Millisecond, nil); err != nil {
				t.Fatal(err)
			}
			res := s.Run()
			wantFirst := 1
			if kind == sim.HostCrash {
				wantFirst = 0 // on the wire when the host died: lost with it
			}
			if received[1] != wantFirst || received[2] != 0 || received[3] != 0 {
				t.Fatalf("received %v; want only the first write (%d of it) to get out", received, wantFirst)
			}
			if fired != 0 || len(recordsOf(s.Trace(), trace.KindEvent, "applied")) != 0 {
				t.Fatalf("the crashed step's timer fired %d times / its event was recorded: effects after the crash point must die with it", fired)
			}
			if res.Stats.SendsLostInCrash != 2 || s.Alive(0) {
				t.Fatalf("sends lost %d, alive %v; want 2 and down", res.Stats.SendsLostInCrash, s.Alive(0))
			}
			crash := recordsOf(s.Trace(), trace.KindCrash, "")
			if at, _ := crash[0].Get("in-step"); len(crash) != 1 || at != "after 1 sends" {
				t.Fatalf("crash records %+v, want one with in-step=after 1 sends", crash)
			}
			if res.End != sim.EndQuiescent {
				t.Fatalf("end %s, want quiescent (the fallback must not fire after the crash landed)", res.End)
			}
		})
	}
}

func TestCrashInStepFallsBackToACrashBetweenSteps(t *testing.T) {
	received := map[protocol.NodeID]int{}
	fired := 0
	s := newCluster(t, 4, fanOut(received, &fired), nil)
	// No step of node 0 sends more than three messages: the crash lands at the deadline instead.
	if err := s.CrashInStep(0, 3, sim.ProcessCrash, "", 20*protocol.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	s.Run()
	if received[1]+received[2]+received[3] != 3 || fired != 1 {
		t.Fatalf("received %v, fired %d; want the whole step done before the fallback crash", received, fired)
	}
	crash := recordsOf(s.Trace(), trace.KindCrash, "")
	if len(crash) != 1 || crash[0].TimeUS != int64(20*ms) {
		t.Fatalf("crash records %+v, want one at 20ms", crash)
	}
}

func TestPauseHoldsDeliveriesAndTimersAndRunsThemInOrderOnResume(t *testing.T) {
	var log []string
	var times []protocol.Time
	run := func() (*sim.Sim, sim.Result) {
		log, times = nil, nil
		s := newCluster(t, 2, func(id protocol.NodeID, inc uint32) protocol.Node {
			if id == 0 {
				return &scriptNode{onStart: func(env protocol.Env) { env.SetTimer(2*protocol.Millisecond, protocol.TimerTag{Kind: 1}) },
					onFire: func(env protocol.Env, _ protocol.TimerID, _ protocol.TimerTag) {
						for i := 0; i < 3; i++ {
							env.Send(1, &testMsg{kind: "data", n: i})
						}
					}}
			}
			return &scriptNode{
				onStart: func(env protocol.Env) { env.SetTimer(4*protocol.Millisecond, protocol.TimerTag{Kind: 7}) },
				onReceive: func(env protocol.Env, _ protocol.NodeID, m protocol.Message) {
					log = append(log, m.Type()+string(rune('0'+m.(*testMsg).n)))
					times = append(times, env.Now())
				},
				onFire: func(env protocol.Env, _ protocol.TimerID, _ protocol.TimerTag) {
					log = append(log, "timer")
					times = append(times, env.Now())
				},
			}
		}, nil)
		s.At(1*ms, "pause", func() {
			if err := s.Pause(1, 100*protocol.Millisecond, "chaos-monkey"); err != nil {
				t.Fatal(err)
			}
			if !s.Paused(1) || !s.Alive(1) {
				t.Fatal("a paused node must be paused and alive")
			}
		})
		return s, s.Run()
	}
	s, res := run()
	// The data arrive at 3 ms and the timer is due at 4 ms: all wait until 101 ms, then run in that
	// order.
	if want := []string{"data0", "data1", "data2", "timer"}; !slices.Equal(log, want) {
		t.Fatalf("node 1 ran %v, want %v", log, want)
	}
	for _, at := range times {
		if at != 101*ms {
			t.Fatalf("node 1 ran at %v, want everything at the resume time 101ms", times)
		}
	}
	if s.Paused(1) || len(recordsOf(s.Trace(), trace.KindFault, "pause")) != 1 || len(recordsOf(s.Trace(), trace.KindFault, "resume")) != 1 {
		t.Fatalf("pause and resume records missing, or still paused")
	}
	if fifoViolations(s.Trace()) != 0 {
		t.Fatal("a pause reordered a link's messages")
	}
	checkConservation(t, "pause", res.Stats)
	if _, again := run(); again.Hash != res.Hash {
		t.Fatalf("same run, hashes %x and %x", res.Hash, again.Hash)
	}
}

func TestCrashDuringAPauseDropsWhatWaited(t *testing.T) {
	received := 0
	s := newCluster(t, 2, senderFactory(3, &received, nil), nil)
	s.At(0, "pause", func() { _ = s.Pause(1, 50*protocol.Millisecond, "") })
	s.At(10*ms, "crash", func() { _ = s.Crash(1, "") })
	res := s.Run()
	if received != 0 || res.Stats.DroppedReceiverCrashed != 3 || s.Paused(1) {
		t.Fatalf("received %d, dropped %d, paused %v; want 0, 3 and not paused", received, res.Stats.DroppedReceiverCrashed, s.Paused(1))
	}
	if res.End != sim.EndQuiescent {
		t.Fatalf("end %s", res.End)
	}
}

func TestHostFaultsRejectBadArguments(t *testing.T) {
	s := newCluster(t, 2, senderFactory(0, new(int), nil), nil)
	_ = s.Crash(1, "")
	for name, err := range map[string]error{
		"pause unknown":         s.Pause(9, protocol.Millisecond, ""),
		"pause down":            s.Pause(1, protocol.Millisecond, ""),
		"pause zero":            s.Pause(0, 0, ""),
		"crash-host down":       s.CrashHost(1, ""),
		"crash-in-step neg":     s.CrashInStep(0, -1, sim.ProcessCrash, "", protocol.Millisecond, nil),
		"crash-in-step within":  s.CrashInStep(0, 0, sim.ProcessCrash, "", 0, nil),
		"crash-in-step kind":    s.CrashInStep(0, 0, sim.CrashKind(9), "", protocol.Millisecond, nil),
		"crash-in-step unknown": s.CrashInStep(-1, 0, sim.HostCrash, "", protocol.Millisecond, nil),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := s.Pause(0, protocol.Millisecond, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(0, protocol.Millisecond, ""); err == nil || !errors.Is(err, sim.ErrInvalid) {
		t.Errorf("pausing a paused node: %v, want an ErrInvalid error", err)
	}
	if _, err := sim.ParseCrashKind("meteor"); err == nil {
		t.Error("ParseCrashKind accepted an unknown kind")
	}
}

func TestAMessageArrivingAtTheResumeInstantWaitsBehindWhatWaited(t *testing.T) {
	var got []int
	s := newCluster(t, 2, func(id protocol.NodeID, inc uint32) protocol.Node {
		if id == 0 {
			return &scriptNode{
				onStart: func(env protocol.Env) {
					env.Send(1, &testMsg{kind: "data", n: 0}) // arrives at 1 ms, during the pause
					env.SetTimer(9*protocol.Millisecond, protocol.TimerTag{})
				},
				onFire: func(env protocol.Env, _ protocol.TimerID, _ protocol.TimerTag) {
					env.Send(1, &testMsg{kind: "data", n: 1}) // arrives at 10 ms, the resume instant
				},
			}
		}
		return &scriptNode{onReceive: func(_ protocol.Env, _ protocol.NodeID, m protocol.Message) { got = append(got, m.(*testMsg).n) }}
	}, nil)
	s.At(0, "pause", func() { _ = s.Pause(1, 10*protocol.Millisecond, "") })
	s.Run()
	if !slices.Equal(got, []int{0, 1}) || fifoViolations(s.Trace()) != 0 {
		t.Fatalf("node 1 received %v, want [0 1]: the link's order must survive the pause", got)
	}
}

func TestCrashInStepIsCalledOffWhenItsGuardSaysNo(t *testing.T) {
	received := map[protocol.NodeID]int{}
	fired := 0
	s := newCluster(t, 4, fanOut(received, &fired), nil)
	asked := 0
	if err := s.CrashInStep(0, 1, sim.HostCrash, "chaos-monkey", 50*protocol.Millisecond, func() bool { asked++; return false }); err != nil {
		t.Fatal(err)
	}
	s.Run()
	if asked != 1 || !s.Alive(0) || received[1]+received[2]+received[3] != 3 || fired != 1 {
		t.Fatalf("guard asked %d times, alive %v, received %v, fired %d; want asked once at the due send, the step untouched", asked, s.Alive(0), received, fired)
	}
	if len(recordsOf(s.Trace(), trace.KindFault, "crash-called-off")) != 1 || len(recordsOf(s.Trace(), trace.KindCrash, "")) != 0 {
		t.Fatal("a called-off crash must leave one crash-called-off record and no crash")
	}
}

func TestWhatReachedAPausedNodeSurvivesItsSendersHostCrash(t *testing.T) {
	received := 0
	s := newCluster(t, 2, senderFactory(2, &received, nil), nil) // the data arrive at 1 ms
	s.At(0, "pause", func() { _ = s.Pause(1, 10*protocol.Millisecond, "") })
	s.At(5*ms, "crash", func() { _ = s.CrashHost(0, "") })
	res := s.Run()
	if received != 2 || res.Stats.DroppedSenderHostDown != 0 {
		t.Fatalf("received %d, lost with the host %d; want 2 and 0: they were in node 1's buffers, not on the wire", received, res.Stats.DroppedSenderHostDown)
	}
}
