package sim

import (
	"fmt"
	"strconv"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// Faults of a node's host and process beyond a crash between steps: a crash that lands inside a
// step, part-way through the messages the step sends, and a process pause (a long garbage
// collection, a frozen virtual machine) after which the node goes on as if nothing happened.

// CrashKind says what a crash takes with it.
type CrashKind uint8

const (
	// ProcessCrash: the process dies; what it had sent still arrives (see Sim.Crash).
	ProcessCrash CrashKind = iota
	// HostCrash: the machine dies; what it had sent and is still in flight is lost too (see
	// Sim.CrashHost).
	HostCrash
)

func (k CrashKind) String() string {
	switch k {
	case ProcessCrash:
		return "process"
	case HostCrash:
		return "host"
	}
	return "CrashKind(" + strconv.Itoa(int(k)) + ")"
}

// ParseCrashKind reads "process" or "host".
func ParseCrashKind(text string) (CrashKind, error) {
	switch text {
	case "process":
		return ProcessCrash, nil
	case "host":
		return HostCrash, nil
	}
	return 0, invalid("crash kind", text, `unknown crash kind (want "process" or "host")`)
}

// doom is a crash armed to land inside one of the node's steps (Sim.CrashInStep).
type doom struct {
	armed      bool
	afterSends int
	kind       CrashKind
	by         string
	gen        uint32 // tells the fallback action whether this doom is still the armed one
	allowed    func() bool
}

// CrashInStep arms a crash that lands inside a step of the node: in the first step (a delivery, a
// timer or its start) that sends more than afterSends messages, the node crashes right after its
// afterSends-th send, so that the step's later messages are never sent; whatever else the step
// does after that point (timers, events, state) dies with it. If no step of the node sends that
// many messages within `within`, it crashes then, between steps. This is how a crash interrupts a
// multi-recipient write, a flush or a view broadcast half-way. kind says whether messages sent
// before the crash still arrive (ProcessCrash) or are lost in flight too (HostCrash). allowed, when
// not nil, is asked again when the crash is due (the world may have changed since it was armed: a
// monkey that keeps data within its redundancy must not land a crash that has become unsafe); if
// it says no, the crash is called off, and a fault record "crash-called-off" says so. A later call
// replaces an armed crash that has not landed. Errors: unknown node, a node that is down,
// afterSends < 0 or within <= 0.
func (s *Sim) CrashInStep(id protocol.NodeID, afterSends int, kind CrashKind, by string, within protocol.Duration, allowed func() bool) error {
	if err := s.checkCrash(id, "CrashInStep"); err != nil {
		return err
	}
	if afterSends < 0 {
		return invalid("afterSends", afterSends, "negative")
	}
	if within <= 0 {
		return invalid("within", within, "must be positive")
	}
	if kind != ProcessCrash && kind != HostCrash {
		return invalid("kind", kind, "unknown crash kind")
	}
	ns := &s.nodes[id]
	gen := ns.doom.gen + 1
	ns.doom = doom{armed: true, afterSends: afterSends, kind: kind, by: by, gen: gen, allowed: allowed}
	s.At(s.now+protocol.Time(within), "crash-in-step fallback", func() {
		if d := s.nodes[id].doom; d.armed && d.gen == gen && s.nodes[id].alive {
			s.landCrash(id, trace.Attr{Key: "in-step", Value: "none within " + strconv.FormatInt(int64(within), 10) + "us"})
		}
	})
	return nil
}

// landCrash makes the armed crash of a node happen now, unless its guard calls it off. It reports
// whether the node crashed.
func (s *Sim) landCrash(id protocol.NodeID, where trace.Attr) bool {
	ns := &s.nodes[id]
	d := ns.doom
	ns.doom = doom{gen: d.gen}
	if d.allowed != nil && !d.allowed() {
		s.stats.Faults++
		rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindFault, Node: int32(id), Peer: int32(protocol.External),
			Incarnation: ns.incarnation, Cause: s.cause, Name: "crash-called-off", Attrs: s.controlAttrs(d.by, where)}
		s.commit(&rec)
		return false
	}
	s.crashNow(id, d.kind, d.by, where)
	return true
}

// landDoom is called before each send of a node inside a step: if an armed crash is due at this
// send, the node crashes now and the send does not happen. It reports whether the node is dead.
func (s *Sim) landDoom(id protocol.NodeID) bool {
	env := &s.envs[id]
	if env.dead {
		s.stats.SendsLostInCrash++
		return true
	}
	ns := &s.nodes[id]
	if !ns.doom.armed || env.stepSends < ns.doom.afterSends {
		env.stepSends++
		return false
	}
	if !s.landCrash(id, trace.Attr{Key: "in-step", Value: "after " + strconv.Itoa(ns.doom.afterSends) + " sends"}) {
		env.stepSends++
		return false
	}
	s.stats.SendsLostInCrash++
	return true
}

// beginStep and endStep bracket every call into a node (Start, Receive, Fire).
func (s *Sim) beginStep(id protocol.NodeID) *nodeEnv {
	env := &s.envs[id]
	env.active = true
	env.dead = false
	env.stepSends = 0
	return env
}

func (s *Sim) endStep(env *nodeEnv) {
	env.active = false
	env.dead = false
}

// Pause stops a node's process for d without killing it, as a long garbage-collection pause or a
// frozen virtual machine does: from now until it resumes it handles nothing. Messages that reach it
// and timers that come due meanwhile wait, in the order they would have run, and run when it
// resumes, at the resume time (its timers fire late, as a paused process's do). It keeps its state
// and incarnation; the others may well have given it up for dead by then. A crash ends the pause
// (what waited is dropped as for any crash). by is recorded in the pause record. Errors: unknown
// node, a node that is down or already paused, d <= 0.
func (s *Sim) Pause(id protocol.NodeID, d protocol.Duration, by string) error {
	if !s.known(id) {
		return s.unknownNode("id", id)
	}
	ns := &s.nodes[id]
	switch {
	case !ns.alive:
		return fmt.Errorf("sim: Pause(%d %q): %w", id, ns.spec.Name, ErrNotAlive)
	case ns.paused:
		return invalid("id", id, "node %q is already paused", ns.spec.Name)
	case d <= 0:
		return invalid("d", d, "pause must last a positive time")
	}
	ns.paused = true
	ns.pauseGen++
	gen := ns.pauseGen
	s.stats.Pauses++
	s.pauseRecord("pause", id, by, trace.Attr{Key: "for", Value: strconv.FormatInt(int64(d), 10)})
	s.At(s.now+protocol.Time(d), "resume", func() {
		if n := &s.nodes[id]; n.paused && n.pauseGen == gen {
			s.pauseRecord("resume", id, by)
			s.releaseHeld(id)
		}
	})
	return nil
}

// Paused reports whether the node's process is paused now.
func (s *Sim) Paused(id protocol.NodeID) bool { return s.known(id) && s.nodes[id].paused }

func (s *Sim) pauseRecord(name string, id protocol.NodeID, by string, attrs ...trace.Attr) {
	s.stats.Faults++
	rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindFault, Node: int32(id), Peer: int32(protocol.External),
		Incarnation: s.nodes[id].incarnation, Cause: s.cause, Name: name, Attrs: s.controlAttrs(by, attrs...)}
	s.commit(&rec)
}

// hold keeps an event of a paused node until it resumes. It reports whether it held it. Just after
// a resume it also sends to the back of the line any event of the node due at the resume instant
// that was queued before the resume: what waited during the pause must run first, or a message
// arriving at that very instant would overtake one that waited on the same link.
func (s *Sim) hold(ev *event) bool {
	ns := &s.nodes[ev.node]
	if ns.paused {
		if ev.kind == evDeliver && s.lostWithConnection(ev) {
			return false // lost on the wire when its connection broke: it never reaches the buffers
		}
		ns.held = append(ns.held, *ev)
		ns.held[len(ns.held)-1].arrived = ev.kind == evDeliver
		return true
	}
	if ns.releaseFloor != 0 && ev.at == ns.resumedAt && ev.seq < ns.releaseFloor {
		s.requeue(*ev)
		return true
	}
	return false
}

// releaseHeld ends a node's pause: what waited is queued again at the current time, in the order
// it arrived (per-link FIFO order is kept). A delivery stays counted as in flight while it waits.
func (s *Sim) releaseHeld(id protocol.NodeID) {
	ns := &s.nodes[id]
	ns.paused = false
	ns.resumedAt = s.now
	ns.releaseFloor = s.nextSeq + 1
	for _, ev := range ns.held {
		ev.at = s.now
		s.requeue(ev)
	}
	clear(ns.held)
	ns.held = ns.held[:0]
}

// requeue queues an event again with a new sequence number, without counting it in flight again.
func (s *Sim) requeue(ev event) {
	s.nextSeq++
	ev.seq = s.nextSeq
	s.queue.push(&ev)
}
