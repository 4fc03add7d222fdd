package harness

import (
	"fmt"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/chaos"
)

// nemesis schedules a scenario's network faults and rebalance requests during the safety phase. Each
// kind of fault draws from its own stream, so enabling one never reshuffles another.
type nemesis struct {
	sim    *sim.Sim
	scn    Scenario
	world  *kvWorld
	end    protocol.Time
	spiked map[sim.LinkKey]bool
}

func newNemesis(s *sim.Sim, scn Scenario, world *kvWorld) *nemesis {
	return &nemesis{sim: s, scn: scn, world: world, end: protocol.Time(scn.SafetyPhase), spiked: map[sim.LinkKey]bool{}}
}

func (n *nemesis) arm() {
	cfg := n.scn.Nemeses
	if cfg.ClientPartitionMeanGap > 0 && n.scn.KV.Clients > 0 {
		n.every("nemesis/client-partitions", cfg.ClientPartitionMeanGap, n.partitionClient)
	}
	if cfg.DelaySpikeMeanGap > 0 && n.scn.KV.Servers > 1 {
		n.every("nemesis/delay-spikes", cfg.DelaySpikeMeanGap, n.delaySpike)
	}
	if cfg.RebalanceMeanGap > 0 {
		n.every("nemesis/rebalance", cfg.RebalanceMeanGap, n.rebalance)
	}
	if cfg.SourceKillProb > 0 || cfg.SourceBounceProb > 0 {
		n.watchSources(n.sim.Stream("nemesis/source-kill"))
	}
	if cfg.ServerPartitionMeanGap > 0 && n.scn.KV.Servers > 1 {
		n.every("nemesis/server-partitions", cfg.ServerPartitionMeanGap, n.splitServers)
	}
	if cfg.ConnectionLossMeanGap > 0 && n.scn.KV.Servers > 1 {
		n.every("nemesis/connection-losses", cfg.ConnectionLossMeanGap, n.breakConnection)
	}
	for _, a := range n.scn.Script {
		n.sim.At(a.At, "script/"+string(a.Kind), func() { n.perform(a) })
	}
	if n.removesLiveMembers() {
		n.supervise(0)
	}
}

// removesLiveMembers reports whether the scenario's faults can make the cluster remove members
// whose processes run (pauses, crashes inside a step that the victim never learns of, partitions).
func (n *nemesis) removesLiveMembers() bool {
	if m := n.scn.Nemeses.Monkey; m != nil && m.Faults != (chaos.FaultMix{}) {
		return true
	}
	if n.scn.Nemeses.ServerPartitionMeanGap > 0 || n.scn.Nemeses.ConnectionLossMeanGap > 0 {
		return true
	}
	for _, a := range n.scn.Script {
		if a.Kind == ActionPause || a.Kind == ActionPartition {
			return true
		}
	}
	return false
}

// superviseEvery is how often the supervisor looks for servers that were forced to disconnect.
const superviseEvery = 10 * protocol.Millisecond

// supervise restarts every server that was forced to disconnect, as a service manager (or
// GemFire's auto-reconnect) brings a member back after the cluster removed it: the store's server
// stops for good when it learns it was removed (its copies could contradict the view), and only a
// new incarnation rejoins. Only scenarios whose monkey deals more than process crashes run it
// (pauses remove live members, and a crash inside a step can leave one unaware of its removal).
// It is background work: it never keeps a run from ending.
func (n *nemesis) supervise(from protocol.Time) {
	if err := n.sim.ScheduleBackground(from+protocol.Time(superviseEvery), "supervisor", func() {
		for id := 0; id < n.scn.KV.Servers; id++ {
			node := protocol.NodeID(id)
			if srv := n.world.server(node); srv != nil && n.sim.Alive(node) && srv.Stopped() {
				_ = n.sim.Crash(node, supervisorLabel)
				_ = n.sim.RestartBy(node, supervisorLabel)
			}
		}
		n.supervise(n.sim.Now())
	}); err != nil {
		panic(fmt.Sprintf("harness: scheduling the supervisor: %v", err))
	}
}

// perform carries out one scripted action. Crashing a member that is down, or restarting one that
// is up, is skipped: the script describes intent, and the run may have diverged from it.
func (n *nemesis) perform(a Action) {
	switch a.Kind {
	case ActionRebalance:
		n.requestMove(a.Bucket, a.Node)
	case ActionCrash:
		if n.sim.Alive(a.Node) {
			_ = n.sim.Crash(a.Node, scriptLabel)
		}
	case ActionRestart:
		if !n.sim.Alive(a.Node) {
			_ = n.sim.RestartBy(a.Node, scriptLabel)
		}
	case ActionPause:
		if n.sim.Alive(a.Node) && !n.sim.Paused(a.Node) {
			_ = n.sim.Pause(a.Node, a.For, scriptLabel)
		}
	case ActionPartition:
		_ = n.sim.Split(a.Group, a.Peers, a.OneWay, scriptLabel) // validated groups: cannot fail
	case ActionMend:
		_ = n.sim.Mend(a.Group, a.Peers, scriptLabel)
	}
}

// every runs fault at exponentially distributed gaps until the safety phase ends. fault returns how
// long the fault lasts, so that faults of one kind never overlap.
func (n *nemesis) every(stream string, meanGap protocol.Duration, fault func(r protocol.Rand) protocol.Duration) {
	r := n.sim.Stream(stream)
	var next func(from protocol.Time)
	next = func(from protocol.Time) {
		at := from + protocol.Time(chaos.ExponentialGap(r, meanGap))
		if at >= n.end {
			return
		}
		n.sim.At(at, stream, func() {
			lasts := fault(r)
			next(n.sim.Now() + protocol.Time(lasts))
		})
	}
	next(n.sim.Now())
}

// partitionClient cuts one client off from every server, both ways, for a while.
func (n *nemesis) partitionClient(r protocol.Rand) protocol.Duration {
	client := protocol.NodeID(n.scn.KV.Servers + r.Intn(n.scn.KV.Clients))
	lasts := protocol.Duration(1 + r.Intn(int(n.scn.Nemeses.ClientPartitionMax)))
	if err := n.sim.Partition([]protocol.NodeID{client}, n.servers()); err != nil {
		panic(fmt.Sprintf("harness: partitioning client %d: %v", client, err))
	}
	n.sim.At(min(n.sim.Now()+protocol.Time(lasts), n.end), "nemesis/heal", func() { _ = n.sim.Heal() })
	return lasts
}

// splitServers splits the servers into two random non-empty groups for a while (any length up to
// ServerPartitionMax, failure detection's timeout and longer), both ways or one way, then mends
// the split. Either group may be the larger, so a split may cut off the coordinator's side or the
// other.
func (n *nemesis) splitServers(r protocol.Rand) protocol.Duration {
	cfg := n.scn.Nemeses
	servers := n.servers()
	var a, b []protocol.NodeID
	for len(a) == 0 || len(b) == 0 {
		a, b = a[:0], b[:0]
		for _, id := range servers {
			if r.Intn(2) == 0 {
				a = append(a, id)
			} else {
				b = append(b, id)
			}
		}
	}
	oneWay := r.Float64() < cfg.ServerPartitionOneWayProb
	lasts := protocol.Duration(1 + r.Intn(int(cfg.ServerPartitionMax)))
	if !n.world.safeToSplit(a, b) {
		return lasts // neither side would keep the quorum and every bucket: beyond what the store survives
	}
	if err := n.sim.Split(a, b, oneWay, partitionLabel); err != nil {
		panic(fmt.Sprintf("harness: splitting the servers %v from %v: %v", a, b, err))
	}
	n.world.split = &split{a: a, b: b}
	n.sim.At(min(n.sim.Now()+protocol.Time(lasts), n.end), "nemesis/mend", func() {
		_ = n.sim.Mend(a, b, partitionLabel)
		n.world.split = nil
	})
	return lasts
}

// breakConnection breaks the connection between two random live servers (what was on it is lost)
// and tells each end after a random notice. The store removes the younger end of a broken
// connection, so the break is dealt only where that removal is one the monkey could deal: the
// younger end's copies are not the last, and its loss keeps the quorum.
func (n *nemesis) breakConnection(r protocol.Rand) protocol.Duration {
	cfg := n.scn.Nemeses
	servers := n.servers()
	x := servers[r.Intn(len(servers))]
	y := servers[r.Intn(len(servers))]
	notice := protocol.Duration(1 + r.Intn(int(cfg.ConnectionLossNoticeMax)))
	if x == y || !n.sim.Alive(x) || !n.sim.Alive(y) {
		return notice
	}
	younger := n.world.younger(x, y)
	// An end whose view lists an earlier incarnation of the other, older than itself, takes
	// itself for the younger end unless it hears from the new incarnation before the notice
	// (protocol/kv/connections.go): it may be removed too, and the removals together must be ones
	// the monkey could deal (steady-monkey seeds 4657, 8687: a restarted end and a lagging one both
	// asked for their own removal).
	removed := []protocol.NodeID{younger}
	var maybe []protocol.NodeID
	for _, e := range [][2]protocol.NodeID{{x, y}, {y, x}} {
		if e[0] != younger && n.world.takesItselfForYounger(e[0], e[1]) {
			removed = append(removed, e[0])
			maybe = append(maybe, e[0])
		}
	}
	if !n.world.safeToRemove(removed) {
		return notice
	}
	if err := n.sim.BreakConnection(x, y, notice, partitionLabel); err != nil {
		panic(fmt.Sprintf("harness: breaking the connection %d-%d: %v", x, y, err))
	}
	if n.world.evicted == nil {
		n.world.evicted = map[protocol.NodeID]uint32{}
	}
	n.world.evicted[younger] = n.sim.Incarnation(younger)
	for _, e := range maybe {
		if n.world.mayEvict == nil {
			n.world.mayEvict = map[protocol.NodeID]pendingEviction{}
		}
		n.world.mayEvict[e] = pendingEviction{inc: n.sim.Incarnation(e), until: n.sim.Now() + protocol.Time(notice)}
	}
	return notice
}

// delaySpike slows one directed server-to-server link for a while, below the failure-detection
// timeout (Scenario.Validate guarantees it), keeping FIFO order.
func (n *nemesis) delaySpike(r protocol.Rand) protocol.Duration {
	servers := n.scn.KV.Servers
	from := r.Intn(servers)
	to := (from + 1 + r.Intn(servers-1)) % servers
	key := sim.LinkKey{From: protocol.NodeID(from), To: protocol.NodeID(to)}
	lat := n.scn.Nemeses.DelaySpikeLatency
	lasts := protocol.Duration(1 + r.Intn(int(n.scn.Nemeses.DelaySpikeMax)))
	if err := n.sim.SetLink(key, sim.Link{Latency: sim.Latency{Kind: sim.Uniform, Min: lat / 2, Max: lat}}); err != nil {
		panic(fmt.Sprintf("harness: delay spike on %v: %v", key, err))
	}
	n.spiked[key] = true
	n.sim.At(min(n.sim.Now()+protocol.Time(lasts), n.end), "nemesis/spike-end", func() {
		_ = n.sim.ResetLink(key)
		delete(n.spiked, key)
	})
	return 0 // spikes on different links may overlap
}

// rebalance asks the coordinator to move a random bucket to a random server.
func (n *nemesis) rebalance(r protocol.Rand) protocol.Duration {
	bucket := r.Intn(n.scn.KV.Buckets)
	target := protocol.NodeID(r.Intn(n.scn.KV.Servers))
	n.requestMove(bucket, target)
	return 0
}

// requestMove sends a rebalance request to the member that currently coordinates.
func (n *nemesis) requestMove(bucket int, target protocol.NodeID) {
	if coord, ok := n.world.coordinator(); ok {
		if err := n.sim.Inject(n.sim.Now(), coord, &kv.Rebalance{Bucket: bucket, Target: target}); err != nil {
			panic(fmt.Sprintf("harness: injecting a rebalance request: %v", err))
		}
	}
}

// sourceWatchInterval is how often the source nemeses look for copies in progress.
const sourceWatchInterval = 2 * protocol.Millisecond

// Source bounce: the primary's links to the holders other than the source slow to this latency for
// this long when a copy starts flushing, and the source restarts this soon after it is killed.
const (
	bounceSlowLatency  = 30 * protocol.Millisecond
	bounceSlowFor      = 120 * protocol.Millisecond
	bounceRestartAfter = 1 * protocol.Millisecond
)

// watchSources polls the servers for copies in progress. Once per copy attempt it may kill the image
// source (SourceKillProb) while the copy flushes or, in half the kills drawn, once it streams; or
// bounce it (SourceBounceProb): slow the primary's links to the other holders as the flush starts,
// so that writes to a second source are still in flight, then kill the source as soon as the copy
// streams and restart it at once, so that the copy retries from the second source quickly. That is
// the schedule in which reusing the first flush (mutant flush-not-bound-to-source) loses a write.
func (n *nemesis) watchSources(r protocol.Rand) {
	type attempt struct {
		replica, bucket int
		attempt         uint64
	}
	decided := map[attempt]string{}    // "", "kill" or "bounce"
	killDuring := map[attempt]string{} // the copy phase a planned kill waits for
	slowed := map[attempt]bool{}
	done := map[attempt]bool{}
	cfg := n.scn.Nemeses
	lastKill := protocol.Time(-1)
	// kill is one aimed kill, at most one per SourceKillMinGap cluster-wide: each kill of a server
	// that holds many copies starts as many new copies, and without a bound every kill would draw
	// more kills than it ends, a cascade no data center sees that swamps large clusters.
	kill := func(source kv.Member, restartAfter protocol.Duration) {
		if lastKill >= 0 && n.sim.Now()-lastKill < protocol.Time(cfg.SourceKillMinGap) {
			return
		}
		if n.killSource(source, restartAfter) {
			lastKill = n.sim.Now()
		}
	}
	var tick func()
	var copies []kv.CopyInProgress // reused by every tick
	tick = func() {
		for id := 0; id < n.scn.KV.Servers; id++ {
			replica := n.world.server(protocol.NodeID(id))
			if replica == nil {
				continue
			}
			copies = replica.AppendCopiesInProgress(copies[:0])
			for _, c := range copies {
				key := attempt{id, c.Bucket, c.Attempt}
				if c.Phase == "announcing" || c.Source.ID < 0 || done[key] {
					continue
				}
				plan, seen := decided[key]
				if !seen {
					switch {
					case sim.Happens(r, cfg.SourceBounceProb):
						plan = "bounce"
					case sim.Happens(r, cfg.SourceKillProb):
						plan = "kill"
						// A source dies at any moment of a copy, not only as it starts: half the
						// planned kills wait until the copy streams its image.
						killDuring[key] = "flushing"
						if r.Intn(2) == 1 {
							killDuring[key] = "copying"
						}
					}
					decided[key] = plan
				}
				switch {
				case plan == "kill" && (c.Phase == killDuring[key] || c.Phase == "copying"):
					done[key] = true
					kill(c.Source, n.sourceRestartDelay())
				case plan == "kill":
					// waiting for the copy to stream
				case plan == "bounce" && !slowed[key]:
					slowed[key] = true
					n.slowPrimaryLinks(c.Bucket, c.Source.ID, protocol.NodeID(id))
				case plan == "bounce" && c.Phase == "copying":
					done[key] = true
					kill(c.Source, bounceRestartAfter)
				case plan == "":
					done[key] = true
				}
			}
		}
		if next := n.sim.Now() + protocol.Time(sourceWatchInterval); next < n.end {
			n.sim.At(next, "nemesis/source-watch", tick)
		}
	}
	n.sim.At(n.sim.Now(), "nemesis/source-watch", tick)
}

func (n *nemesis) sourceRestartDelay() protocol.Duration {
	if m := n.scn.Nemeses.Monkey; m != nil && m.RestartAfter > 0 {
		return m.RestartAfter
	}
	return 150 * protocol.Millisecond
}

// killSource crashes a copy's image source, if it is still that incarnation and every bucket keeps a
// live copy without it, and restarts it after the given delay.
func (n *nemesis) killSource(source kv.Member, restartAfter protocol.Duration) bool {
	id := source.ID
	if !n.sim.Alive(id) || n.sim.Incarnation(id) != source.Inc || !n.world.SafeToKill(id) || !n.world.KeepsQuorum(id) {
		return false
	}
	_ = n.sim.Crash(id, chaos.Label)
	n.sim.At(n.sim.Now()+protocol.Time(restartAfter), "nemesis/source-restart", func() {
		if !n.sim.Alive(id) {
			_ = n.sim.RestartBy(id, chaos.Label)
		}
	})
	return true
}

// slowPrimaryLinks slows the links from the bucket's primary to its holders other than the source
// and the new replica, below the failure-detection timeout (Scenario.Validate checks the margin).
func (n *nemesis) slowPrimaryLinks(bucket int, source, replica protocol.NodeID) {
	primary := protocol.NodeID(-1)
	var holders []protocol.NodeID
	for id := 0; id < n.scn.KV.Servers; id++ {
		srv := n.world.server(protocol.NodeID(id))
		if srv == nil {
			continue
		}
		held, isPrimary := srv.HoldsCopy(bucket)
		if !held {
			continue
		}
		if isPrimary {
			primary = protocol.NodeID(id)
		} else if id := protocol.NodeID(id); id != source && id != replica {
			holders = append(holders, id)
		}
	}
	if primary < 0 {
		return
	}
	for _, h := range holders {
		key := sim.LinkKey{From: primary, To: h}
		if err := n.sim.SetLink(key, sim.Link{Latency: sim.Latency{Kind: sim.Uniform, Min: bounceSlowLatency, Max: bounceSlowLatency * 4 / 3}}); err != nil {
			panic(fmt.Sprintf("harness: slowing %v: %v", key, err))
		}
		n.spiked[key] = true
		n.sim.At(min(n.sim.Now()+protocol.Time(bounceSlowFor), n.end), "nemesis/bounce-slow-end", func() {
			_ = n.sim.ResetLink(key)
			delete(n.spiked, key)
		})
	}
}

// stopAll ends every fault at the end of the safety phase: partitions heal, slowed links recover and
// client links stop losing and duplicating messages.
func (n *nemesis) stopAll() {
	_ = n.sim.Heal()
	if n.scn.Nemeses.ClientLossProb > 0 || n.scn.Nemeses.ClientDupProb > 0 {
		reliable := sim.Link{Latency: n.scn.Latency}
		for _, key := range clientLinks(n.scn.KV) {
			if err := n.sim.SetLink(key, reliable); err != nil {
				panic(fmt.Sprintf("harness: restoring client link %v: %v", key, err))
			}
		}
	}
	for id := 0; id < n.scn.KV.Servers; id++ {
		for to := 0; to < n.scn.KV.Servers; to++ {
			key := sim.LinkKey{From: protocol.NodeID(id), To: protocol.NodeID(to)}
			if n.spiked[key] {
				_ = n.sim.ResetLink(key)
			}
		}
	}
	clear(n.spiked)
}

func (n *nemesis) servers() []protocol.NodeID {
	ids := make([]protocol.NodeID, n.scn.KV.Servers)
	for i := range ids {
		ids[i] = protocol.NodeID(i)
	}
	return ids
}

// scriptLabel marks the crashes and restarts of a scenario's script: planned work, as the monkey's.
const scriptLabel = "script"

// partitionLabel marks the server partitions of the nemesis: planned work, whose removals and
// disconnects monitoring must not alarm on.
const partitionLabel = "nemesis"

// supervisorLabel marks the supervisor's restarts of servers forced to disconnect: planned work.
const supervisorLabel = "supervisor"
