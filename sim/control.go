package sim

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// Schedule arranges for action to run at virtual time t, between events, as part of the run: this is
// how faults, restarts and workload steps are placed in time. Actions at the same time run in the
// order they were scheduled, after every event already queued for that time. A pending action keeps
// the run from being quiescent (use ScheduleBackground for periodic checks that should not). The
// label names the action in the trace: fault, crash and restart records written while it runs carry
// it as the attr "action". Errors: t before Now, or a nil action.
func (s *Sim) Schedule(t protocol.Time, label string, action func()) error {
	return s.schedule(t, label, action, false)
}

// ScheduleBackground is Schedule for an action that does not keep the run going: a run whose only
// pending work is background timers and background actions is quiescent.
func (s *Sim) ScheduleBackground(t protocol.Time, label string, action func()) error {
	return s.schedule(t, label, action, true)
}

// At is Schedule for callers whose time is known to be valid (computed as Now() plus a non-negative
// delay). A time in the past or a nil action is a bug in the caller, and At panics with the error.
func (s *Sim) At(t protocol.Time, label string, action func()) {
	if err := s.Schedule(t, label, action); err != nil {
		panic(err)
	}
}

func (s *Sim) schedule(t protocol.Time, label string, action func(), background bool) error {
	if t < s.now {
		return invalid("t", t, "in the past (now is %d)", s.now)
	}
	if action == nil {
		return invalid("action", "nil", "nil action (label %q)", label)
	}
	a := scheduledAction{label: label, run: action, background: background}
	var slot uint64
	if n := len(s.freeActions); n > 0 {
		slot = s.freeActions[n-1]
		s.freeActions = s.freeActions[:n-1]
		s.actions[slot] = a
	} else {
		slot = uint64(len(s.actions))
		s.actions = append(s.actions, a)
	}
	if !background {
		s.foregroundAction++
	}
	s.enqueue(&event{kind: evAction, at: t, id: slot})
	return nil
}

// Inject delivers m to node `to` at time at, as if sent by protocol.External (an operator, a test
// script). It is recorded as a send from External now and a delivery at `at`; it is dropped if the
// receiver is down then. Errors: unknown node, nil message, time in the past.
func (s *Sim) Inject(at protocol.Time, to protocol.NodeID, m protocol.Message) error {
	if !s.known(to) {
		return s.unknownNode("to", to)
	}
	if m == nil {
		return invalid("m", "nil", "nil message")
	}
	if at < s.now {
		return invalid("at", at, "in the past (now is %d)", s.now)
	}
	s.nextMsgID++
	s.stats.Sent++
	rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindSend, Node: int32(protocol.External), Peer: int32(to),
		MsgID: s.nextMsgID, Cause: s.cause, Name: m.Type()}
	if s.cfg.Trace == TraceFull {
		rec.Attrs = describe(m)
	}
	seq := s.commit(&rec)
	s.enqueue(&event{kind: evDeliver, at: at, msg: m, id: s.nextMsgID, cause: seq, node: to, peer: protocol.External,
		nodeCrashes: s.nodes[to].crashes})
	return nil
}

func (s *Sim) unknownNode(param string, id protocol.NodeID) error {
	return invalid(param, id, "unknown node (the cluster has nodes 0..%d)", s.n-1)
}

// controlAttrs returns the attrs of a record written by a control method: by (if given) and the
// label of the scheduled action running (if any), after the method's own attrs.
func (s *Sim) controlAttrs(by string, attrs ...trace.Attr) []trace.Attr {
	if by != "" {
		attrs = append(attrs, trace.Attr{Key: "by", Value: by})
	}
	if s.actionName != "" {
		attrs = append(attrs, trace.Attr{Key: "action", Value: s.actionName})
	}
	return attrs
}

// Crash stops a node now, as a process crash: its state machine is discarded (volatile state is
// lost), its timers are cancelled, and every message in flight to it will be dropped as
// DropReceiverCrashed, even if it restarts before they arrive. Messages it sent before crashing
// still arrive unless it restarts first: the operating system closes a dead process's connections
// after sending what they had buffered. by says who crashed it (e.g. "chaos-monkey"; "" for none)
// and is recorded in the crash record. Errors: unknown node; ErrNotAlive if it is already down.
func (s *Sim) Crash(id protocol.NodeID, by string) error {
	if err := s.checkCrash(id, "Crash"); err != nil {
		return err
	}
	s.crashNow(id, ProcessCrash, by)
	return nil
}

// CrashHost stops a node now as its host's failure (power, kernel panic, a hypervisor losing the
// machine): what Crash does, and besides every message it sent that is still in flight is lost
// (dropped on arrival as DropSenderHostDown), because the buffers that held them died with the
// host. Errors as for Crash.
func (s *Sim) CrashHost(id protocol.NodeID, by string) error {
	if err := s.checkCrash(id, "CrashHost"); err != nil {
		return err
	}
	s.crashNow(id, HostCrash, by)
	return nil
}

func (s *Sim) checkCrash(id protocol.NodeID, method string) error {
	if !s.known(id) {
		return s.unknownNode("id", id)
	}
	if ns := &s.nodes[id]; !ns.alive {
		return fmt.Errorf("sim: %s(%d %q): %w", method, id, ns.spec.Name, ErrNotAlive)
	}
	return nil
}

// crashNow crashes a live node. Inside the node's own step (a crash landing within a step), the
// step's remaining effects are discarded by the node's Env.
func (s *Sim) crashNow(id protocol.NodeID, kind CrashKind, by string, attrs ...trace.Attr) {
	ns := &s.nodes[id]
	s.stats.Crashes++
	if kind == HostCrash {
		s.stats.HostCrashes++
		attrs = append(attrs, trace.Attr{Key: "kind", Value: kind.String()})
		// Message IDs grow with every send, so the messages this host sent so far are exactly those
		// with an ID up to the current one.
		ns.hostDownAfterMsg = s.nextMsgID
	}
	rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindCrash, Node: int32(id), Incarnation: ns.incarnation,
		Cause: s.cause, Attrs: s.controlAttrs(by, attrs...)}
	s.commit(&rec)
	ns.node = nil
	ns.alive = false
	ns.needsStart = false
	ns.crashes++
	ns.doom = doom{}
	s.foregroundTimers -= ns.foregroundTimers
	ns.foregroundTimers = 0
	if s.envs[id].active {
		s.envs[id].dead = true
	}
	s.releaseHeld(id)
}

// Restart brings a crashed node back as a new incarnation; see RestartBy.
func (s *Sim) Restart(id protocol.NodeID) error { return s.RestartBy(id, "") }

// RestartBy brings a crashed node back now as incarnation Incarnation(id)+1: the factory builds a
// fresh state machine and Start runs at once (or at time 0 if the run has not started). Messages its
// earlier incarnations sent that are still in flight will be dropped as DropStaleIncarnation. by says
// who restarted it and is recorded in the restart record. Errors: unknown node; ErrAlive if it is up;
// a factory that returns nil (the node stays down).
func (s *Sim) RestartBy(id protocol.NodeID, by string) error {
	if !s.known(id) {
		return s.unknownNode("id", id)
	}
	ns := &s.nodes[id]
	if ns.alive {
		return fmt.Errorf("sim: Restart(%d %q): %w", id, ns.spec.Name, ErrAlive)
	}
	inc := ns.incarnation + 1
	node := ns.spec.New(id, inc)
	if node == nil {
		return invalid(fmt.Sprintf("Config.Nodes[%d].New", id), "a factory returning nil", "node %q incarnation %d is nil", ns.spec.Name, inc)
	}
	s.stats.Restarts++
	ns.node = node
	ns.alive = true
	ns.incarnation = inc
	ns.startedAt = s.now
	ns.needsStart = true
	rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindRestart, Node: int32(id), Incarnation: inc,
		Cause: s.cause, Attrs: s.controlAttrs(by)}
	seq := s.commit(&rec)
	if s.started {
		s.startNode(id, seq)
	}
	return nil
}

// Partition cuts every link between group a and group b, in both directions, until Heal. Messages
// sent across the cut are dropped as DropPartition; messages already in flight still arrive.
// Errors: an empty group, an unknown node, or a node in both groups.
func (s *Sim) Partition(a, b []protocol.NodeID) error {
	if err := s.checkGroups("a", a, "b", b); err != nil {
		return err
	}
	for _, x := range a {
		for _, y := range b {
			s.blocked[int(x)*s.n+int(y)] = true
			s.blocked[int(y)*s.n+int(x)] = true
		}
	}
	s.fault("partition", protocol.External, protocol.External, trace.Attr{Key: "a", Value: formatGroup(a)}, trace.Attr{Key: "b", Value: formatGroup(b)})
	return nil
}

// PartitionOneWay cuts the links from every node of `from` to every node of `to` (and not back)
// until Heal. Errors as for Partition.
func (s *Sim) PartitionOneWay(from, to []protocol.NodeID) error {
	if err := s.checkGroups("from", from, "to", to); err != nil {
		return err
	}
	for _, x := range from {
		for _, y := range to {
			s.blocked[int(x)*s.n+int(y)] = true
		}
	}
	s.fault("partition-one-way", protocol.External, protocol.External, trace.Attr{Key: "from", Value: formatGroup(from)}, trace.Attr{Key: "to", Value: formatGroup(to)})
	return nil
}

// Heal removes every partition and mends every split (delivering what the splits held). It never
// fails; the error is there for symmetry with the other fault methods.
func (s *Sim) Heal() error {
	clear(s.blocked)
	s.fault("heal", protocol.External, protocol.External)
	s.releaseAllStalled()
	return nil
}

// SetLink replaces the behaviour of one directed link from now on, e.g. for a delay spike (restore
// it with ResetLink). Messages already in flight keep their arrival times, and on a FIFO network a
// later message still never overtakes an earlier one. Errors: unknown nodes, an invalid link.
func (s *Sim) SetLink(k LinkKey, l Link) error {
	if err := s.checkLinkKey(k); err != nil {
		return err
	}
	if err := l.validate("l"); err != nil {
		return err
	}
	s.setLink(k, l, "set-link")
	return nil
}

// ResetLink restores a link to its configured behaviour (undoing SetLink).
func (s *Sim) ResetLink(k LinkKey) error {
	if err := s.checkLinkKey(k); err != nil {
		return err
	}
	s.setLink(k, s.configuredLink[int(k.From)*s.n+int(k.To)], "reset-link")
	return nil
}

// Link returns the current behaviour of a link (the zero Link for unknown nodes).
func (s *Sim) Link(k LinkKey) Link {
	if s.checkLinkKey(k) != nil {
		return Link{}
	}
	return s.links[int(k.From)*s.n+int(k.To)]
}

// Partitioned reports whether messages from one node to another are currently cut.
func (s *Sim) Partitioned(from, to protocol.NodeID) bool {
	return s.known(from) && s.known(to) && s.blocked[int(from)*s.n+int(to)]
}

func (s *Sim) setLink(k LinkKey, l Link, name string) {
	s.links[int(k.From)*s.n+int(k.To)] = l
	s.fault(name, k.From, k.To,
		trace.Attr{Key: "latency", Value: l.Latency.Kind.String()},
		trace.Attr{Key: "min", Value: strconv.FormatInt(int64(l.Latency.Min), 10)},
		trace.Attr{Key: "mean", Value: strconv.FormatInt(int64(l.Latency.Mean), 10)},
		trace.Attr{Key: "max", Value: strconv.FormatInt(int64(l.Latency.Max), 10)},
		trace.Attr{Key: "loss", Value: strconv.FormatFloat(l.LossProb, 'g', -1, 64)},
		trace.Attr{Key: "dup", Value: strconv.FormatFloat(l.DupProb, 'g', -1, 64)})
}

// fault writes a fault record and returns its Seq, for the records the fault causes.
func (s *Sim) fault(name string, node, peer protocol.NodeID, attrs ...trace.Attr) uint64 {
	s.stats.Faults++
	rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindFault, Node: int32(node), Peer: int32(peer),
		Cause: s.cause, Name: name, Attrs: s.controlAttrs("", attrs...)}
	return s.commit(&rec)
}

func (s *Sim) checkLinkKey(k LinkKey) error {
	if !s.known(k.From) {
		return s.unknownNode("k.From", k.From)
	}
	if !s.known(k.To) {
		return s.unknownNode("k.To", k.To)
	}
	return nil
}

func (s *Sim) checkGroups(nameA string, a []protocol.NodeID, nameB string, b []protocol.NodeID) error {
	if len(a) == 0 {
		return invalid(nameA, "[]", "empty group")
	}
	if len(b) == 0 {
		return invalid(nameB, "[]", "empty group")
	}
	inA := make(map[protocol.NodeID]bool, len(a))
	for _, id := range a {
		if !s.known(id) {
			return s.unknownNode(nameA, id)
		}
		inA[id] = true
	}
	for _, id := range b {
		if !s.known(id) {
			return s.unknownNode(nameB, id)
		}
		if inA[id] {
			return invalid(nameB, id, "node is in both groups")
		}
	}
	return nil
}

func formatGroup(ids []protocol.NodeID) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(id)))
	}
	return b.String()
}
