// Package sim is stateflush's deterministic discrete-event simulator: it runs protocol.Node state
// machines over a virtual network with a virtual clock, injects faults, and records everything that
// happens as a trace with a stable hash. Same seed, same binary, same platform: same trace, same hash.
//
// # How it runs
//
// One goroutine, one loop, one priority queue of events ordered by (virtual time, insertion order).
// An event is a message delivery, a timer firing or a control action (a fault, a restart, a workload
// step scheduled by the caller). Handling an event may queue more. Time is protocol.Time, an integer
// count of virtual microseconds; nothing reads the wall clock, starts goroutines or uses global
// randomness. A Sim is not safe for concurrent use; sweeps run one Sim per goroutine.
//
// # Building a cluster
//
// Describe every node (servers and clients alike) with a NodeSpec: a unique name and a NodeFactory
// that builds one incarnation of its state machine. Node IDs are the indices into Config.Nodes.
//
//	cfg := sim.Config{
//		Seed: 42,
//		Nodes: []sim.NodeSpec{
//			{Name: "p0", New: newServer},
//			{Name: "s1", New: newServer},
//			{Name: "client", New: newClient, Client: true},
//		},
//		Network: sim.Network{
//			Default: sim.Link{Latency: sim.Latency{Kind: sim.Uniform, Min: 200, Max: 2000}, LossProb: 0.01},
//			Links:   map[sim.LinkKey]sim.Link{{From: 0, To: 1}: {Latency: sim.Latency{Kind: sim.LongTail, Min: 100, Mean: 500, Max: 50_000}}},
//		},
//		TimeBudget:  60 * protocol.Second,
//		StepBudget:  10_000_000,
//		Description: map[string]any{"seed": 42, "scenario": "add-replica"},
//	}
//	s, err := sim.New(cfg) // a *sim.ParamError naming the bad parameter and its value, if any
//
// Latency kinds are Constant, Uniform, Exponential and LongTail (Lomax, capped); see LatencyKind for
// which fields each uses. Network.Hops with NodeSpec.Location gives latencies that grow with the hop
// count between locations (DataCenterTopology: one hop inside the data center, seven from a desk).
// Links are FIFO unless Network.Reorder is set: a message is never delivered before one sent earlier
// on the same link. Loss and duplication are per-link probabilities.
//
// # Running
//
// Run starts every node (Start, at time 0) and processes events until the run is quiescent (no
// foreground message in flight, no foreground timer armed, no foreground action pending; background
// traffic such as heartbeats does not count, see protocol.TimerTag.Background and
// protocol.BackgroundMessage), or until Config.TimeBudget or Config.StepBudget is exhausted.
// Result.End says which; Sim.Pending lists what a run that did not quiesce was still waiting for. RunUntil(t) runs a phase: every event up to
// t, background timers included, leaving the clock at t; a run split into phases has the same hash as
// one Run. Both may be called again to continue (after Inject, At, or a fault).
//
// Nodes act only through their protocol.Env: Send, SetTimer, CancelTimer, Rand, Emit. The Env is
// valid only during the call it is passed to (using it later panics, naming the node).
//
// # Randomness
//
// Every random choice comes from a named stream derived from the root seed (StreamSeed):
// "network/<from>-><to>" for each directed link's latencies, loss and duplication (one stream per
// link, so traffic on one link never shifts another's delays); "node/<name>" for each node's
// Env.Rand; and whatever the
// caller asks Stream for ("faults", "workload"). Streams are independent, so extra draws in one never
// reshuffle another. Config.Source replaces the factory: RapidSource(t) lets pgregory.net/rapid make
// every choice, so a failing property shrinks the whole schedule (0 is always the boring choice).
//
// # Faults
//
// Every fault is a method that acts now, and is scheduled by wrapping it in an action:
//
//	const ms = protocol.Time(protocol.Millisecond)
//	s.At(2*ms, "partition", func() { _ = s.Partition([]protocol.NodeID{0}, []protocol.NodeID{1, 2}) })
//	s.At(5*ms, "heal", func() { _ = s.Heal() })
//	s.At(3*ms, "crash", func() { _ = s.Crash(1, "chaos-monkey") })
//	s.At(9*ms, "restart", func() { _ = s.RestartBy(1, "chaos-monkey") })
//	s.At(4*ms, "spike", func() { _ = s.SetLink(sim.LinkKey{From: 0, To: 1}, slowLink) }) // ResetLink undoes it
//
// Schedule is At returning an error instead of panicking on a time in the past; ScheduleBackground
// is for periodic actions that should not keep a run from being quiescent. Inject delivers a message
// from protocol.External (an operator request) at a given time.
//
// A crash discards the node's state machine and cancels its timers; messages in flight to it are
// dropped (DropReceiverCrashed) even if it restarts before they arrive. A restart builds incarnation
// n+1 with the factory and calls Start; messages its earlier incarnations sent that are still in
// flight are dropped (DropStaleIncarnation). Messages sent by a node that crashed and stays down still
// arrive: they were on the wire. CrashHost is a host's failure: what the node had in flight is lost
// too (DropSenderHostDown). CrashInStep arms a crash that lands inside one of the node's steps,
// after a given number of its sends: the rest of that step (sends, timers, events) dies with it.
// Pause freezes a node for a while: deliveries and timers wait and run, in arrival order, when it
// resumes (hostfaults.go). BreakConnection is a TCP connection lost between two live processes (a
// middlebox reset, a NIC flap): what was on the wire between them is lost (DropConnectionLost), and
// so is what either sends the other until its transport tells it, after a notice delay, with a
// protocol.ConnectionLost from External; after that its messages flow again (connections.go).
// Partitions drop messages sent across the cut (DropPartition) until
// Heal; messages already in flight still arrive. A chaos monkey built on top uses Alive, Incarnation,
// StartedAt (an incarnation's age is Now()-StartedAt), Spec(id).Client or Clients, NumNodes,
// Partitioned, Link, and the "faults" stream.
//
// # The trace
//
// Every send, delivery, drop (Name = the reason), duplicate, timer set and firing, crash, restart,
// fault, protocol event (Env.Emit) and end of run is a trace.Record with its virtual time and a Cause:
// records written while a node handles a delivery or timer point at that delivery or timer record;
// a delivery or drop points at its send, a firing at its timer-set record; records written by the
// caller's actions have Cause 0. Crash, restart and fault records carry attrs "by" (who) and
// "action" (the label of the scheduled action). A message that implements Describer has its attrs on
// its send record. In TraceFull mode the records are kept (Trace, WriteTrace); in TraceHashOnly mode
// only the hash is computed, without allocating per event. Both modes give the same Hash.
//
// WriteTrace writes JSON Lines: a header with the format version and Config.Description, then one
// record per line. trace.Read reads it back and trace.Hash recomputes the hash, so a trace file can
// be checked against a replay of the seed its header names:
//
//	h, records, err := trace.Read(f)
//	// decode h.Description to get the seed, rebuild the scenario, Run, and compare
//	// Result.Hash with trace.Hash(records).
//
// # Performance
//
// The event queue is a binary heap of small keys over a slab of event values whose slots are reused;
// each node has one preallocated Env;
// the trace hash works on 64-bit words. BenchmarkPingPong8 (go test -bench PingPong8 -cpu 1 ./sim/)
// measures delivered messages per second and allocations per event in HashOnly mode.
package sim
