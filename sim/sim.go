package sim

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// TraceMode says what the simulator keeps of the trace.
type TraceMode int

const (
	// TraceFull keeps every record (Sim.Trace, Sim.WriteTrace) and computes the hash.
	TraceFull TraceMode = iota
	// TraceHashOnly keeps no records and computes the same hash, without allocating per event: for
	// benchmarks and sweeps. Replay a seed in TraceFull mode to see its trace.
	TraceHashOnly
	// TraceEvents keeps only the records a checker needs from a run that passes (protocol events,
	// crashes, restarts, faults and the end) and hashes every record, as the other modes do. Sweeps
	// use it; a failing seed is then re-run in TraceFull mode for its report.
	TraceEvents
)

// keeps reports whether a record of the given kind is kept in the configured trace mode.
func (s *Sim) keeps(k trace.Kind) bool {
	switch s.cfg.Trace {
	case TraceFull:
		return true
	case TraceEvents:
		switch k {
		case trace.KindEvent, trace.KindCrash, trace.KindRestart, trace.KindFault, trace.KindEnd:
			return true
		}
	}
	return false
}

// Config describes one simulation run.
type Config struct {
	// Seed is the root seed; every random stream is derived from it (see StreamSeed).
	Seed uint64
	// Nodes are the cluster's servers and clients, in NodeID order. At least one.
	Nodes   []NodeSpec
	Network Network
	// TimeBudget bounds virtual time: no event later than TimeBudget runs. Must be > 0.
	TimeBudget protocol.Duration
	// StepBudget bounds the number of events processed (deliveries, drops on arrival, timer firings,
	// control actions). Must be > 0.
	StepBudget int64
	Trace      TraceMode
	// Source, if set, replaces the default PRNG streams: it is called once per stream name
	// (StreamNetwork, NodeStream(name) for each node, and each name passed to Sim.Stream). Use
	// RapidSource to let rapid drive a run.
	Source func(stream string) protocol.Rand
	// Description is written, as JSON, in the trace file's header: what a reader needs to reproduce
	// the run (seed, scenario, parameters). When nil the header describes the run as {"seed": Seed}.
	Description any
	// Observer, when set, sees every record the moment it is committed, with the message of a send
	// or a delivery. Online checkers use it to judge a run while it goes, at the step where a
	// property breaks. It must not change the run: it may read nodes' state, never call into them.
	// It is not called in TraceHashOnly mode.
	Observer Observer
}

// Observer watches a run as it happens (see Config.Observer).
type Observer interface {
	// Observe is called after r is committed. msg is the message sent (KindSend) or delivered
	// (KindDeliver), nil for every other kind. The record is passed by value so that the records
	// the simulator builds on its stack do not escape to the heap.
	Observe(r trace.Record, msg protocol.Message)
}

// EndReason says why Run or RunUntil returned.
type EndReason string

const (
	// EndQuiescent: no foreground message in flight, no foreground timer armed, no foreground action
	// pending. Background messages and timers (heartbeats, probes) may still be queued.
	EndQuiescent EndReason = "quiescent"
	// EndTimeBudget: the next event is later than Config.TimeBudget. Final: later calls return at once.
	EndTimeBudget EndReason = "time-budget"
	// EndStepBudget: Config.StepBudget events were processed. Final, like EndTimeBudget.
	EndStepBudget EndReason = "step-budget"
	// EndTimeReached: RunUntil's time was reached.
	EndTimeReached EndReason = "time-reached"
)

// Result is the outcome of Run or RunUntil.
type Result struct {
	End   EndReason
	Now   protocol.Time
	Steps int64
	Hash  uint64
	Stats Stats
}

// Stats counts what happened in a run so far.
type Stats struct {
	Sent       int64 // messages put on the wire by nodes, plus injected messages
	Delivered  int64 // deliveries, duplicates included
	Duplicated int64 // extra copies the network scheduled
	// Drops by reason (see the Drop* constants).
	DroppedLoss             int64
	DroppedPartition        int64
	DroppedReceiverCrashed  int64
	DroppedReceiverDown     int64
	DroppedStaleIncarnation int64
	DroppedNoSuchNode       int64
	DroppedSenderHostDown   int64
	DroppedConnectionLost   int64
	TimersSet               int64
	TimersFired             int64
	TimersCancelled         int64 // by the node; timers discarded by a crash are not counted here
	Crashes                 int64 // of every kind
	HostCrashes             int64 // crashes that took the host's messages in flight with them
	SendsLostInCrash        int64 // sends a crash inside a step cut off (never on the wire)
	Pauses                  int64
	Restarts                int64
	Faults                  int64 // partitions, heals, link changes, pauses and resumes, broken connections
	Events                  int64 // protocol events emitted through Env.Emit
	Steps                   int64
}

// Dropped is the number of messages dropped for any reason.
func (s Stats) Dropped() int64 {
	return s.DroppedLoss + s.DroppedPartition + s.DroppedReceiverCrashed + s.DroppedReceiverDown +
		s.DroppedStaleIncarnation + s.DroppedNoSuchNode + s.DroppedSenderHostDown + s.DroppedConnectionLost
}

// Why a message was dropped: the Name of its drop record.
const (
	DropLoss             = "loss"              // the link lost it (Link.LossProb)
	DropPartition        = "partition"         // a partition separated sender and receiver when it was sent
	DropReceiverCrashed  = "receiver-crashed"  // the receiver crashed while it was in flight
	DropReceiverDown     = "receiver-down"     // the receiver was down when it was sent and still is
	DropStaleIncarnation = "stale-incarnation" // the sender restarted since sending it
	DropNoSuchNode       = "no-such-node"      // sent to a NodeID outside the cluster (External included)
	DropSenderHostDown   = "sender-host-down"  // the sender's host crashed while it was in flight
	DropConnectionLost   = "connection-lost"   // its connection broke while it was in flight, or was broken when it was sent
)

// Describer is an optional interface of messages. A message that implements it has the attrs it
// returns attached to its send record in TraceFull mode, so that a trace shows message contents, not
// only their types. TraceAttrs is not called in TraceHashOnly mode, and send-record attrs are not
// part of the trace hash, so describing a message never changes a run's hash.
type Describer interface {
	TraceAttrs() []protocol.Attr
}

// Sim is one deterministic simulation: a cluster of nodes, a virtual network, a virtual clock and
// the queue of pending events. It is not safe for concurrent use; run one Sim per goroutine.
type Sim struct {
	cfg   Config
	n     int
	nodes []nodeState
	envs  []nodeEnv // one per node, reused for every call
	index map[string]protocol.NodeID

	links          []Link // n*n, indexed by from*n+to: the current link (SetLink changes it)
	configuredLink []Link // n*n: the link as configured (ResetLink restores it)
	lastDeliveryAt []protocol.Time
	blocked        []bool // n*n: partitioned (from, to) pairs
	stalled        []bool // n*n: (from, to) pairs a split holds (split.go)
	// stalledMsgs holds, per stalled link index, what was sent across a split, in send order.
	stalledMsgs map[int][]stalledSend

	queue   eventQueue
	nextSeq uint64

	actions     []scheduledAction
	freeActions []uint64

	timers      map[protocol.TimerID]armedTimer
	nextTimerID uint64
	nextMsgID   uint64

	now      protocol.Time
	started  bool
	running  bool      // inside Run or RunUntil: they must not be called from an action
	finalEnd EndReason // set once a budget ends the run

	inFlight         int64 // foreground delivery events queued (background traffic is not counted)
	foregroundTimers int64 // armed non-background timers of live incarnations
	foregroundAction int64 // pending non-background control actions

	records   []trace.Record
	attrArena []trace.Attr // the unused tail of a block that kept records' attrs are cut from
	hasher    trace.Hasher
	// messagesHashedOnly: send and delivery records are only hashed (no trace keeps them, no
	// observer sees them), decided once since the simulator writes two per message.
	messagesHashedOnly bool
	recordSeq          uint64
	endSeq             uint64 // recordSeq when the last end record was written
	cause              uint64 // Seq of the record being handled
	actionName         string // label of the control action running, "" outside actions

	stats   Stats
	streams map[string]protocol.Rand
	source  func(string) protocol.Rand
	// linkRand holds each directed link's random stream, created on the link's first message. One
	// stream per link means that traffic on one link never shifts the latencies drawn on another, so
	// removing a client or an operation (shrinking) leaves the rest of the schedule as it was.
	linkRand []protocol.Rand
	// conns holds each node's end of its connection to each other node (from*n + to), nil until the
	// first BreakConnection; notices maps the message ID of each ConnectionLost not yet delivered
	// to the peer it names (connections.go).
	conns   []connEnd
	notices map[uint64]protocol.NodeID
}

type nodeState struct {
	spec        NodeSpec
	node        protocol.Node // nil while down
	alive       bool
	needsStart  bool
	incarnation uint32
	crashes     uint32
	startedAt   protocol.Time
	// hostDownAfterMsg: when its host last crashed, the highest message ID sent so far; messages
	// from it with IDs up to this one still in flight are lost with the host.
	hostDownAfterMsg uint64
	doom             doom // a crash armed to land inside a step (CrashInStep)
	paused           bool
	pauseGen         uint32
	held             []event // what reached it while paused, in arrival order
	resumedAt        protocol.Time
	releaseFloor     uint64 // the first sequence number given to released events at resumedAt
	// foregroundTimers counts this incarnation's armed non-background timers, so a crash can take
	// them off Sim.foregroundTimers at once.
	foregroundTimers int64
	rand             protocol.Rand
}

type armedTimer struct {
	node        protocol.NodeID
	incarnation uint32
	background  bool
}

type scheduledAction struct {
	label      string
	run        func()
	background bool
}

// New validates cfg and builds the cluster: every node's incarnation 0 is created (its factory is
// called) but not started; Run or RunUntil starts them at time 0. Errors name the bad parameter and
// its value and wrap ErrInvalid.
func New(cfg Config) (*Sim, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := len(cfg.Nodes)
	s := &Sim{
		cfg:            cfg,
		n:              n,
		nodes:          make([]nodeState, n),
		envs:           make([]nodeEnv, n),
		index:          make(map[string]protocol.NodeID, n),
		links:          make([]Link, n*n),
		configuredLink: make([]Link, n*n),
		lastDeliveryAt: make([]protocol.Time, n*n),
		blocked:        make([]bool, n*n),
		stalled:        make([]bool, n*n),
		stalledMsgs:    map[int][]stalledSend{},
		queue:          newEventQueue(4 * n),
		timers:         make(map[protocol.TimerID]armedTimer, 2*n),
		streams:        map[string]protocol.Rand{},
		source:         cfg.Source,
	}
	if s.source == nil {
		s.source = PRNGSource(cfg.Seed)
	}
	if err := s.buildLinks(); err != nil {
		return nil, err
	}
	s.linkRand = make([]protocol.Rand, n*n)
	s.messagesHashedOnly = !s.keeps(trace.KindSend) && !s.keeps(trace.KindDeliver) && (cfg.Observer == nil || cfg.Trace == TraceHashOnly)
	if cfg.Trace != TraceHashOnly {
		// Runs keep thousands of records; starting there saves the slice's first doublings.
		s.records = make([]trace.Record, 0, 4096)
	}
	for i, spec := range cfg.Nodes {
		id := protocol.NodeID(i)
		node := spec.New(id, 0)
		if node == nil {
			return nil, invalid(fmt.Sprintf("Config.Nodes[%d].New", i), "a factory returning nil", "node %q incarnation 0 is nil", spec.Name)
		}
		s.index[spec.Name] = id
		s.nodes[i] = nodeState{spec: spec, node: node, alive: true, needsStart: true, rand: s.Stream(NodeStream(spec.Name))}
		s.envs[i] = nodeEnv{s: s, id: id}
	}
	return s, nil
}

func (s *Sim) buildLinks() error {
	net := &s.cfg.Network
	for from := 0; from < s.n; from++ {
		for to := 0; to < s.n; to++ {
			link := net.Default
			if net.Hops != nil {
				a, b := s.cfg.Nodes[from].Location, s.cfg.Nodes[to].Location
				link.Latency = HopLatency(net.Hops.Hops[a][b], net.Hops.PerHop)
				if err := link.Latency.validate(fmt.Sprintf("HopLatency(Config.Network.Hops.Hops[%d][%d])", a, b)); err != nil {
					return err
				}
			}
			s.configuredLink[from*s.n+to] = link
		}
	}
	for k, link := range net.Links { // each key writes its own cell: order does not matter
		s.configuredLink[int(k.From)*s.n+int(k.To)] = link
	}
	copy(s.links, s.configuredLink)
	return nil
}

// Stream returns the random stream of the given name, creating it on first use (from Config.Source,
// or derived from the root seed). Asking twice for a name returns the same stream, which continues
// where it left off. Use it for the caller's own subsystems ("faults", "workload").
func (s *Sim) Stream(name string) protocol.Rand {
	if r, ok := s.streams[name]; ok {
		return r
	}
	r := s.source(name)
	s.streams[name] = r
	return r
}

// Run starts the nodes (at time 0, if not started yet) and processes events until the run is
// quiescent or a budget is exhausted. It may be called again, e.g. after Inject or At, to continue.
func (s *Sim) Run() Result { return s.run(0, false) }

// RunUntil processes every event at or before t (within the budgets) and leaves the clock at t, then
// returns with EndTimeReached. It does not stop at quiescence: background timers keep firing until t.
// Use it to run a phase (a workload, a fault period) before changing the scenario.
func (s *Sim) RunUntil(t protocol.Time) Result { return s.run(t, true) }

func (s *Sim) run(until protocol.Time, bounded bool) Result {
	if s.running {
		panic("sim: Run or RunUntil called from inside a scheduled action; actions run as part of the current run")
	}
	s.running = true
	defer func() { s.running = false }()
	if s.finalEnd != "" {
		return s.result(s.finalEnd)
	}
	s.startAll()
	limit, limitReason := protocol.Time(s.cfg.TimeBudget), EndTimeBudget
	if bounded && until < limit {
		limit, limitReason = until, EndTimeReached
	}
	for {
		if !bounded && s.quiescent() {
			return s.finish(EndQuiescent)
		}
		if s.stats.Steps >= s.cfg.StepBudget {
			return s.finish(EndStepBudget)
		}
		if s.queue.len() == 0 && !bounded {
			panic(fmt.Sprintf("sim: invariant broken: event queue empty but not quiescent (in flight %d, foreground timers %d, foreground actions %d)",
				s.inFlight, s.foregroundTimers, s.foregroundAction))
		}
		if s.queue.len() == 0 || s.queue.nextAt() > limit {
			if s.now < limit {
				s.now = limit
			}
			return s.finish(limitReason)
		}
		slot := s.queue.popSlot()
		s.process(s.queue.event(slot))
		s.queue.release(slot)
	}
}

func (s *Sim) quiescent() bool {
	return s.inFlight == 0 && s.foregroundTimers == 0 && s.foregroundAction == 0
}

func (s *Sim) finish(reason EndReason) Result {
	if reason == EndTimeBudget || reason == EndStepBudget {
		s.finalEnd = reason
	}
	// RunUntil's phase boundaries leave no record, so a run split into phases hashes like one run.
	// An end record is written once per distinct end: calling Run again at quiescence adds none.
	if reason != EndTimeReached && s.endSeq != s.recordSeq {
		rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindEnd, Node: int32(protocol.External), Name: string(reason)}
		s.commit(&rec)
		s.endSeq = s.recordSeq
	}
	return s.result(reason)
}

func (s *Sim) result(reason EndReason) Result {
	return Result{End: reason, Now: s.now, Steps: s.stats.Steps, Hash: s.hasher.Sum64(), Stats: s.stats}
}

func (s *Sim) startAll() {
	if s.started {
		return
	}
	s.started = true
	for i := range s.nodes {
		if s.nodes[i].alive && s.nodes[i].needsStart {
			s.startNode(protocol.NodeID(i), 0)
		}
	}
}

func (s *Sim) startNode(id protocol.NodeID, cause uint64) {
	ns := &s.nodes[id]
	ns.needsStart = false
	ns.startedAt = s.now
	saved := s.cause
	s.cause = cause
	env := s.beginStep(id)
	ns.node.Start(env)
	s.endStep(env)
	s.cause = saved
}

// process handles one event popped from the queue. ev points into the queue's slab, which stays
// valid while the step pushes more events (a reallocated slab leaves the old array to ev).
func (s *Sim) process(ev *event) {
	switch ev.kind {
	case evDeliver:
		if s.hold(ev) {
			return // its receiver is paused: it waits, still in flight
		}
		if !ev.background {
			s.inFlight--
		}
		s.stats.Steps++
		s.now = ev.at
		s.deliver(ev)
	case evTimer:
		if s.hold(ev) {
			return
		}
		t, armed := s.timers[protocol.TimerID(ev.id)]
		if !armed {
			return // cancelled: lazily deleted, not a step
		}
		delete(s.timers, protocol.TimerID(ev.id))
		ns := &s.nodes[ev.node]
		if !ns.alive || ns.incarnation != t.incarnation {
			return // its incarnation crashed: the crash already uncounted it
		}
		if !t.background {
			s.foregroundTimers--
			ns.foregroundTimers--
		}
		s.stats.Steps++
		s.stats.TimersFired++
		s.now = ev.at
		rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindTimer, Node: int32(ev.node), Incarnation: ns.incarnation,
			TimerID: ev.id, Cause: ev.cause}
		seq := s.commit(&rec)
		s.cause = seq
		env := s.beginStep(ev.node)
		ns.node.Fire(env, protocol.TimerID(ev.id), ev.tag)
		s.endStep(env)
		s.cause = 0
	case evAction:
		a := s.actions[ev.id]
		s.actions[ev.id] = scheduledAction{}
		s.freeActions = append(s.freeActions, ev.id)
		if !a.background {
			s.foregroundAction--
		}
		s.stats.Steps++
		s.now = ev.at
		s.actionName = a.label
		a.run()
		s.actionName = ""
	default:
		panic(fmt.Sprintf("sim: invariant broken: queued event of unknown kind %d", ev.kind))
	}
}

func (s *Sim) deliver(ev *event) {
	ns := &s.nodes[ev.node]
	reason := ""
	switch {
	case ns.crashes != ev.nodeCrashes:
		reason = DropReceiverCrashed
	case !ns.alive:
		reason = DropReceiverDown
	case ev.peer != protocol.External && s.nodes[ev.peer].incarnation != ev.peerIncarnation:
		reason = DropStaleIncarnation
	case ev.peer != protocol.External && ev.id <= s.nodes[ev.peer].hostDownAfterMsg && !ev.arrived:
		reason = DropSenderHostDown
	case s.lostWithConnection(ev):
		reason = DropConnectionLost
	}
	if reason != "" {
		if ev.peer == protocol.External {
			s.forgetNotice(ev)
		}
		s.drop(ev.node, ev.peer, ev.id, reason, ev.cause)
		return
	}
	if ev.peer == protocol.External {
		s.tellIfNotice(ev)
	}
	s.stats.Delivered++
	s.cause = s.commitMessageRecord(trace.KindDeliver, ev.node, ev.peer, ns.incarnation, ev.id, ev.cause, ev.msg)
	env := s.beginStep(ev.node)
	ns.node.Receive(env, ev.peer, ev.msg)
	s.endStep(env)
	s.cause = 0
}

func (s *Sim) drop(to, from protocol.NodeID, msgID uint64, reason string, cause uint64) {
	switch reason {
	case DropLoss:
		s.stats.DroppedLoss++
	case DropPartition:
		s.stats.DroppedPartition++
	case DropReceiverCrashed:
		s.stats.DroppedReceiverCrashed++
	case DropReceiverDown:
		s.stats.DroppedReceiverDown++
	case DropStaleIncarnation:
		s.stats.DroppedStaleIncarnation++
	case DropNoSuchNode:
		s.stats.DroppedNoSuchNode++
	case DropSenderHostDown:
		s.stats.DroppedSenderHostDown++
	case DropConnectionLost:
		s.stats.DroppedConnectionLost++
	default:
		panic(fmt.Sprintf("sim: invariant broken: unknown drop reason %q", reason))
	}
	var inc uint32
	if to >= 0 && int(to) < s.n {
		inc = s.nodes[to].incarnation
	}
	rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindDrop, Node: int32(to), Peer: int32(from),
		Incarnation: inc, MsgID: msgID, Cause: cause, Name: reason}
	s.commit(&rec)
}

// send puts m on the channel from -> to at the current time: the network decides now whether it is
// dropped (partition, loss), when it arrives and whether it is duplicated.
func (s *Sim) send(from protocol.NodeID, to protocol.NodeID, m protocol.Message) {
	if m == nil {
		panic(fmt.Sprintf("sim: node %d sent a nil message to node %d", from, to))
	}
	fromInc := s.nodes[from].incarnation
	s.nextMsgID++
	msgID := s.nextMsgID
	s.stats.Sent++
	sendSeq := s.commitMessageRecord(trace.KindSend, from, to, fromInc, msgID, s.cause, m)
	if to < 0 || int(to) >= s.n {
		s.drop(to, from, msgID, DropNoSuchNode, sendSeq)
		return
	}
	idx := int(from)*s.n + int(to)
	if s.deadSocket(from, to) {
		s.drop(to, from, msgID, DropConnectionLost, sendSeq)
		return
	}
	if s.blocked[idx] {
		s.drop(to, from, msgID, DropPartition, sendSeq)
		return
	}
	if s.stalled[idx] {
		s.stalledMsgs[idx] = append(s.stalledMsgs[idx], stalledSend{msg: m, id: msgID, cause: sendSeq, fromInc: fromInc, toCrashes: s.nodes[to].crashes})
		return
	}
	s.transmit(idx, from, to, m, msgID, sendSeq, fromInc, s.nodes[to].crashes)
}

// transmit lets the network carry a message that was sent (now, or across a split that has just
// mended): it may be lost, it gets its arrival time, and it may be duplicated.
func (s *Sim) transmit(idx int, from, to protocol.NodeID, m protocol.Message, msgID, sendSeq uint64, fromInc, toCrashes uint32) {
	link := &s.links[idx]
	r := s.linkStream(idx)
	if link.LossProb > 0 && Happens(r, link.LossProb) {
		s.drop(to, from, msgID, DropLoss, sendSeq)
		return
	}
	ev := event{kind: evDeliver, msg: m, id: msgID, cause: sendSeq, node: to, peer: from,
		peerIncarnation: fromInc, nodeCrashes: toCrashes, background: protocol.IsBackground(m)}
	ev.at = s.arrivalTime(idx, link, r)
	s.enqueue(&ev)
	if link.DupProb > 0 && Happens(r, link.DupProb) {
		s.stats.Duplicated++
		dup := trace.Record{TimeUS: int64(s.now), Kind: trace.KindDuplicate, Node: int32(to), Peer: int32(from),
			MsgID: msgID, Cause: sendSeq}
		s.commit(&dup)
		ev.at = s.arrivalTime(idx, link, r)
		s.enqueue(&ev)
	}
}

// linkStream returns the random stream of the directed link with index idx (from*n + to), named
// "network/<from name>-><to name>".
func (s *Sim) linkStream(idx int) protocol.Rand {
	if r := s.linkRand[idx]; r != nil {
		return r
	}
	from, to := idx/s.n, idx%s.n
	r := s.Stream(StreamNetwork + "/" + s.cfg.Nodes[from].Name + "->" + s.cfg.Nodes[to].Name)
	s.linkRand[idx] = r
	return r
}

// arrivalTime samples the link's latency. On a FIFO link (the default) a message never arrives
// before the previous one on the same link; ties keep send order through the queue's sequence.
func (s *Sim) arrivalTime(idx int, link *Link, r protocol.Rand) protocol.Time {
	at := s.now + protocol.Time(link.Latency.sample(r))
	if !s.cfg.Network.Reorder {
		if at < s.lastDeliveryAt[idx] {
			at = s.lastDeliveryAt[idx]
		}
		s.lastDeliveryAt[idx] = at
	}
	return at
}

func (s *Sim) enqueue(ev *event) {
	s.nextSeq++
	ev.seq = s.nextSeq
	if ev.kind == evDeliver && !ev.background {
		s.inFlight++
	}
	s.queue.push(ev)
}

// commit assigns the next Seq to a record, hashes it and, in Full mode, keeps it.
func (s *Sim) commit(r *trace.Record) uint64 { return s.commitMessage(r, nil) }

// commitMessage commits a send or delivery record of message m (nil for other kinds) and shows it
// to the observer.
// commitMessageRecord commits the send or delivery record of message m. When the record is only
// hashed (nothing keeps or observes it) its fields are hashed without building it.
func (s *Sim) commitMessageRecord(kind trace.Kind, node, peer protocol.NodeID, inc uint32, msgID, cause uint64, m protocol.Message) uint64 {
	if s.messagesHashedOnly {
		s.recordSeq++
		s.hasher.AddFields(s.recordSeq, int64(s.now), kind, int32(node), int32(peer), inc, msgID, 0, cause, m.Type(), 0)
		return s.recordSeq
	}
	rec := trace.Record{TimeUS: int64(s.now), Kind: kind, Node: int32(node), Peer: int32(peer),
		Incarnation: inc, MsgID: msgID, Cause: cause, Name: m.Type()}
	if kind == trace.KindSend && s.cfg.Trace == TraceFull {
		rec.Attrs = s.describe(m)
	}
	return s.commitMessage(&rec, m)
}

func (s *Sim) commitMessage(r *trace.Record, m protocol.Message) uint64 {
	s.recordSeq++
	r.Seq = s.recordSeq
	s.hasher.Add(r)
	if s.keeps(r.Kind) {
		s.records = append(s.records, *r)
	}
	if s.cfg.Observer != nil && s.cfg.Trace != TraceHashOnly {
		s.cfg.Observer.Observe(*r, m)
	}
	return r.Seq
}

// commitWithAttrs commits a record whose attrs are protocol attrs, converting them only in Full mode
// (HashOnly hashes them in place, without allocating).
func (s *Sim) commitWithAttrs(r *trace.Record, attrs []protocol.Attr) uint64 {
	if s.keeps(r.Kind) {
		r.Attrs = s.traceAttrs(attrs)
		return s.commit(r)
	}
	s.recordSeq++
	r.Seq = s.recordSeq
	s.hasher.AddHead(r, len(attrs))
	for _, a := range attrs {
		s.hasher.AddAttr(trace.Attr(a))
	}
	return r.Seq
}

func toTraceAttrs(attrs []protocol.Attr) []trace.Attr {
	if len(attrs) == 0 {
		return nil
	}
	out := make([]trace.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = trace.Attr(a)
	}
	return out
}

// attrBlock is how many attrs one allocation of the attr arena holds.
const attrBlock = 1024

// traceAttrs is toTraceAttrs cut from an arena: kept records live as long as the Sim, so one block
// shared by many records costs one allocation instead of one per record. The result's capacity is
// its length, so an append by a reader copies instead of writing into a neighbour's attrs.
func (s *Sim) traceAttrs(attrs []protocol.Attr) []trace.Attr {
	n := len(attrs)
	if n == 0 {
		return nil
	}
	if n > attrBlock {
		return toTraceAttrs(attrs)
	}
	if len(s.attrArena) < n {
		s.attrArena = make([]trace.Attr, attrBlock)
	}
	out := s.attrArena[:n:n]
	s.attrArena = s.attrArena[n:]
	for i, a := range attrs {
		out[i] = trace.Attr(a)
	}
	return out
}

// describe is the package-level describe with its attrs cut from the arena.
func (s *Sim) describe(m protocol.Message) []trace.Attr {
	if d, ok := m.(Describer); ok {
		return s.traceAttrs(d.TraceAttrs())
	}
	return nil
}

func describe(m protocol.Message) []trace.Attr {
	if d, ok := m.(Describer); ok {
		return toTraceAttrs(d.TraceAttrs())
	}
	return nil
}

// Now is the current virtual time.
func (s *Sim) Now() protocol.Time { return s.now }

// NumNodes is the number of nodes, servers and clients.
func (s *Sim) NumNodes() int { return s.n }

// NodeByName returns the ID of the node with the given name.
func (s *Sim) NodeByName(name string) (protocol.NodeID, bool) {
	id, ok := s.index[name]
	return id, ok
}

func (s *Sim) known(id protocol.NodeID) bool { return id >= 0 && int(id) < s.n }

// Spec returns the node's specification (the zero NodeSpec for an unknown ID).
func (s *Sim) Spec(id protocol.NodeID) NodeSpec {
	if !s.known(id) {
		return NodeSpec{}
	}
	return s.nodes[id].spec
}

// Clients returns the IDs of the nodes marked Client, in ID order.
func (s *Sim) Clients() []protocol.NodeID {
	var ids []protocol.NodeID
	for i := range s.nodes {
		if s.nodes[i].spec.Client {
			ids = append(ids, protocol.NodeID(i))
		}
	}
	return ids
}

// Node returns the current incarnation's state machine, or nil if the node is down (or unknown).
func (s *Sim) Node(id protocol.NodeID) protocol.Node {
	if !s.known(id) {
		return nil
	}
	return s.nodes[id].node
}

// Alive reports whether the node is up.
func (s *Sim) Alive(id protocol.NodeID) bool { return s.known(id) && s.nodes[id].alive }

// Incarnation returns the node's current (or, while down, last) incarnation number.
func (s *Sim) Incarnation(id protocol.NodeID) uint32 {
	if !s.known(id) {
		return 0
	}
	return s.nodes[id].incarnation
}

// StartedAt returns when the current (or, while down, last) incarnation started: its age is
// Now() - StartedAt(id).
func (s *Sim) StartedAt(id protocol.NodeID) protocol.Time {
	if !s.known(id) {
		return 0
	}
	return s.nodes[id].startedAt
}

// Trace returns the records kept so far (all in TraceFull mode, the checkers' kinds in TraceEvents
// mode, none in TraceHashOnly mode). The slice is the
// simulator's own: do not modify it.
func (s *Sim) Trace() []trace.Record { return s.records }

// Hash returns the trace hash of the records written so far (equal to trace.Hash(s.Trace()) in Full
// mode, and the same value in HashOnly mode).
func (s *Sim) Hash() uint64 { return s.hasher.Sum64() }

// Stats returns the counters so far.
func (s *Sim) Stats() Stats { return s.stats }

// Header returns the trace file header of this run, carrying Config.Description (or {"seed": Seed}).
func (s *Sim) Header() (trace.Header, error) {
	desc := s.cfg.Description
	if desc == nil {
		desc = map[string]uint64{"seed": s.cfg.Seed}
	}
	raw, err := json.Marshal(desc)
	if err != nil {
		return trace.Header{}, invalid("Config.Description", fmt.Sprintf("%T", desc), "cannot be encoded as JSON: %v", err)
	}
	return trace.Header{Version: trace.Version, Description: raw}, nil
}

// WriteTrace writes the header and every record so far as JSON Lines (see trace.Write). It needs
// TraceFull mode and returns ErrNoTrace otherwise.
func (s *Sim) WriteTrace(w io.Writer) error {
	if s.cfg.Trace != TraceFull {
		return ErrNoTrace
	}
	h, err := s.Header()
	if err != nil {
		return err
	}
	return trace.Write(w, h, s.records)
}
