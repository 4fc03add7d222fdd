package sim_test

import (
	"slices"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
)

// beat is background traffic: a heartbeat that the receiver answers with another heartbeat.
type beat struct{}

func (*beat) Type() string     { return "beat" }
func (*beat) Background() bool { return true }

func TestBackgroundMessagesDoNotPreventQuiescence(t *testing.T) {
	delivered := 0
	factory := func(id protocol.NodeID, _ uint32) protocol.Node {
		return &scriptNode{
			onStart: func(env protocol.Env) {
				if id == 0 {
					env.Send(1, &beat{})
				}
			},
			onReceive: func(env protocol.Env, from protocol.NodeID, m protocol.Message) {
				delivered++
				env.Send(from, m) // ping-pong forever: one beat is always in flight
			},
		}
	}
	s := newCluster(t, 2, factory, nil)
	if res := s.Run(); res.End != sim.EndQuiescent || res.Now != 0 {
		t.Fatalf("with only background messages in flight: %s at %v, want quiescent at once", res.End, res.Now)
	}
	if got := s.Pending(); len(got) != 0 {
		t.Fatalf("Pending at quiescence = %q, want nothing", got)
	}
	if res := s.RunUntil(10 * ms); res.End != sim.EndTimeReached || delivered != 10 {
		t.Fatalf("RunUntil(10ms): %s after %d deliveries, want the background beat to keep going (10)", res.End, delivered)
	}
}

func TestPendingNamesWhatKeepsTheRunGoing(t *testing.T) {
	factory := func(id protocol.NodeID, _ uint32) protocol.Node {
		return &scriptNode{
			onStart: func(env protocol.Env) {
				if id == 0 {
					env.Send(1, &testMsg{kind: "put"})
					env.Send(1, &testMsg{kind: "put"})
					env.Send(1, &beat{})
					env.SetTimer(5*protocol.Millisecond, protocol.TimerTag{Kind: 7, Arg: 3})
					env.SetTimer(5*protocol.Millisecond, protocol.TimerTag{Kind: 8, Background: true})
				}
			},
		}
	}
	s := newCluster(t, 2, factory, func(c *sim.Config) { c.TimeBudget = protocol.Millisecond / 2 })
	s.At(ms/4*3, "heal", func() {})
	if res := s.Run(); res.End != sim.EndTimeBudget {
		t.Fatalf("ended %s, want the time budget", res.End)
	}
	want := []string{`1× action "heal"`, "1× timer kind 7 arg 3 at n0", "2× message put n0->n1"}
	if got := s.Pending(); !slices.Equal(got, want) {
		t.Fatalf("Pending = %q, want %q", got, want)
	}
	if got, want := s.PendingSummary(1), `1× action "heal" and 2 more`; got != want {
		t.Fatalf("PendingSummary(1) = %q, want %q", got, want)
	}
}
