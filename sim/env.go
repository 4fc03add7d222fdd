package sim

import (
	"fmt"
	"strconv"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// nodeEnv is the protocol.Env of one node. The simulator keeps one per node and hands out a pointer
// to it for every call, so driving a node never allocates. It is active only during a call: a node
// that keeps its Env and uses it later has a bug, and the simulator panics naming it.
type nodeEnv struct {
	s      *Sim
	id     protocol.NodeID
	active bool
	// dead: a crash landed inside the current step; the rest of the step has no effect.
	dead      bool
	stepSends int // sends made so far in the current step
}

var _ protocol.Env = (*nodeEnv)(nil)

func (e *nodeEnv) mustBeActive(method string) {
	if !e.active {
		panic(fmt.Sprintf("sim: node %d (%s) called Env.%s outside Start, Receive or Fire: an Env is valid only during the call it was passed to",
			e.id, e.s.nodes[e.id].spec.Name, method))
	}
}

func (e *nodeEnv) Self() protocol.NodeID { return e.id }

func (e *nodeEnv) Incarnation() uint32 { return e.s.nodes[e.id].incarnation }

func (e *nodeEnv) Now() protocol.Time { return e.s.now }

func (e *nodeEnv) Rand() protocol.Rand { return e.s.nodes[e.id].rand }

func (e *nodeEnv) Send(to protocol.NodeID, m protocol.Message) {
	e.mustBeActive("Send")
	if e.s.landDoom(e.id) {
		return
	}
	e.s.send(e.id, to, m)
}

func (e *nodeEnv) SetTimer(after protocol.Duration, tag protocol.TimerTag) protocol.TimerID {
	e.mustBeActive("SetTimer")
	if after < 0 {
		panic(fmt.Sprintf("sim: node %d set a timer with negative delay %d (tag %+v)", e.id, after, tag))
	}
	s := e.s
	ns := &s.nodes[e.id]
	s.nextTimerID++
	id := protocol.TimerID(s.nextTimerID)
	if e.dead {
		return id // the process died inside this step: the timer is never armed
	}
	s.timers[id] = armedTimer{node: e.id, incarnation: ns.incarnation, background: tag.Background}
	if !tag.Background {
		s.foregroundTimers++
		ns.foregroundTimers++
	}
	s.stats.TimersSet++
	rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindTimerSet, Node: int32(e.id), Incarnation: ns.incarnation,
		TimerID: uint64(id), Cause: s.cause}
	if s.cfg.Trace == TraceFull {
		rec.Attrs = []trace.Attr{
			{Key: "after", Value: strconv.FormatInt(int64(after), 10)},
			{Key: "kind", Value: strconv.FormatInt(int64(tag.Kind), 10)},
			{Key: "arg", Value: strconv.FormatInt(tag.Arg, 10)},
		}
		if tag.Background {
			rec.Attrs = append(rec.Attrs, trace.Attr{Key: "background", Value: "true"})
		}
	}
	seq := s.commit(&rec)
	s.enqueue(&event{kind: evTimer, at: s.now + protocol.Time(after), id: uint64(id), tag: tag, node: e.id, cause: seq})
	return id
}

func (e *nodeEnv) CancelTimer(id protocol.TimerID) {
	e.mustBeActive("CancelTimer")
	if e.dead {
		return
	}
	s := e.s
	t, armed := s.timers[id]
	ns := &s.nodes[e.id]
	if !armed || t.node != e.id || t.incarnation != ns.incarnation {
		return // fired, cancelled, another node's, or an earlier incarnation's: a no-op
	}
	delete(s.timers, id)
	if !t.background {
		s.foregroundTimers--
		ns.foregroundTimers--
	}
	s.stats.TimersCancelled++
}

func (e *nodeEnv) Emit(name string, attrs ...protocol.Attr) {
	e.mustBeActive("Emit")
	if e.dead {
		return
	}
	s := e.s
	s.stats.Events++
	rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindEvent, Node: int32(e.id),
		Incarnation: s.nodes[e.id].incarnation, Cause: s.cause, Name: name}
	s.commitWithAttrs(&rec, attrs)
}
