package harness

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/trace"
)

// Online invariants: checked while the run goes, at the step where they break (as TigerBeetle's
// state checker does), from the records the simulator commits and the servers' state at that moment.
// Each violation names the step (its trace position and virtual time).
const (
	// CopyCompleteCheck: when a copy is marked initialized it holds, at a version at least as new,
	// every write of its bucket that was distributed without it among the recipients and that its
	// image source applied (before or after the copy was initialized). Such a write can reach the
	// copy only through the image: this is the Spin model's complete-image property, computed from
	// the sends of the trace.
	CopyCompleteCheck = "copy-complete"
	// OnePrimaryCheck: at most one member becomes primary of a bucket in an epoch.
	OnePrimaryCheck = "one-primary-per-epoch"
	// MonotonicVersionCheck: per key, the version at a holder never goes backwards (while the copy
	// lives: a discarded copy starts again).
	MonotonicVersionCheck = "monotonic-versions"
	// UninitializedAnswerCheck: a copy that is not initialized never answers a client's read.
	UninitializedAnswerCheck = "uninitialized-answer"
	// FalseLossCheck: a bucket declared lost had no live, joined member with an initialized copy.
	FalseLossCheck = "false-loss"
	// FlushCheck: the state flush's own guarantee, for a copy created by the state flush operation.
	// When the copy's flush completes with source S, every write of the bucket that was sent
	// without the copy among the recipients and to S has been applied at S, and no such write of
	// the flush's epoch is sent afterwards; the copy initializes only from the source its latest
	// flush was bound to.
	FlushCheck = "flush"
	// FenceCheck: the failover synchronization's own guarantee. Once a copy is fenced at an epoch
	// (it answered that epoch's new primary's collect, or it is that primary), it applies no
	// replicated write of an older epoch: the new primary merged what the holders had when they
	// answered, so a write of the old primary applied afterwards is one the merge never saw, and
	// whether it ends up everywhere depends on timing alone.
	FenceCheck = "epoch-fence"
)

// copyID names one incarnation's copy of one bucket, and which of its lives: a copy that is
// dropped, discarded or started again (a new creation attempt) begins a new generation, which has
// none of the old one's writes.
type copyID struct {
	node   protocol.NodeID
	inc    uint32
	bucket int
	gen    int
}

// copy names the current generation of a node incarnation's copy of a bucket.
func (c *onlineChecker) copy(node protocol.NodeID, inc uint32, bucket int) copyID {
	base := copyID{node: node, inc: inc, bucket: bucket}
	base.gen = c.gens[base]
	return base
}

// newGeneration starts a new life of a copy.
func (c *onlineChecker) newGeneration(node protocol.NodeID, inc uint32, bucket int) {
	c.gens[copyID{node: node, inc: inc, bucket: bucket}]++
}

// writeID names one distributed write: its origin incarnation and the origin's write number.
type writeID struct {
	origin protocol.NodeID
	inc    uint32
	id     uint64
}

// sentWrite is a write as the trace shows it: what it carried and to whom it went.
type sentWrite struct {
	bucket int
	epoch  uint64
	// flushesBefore are the flushes of the bucket that had completed, and were live, when the
	// write was sent.
	flushesBefore []*completedFlush
	entries       []kv.Entry
	recipients    []copyID
	sendSeq       uint64
	// sendCause is the record of the step that sent it; cut marks a write whose origin crashed
	// inside that step, part-way through its sends: its recipients are then only those it reached,
	// not those it was meant for, so the checks that judge whom a write was sent to leave it out.
	// Where it went is settled by the next primary's failover merge, which the convergence,
	// acknowledged-write and linearizability checks judge.
	sendCause uint64
	cut       bool
	// appliedSeq is the first record at which an initialized holder acknowledged applying it (0:
	// none yet), appliers every initialized copy that applied it (its origin included). A copy
	// created without the write among its recipients must hold it if its image source applied
	// it: the flush exists to make the source apply such writes before it streams the image. (A
	// write the source rejected, or never got, reaches the copy otherwise or not at all: a new
	// primary's failover merge pushes what only other holders applied, to every holder.)
	appliedSeq uint64
	appliers   []copyID
	// recipientsBuf and appliersBuf back the two slices for the common cases (the default
	// redundancy of three: two recipients, and the origin and both recipients applying), so a
	// write costs one allocation here instead of four.
	recipientsBuf [2]copyID
	appliersBuf   [3]copyID
}

// initializedCopy is a copy at the moment it was marked initialized.
type initializedCopy struct {
	copyID
	// source is the image source's copy, as it was when the copy was initialized.
	source    copyID
	hasSource bool
	seq       uint64
	timeUS    int64
	versions  map[string]kv.Version
}

// chunkID names one image chunk at the copy that received it.
type chunkID struct {
	copy  copyID
	index int
}

// completedFlush is a copy's flush at the moment it completed.
type completedFlush struct {
	copyID
	seq    uint64
	source string // the source member, as the event names it
	// sourceNode and sourceInc identify the source's incarnation.
	sourceNode protocol.NodeID
	sourceInc  uint32
	// epoch is the newest epoch of the bucket's writes sent before the flush completed: a write of
	// a newer epoch comes from a primary that fences the copy, which then starts again.
	epoch uint64
}

// onlineChecker implements sim.Observer for the harness's online invariants.
type onlineChecker struct {
	world     *kvWorld
	writes    map[writeID]*sentWrite
	byBucket  map[int][]*sentWrite
	inits     map[int][]*initializedCopy
	primaries map[[2]uint64]string // (bucket, epoch) -> member
	// unheard are the primary claims (bucket, epoch) whose claimant has not been heard from since
	// (no message it sent after the claim has been delivered): if it crashes so, the claim never
	// reached anyone, and a later primary may rightly be given the same epoch.
	unheard  map[[2]uint64]claim
	versions map[copyID]map[string]kv.Version
	flushes  map[copyID]*completedFlush
	// chunks are the image chunks delivered and not yet applied, by copy and chunk index.
	chunks   map[chunkID][]kv.Entry
	gens     map[copyID]int // by copyID without gen
	maxEpoch map[int]uint64
	// fenced is, per copy, the newest epoch it was fenced at.
	fenced map[copyID]uint64
	// listedIn is, per member (node, incarnation), the newest view seen that lists it.
	listedIn map[[2]uint64]kv.ConfigVersion
	// removed marks members a view newer than every view listing them left out.
	removed map[[2]uint64]bool
	// newest is, per bucket and key, the highest version among the writes an initialized holder
	// has applied: a new copy holding at least that for every key misses no write, which spares
	// looking through every write the bucket ever had (mayMissWrites).
	newest map[int]map[string]kv.Version
	// settled is, per view version as recorded, the view event last settled. Every member reports
	// installing the same view, and each settling costs the view's members and every member ever
	// listed (the whole cluster per member per view), so repeats that cannot settle anything new
	// are skipped (see forgetRemovedFlushes).
	settled    map[string]*settledView
	violations []linearizability.Violation
	// reported keeps each (check, subject) reported once, so a broken copy does not flood the report.
	reported map[string]bool
	// holds checks the lock service's one-holder rule (nil when the cluster has no lock service).
	holds *holdChecker
}

// settledView is a view event forgetRemovedFlushes settled: its members as recorded (a view's
// texts are formatted once, so repeats compare in constant time) and parsed, and how many members
// listedIn knew after it.
type settledView struct {
	members string
	listed  [][2]uint64
	known   int
}

func newOnlineChecker(world *kvWorld) *onlineChecker {
	c := &onlineChecker{world: world, writes: map[writeID]*sentWrite{}, byBucket: map[int][]*sentWrite{},
		inits: map[int][]*initializedCopy{}, primaries: map[[2]uint64]string{}, unheard: map[[2]uint64]claim{}, versions: map[copyID]map[string]kv.Version{},
		reported: map[string]bool{}, flushes: map[copyID]*completedFlush{}, chunks: map[chunkID][]kv.Entry{}, gens: map[copyID]int{}, maxEpoch: map[int]uint64{},
		fenced: map[copyID]uint64{}, listedIn: map[[2]uint64]kv.ConfigVersion{}, removed: map[[2]uint64]bool{},
		settled: map[string]*settledView{}, newest: map[int]map[string]kv.Version{}}
	if world.cfg.Locks.Enabled() {
		c.holds = newHoldChecker()
	}
	return c
}

// violate reports a violation found at record r; seqs are further records that show it.
func (c *onlineChecker) violate(check, subject string, bucket int, key string, r *trace.Record, seqs []uint64, format string, args ...any) {
	if c.reported[check+"\x00"+subject] {
		return
	}
	c.reported[check+"\x00"+subject] = true
	msg := fmt.Sprintf("at step %d (t=%v): ", r.Seq, protocol.Time(r.TimeUS)) + fmt.Sprintf(format, args...)
	seqs = append(slices.Clone(seqs), r.Seq)
	slices.Sort(seqs)
	c.violations = append(c.violations, linearizability.Violation{Check: linearizability.CheckName(check), Bucket: bucket, Key: key,
		Message: msg, TraceSeqs: slices.Compact(seqs)})
}

func (c *onlineChecker) server(id protocol.NodeID) *kv.Server {
	if int(id) >= c.world.cfg.Servers || !c.world.sim.Alive(id) {
		return nil
	}
	return c.world.server(id)
}

func (c *onlineChecker) name(id protocol.NodeID) string { return kv.NodeName(c.world.cfg, id) }

// Observe implements sim.Observer.
func (c *onlineChecker) Observe(record trace.Record, msg protocol.Message) {
	r := &record
	switch r.Kind {
	case trace.KindSend:
		switch m := msg.(type) {
		case *kv.Replicate:
			c.onReplicateSent(r, m)
		case *kv.WriteAck:
			c.onAckSent(r, m)
		case *kv.ClientReply:
			c.onClientReply(r, m)
		case *kv.SyncState:
			if m.Holds {
				c.fence(c.copy(protocol.NodeID(r.Node), r.Incarnation, m.Bucket), m.Epoch)
			}
		}
	case trace.KindDeliver:
		if len(c.unheard) > 0 && carriesClaims(msg) {
			c.heardFrom(r)
		}
		if m, ok := msg.(*kv.ImageChunk); ok {
			id := chunkID{c.copy(protocol.NodeID(r.Node), r.Incarnation, m.Bucket), m.Index}
			c.chunks[id] = m.Entries
		}
	case trace.KindCrash:
		if where, _ := r.Get("in-step"); strings.HasPrefix(where, "after") {
			c.markCut(protocol.NodeID(r.Node), r.Incarnation, r.Cause)
		}
		c.forgetNode(protocol.NodeID(r.Node))
	case trace.KindRestart:
		c.forgetNode(protocol.NodeID(r.Node))
	case trace.KindEvent:
		c.onEvent(r)
	}
}

func (c *onlineChecker) onReplicateSent(r *trace.Record, m *kv.Replicate) {
	from, to := protocol.NodeID(r.Node), protocol.NodeID(r.Peer)
	id := writeID{origin: from, inc: r.Incarnation, id: m.WriteID}
	w := c.writes[id]
	if w == nil {
		w = &sentWrite{bucket: m.Bucket, epoch: m.Epoch, entries: m.Entries, sendSeq: r.Seq, sendCause: r.Cause}
		w.recipients, w.appliers = w.recipientsBuf[:0], w.appliersBuf[:0]
		c.maxEpoch[m.Bucket] = max(c.maxEpoch[m.Bucket], m.Epoch)
		if len(c.flushes) > 0 {
			w.flushesBefore = c.sortedFlushes(m.Bucket)
		}
		c.writes[id] = w
		c.byBucket[m.Bucket] = append(c.byBucket[m.Bucket], w)
		// The origin applied the write in this very step (a write is put on the wire only by the
		// primary of its epoch): it is an applier, and its versions must not have gone back.
		if srv := c.server(from); srv != nil {
			origin := c.copy(from, r.Incarnation, m.Bucket)
			c.observeVersions(r, origin, srv, m.Entries)
			if _, initialized := srv.CopyState(m.Bucket); initialized {
				w.appliers = append(w.appliers, origin)
			}
		}
	}
	w.recipients = append(w.recipients, c.copy(to, c.world.sim.Incarnation(to), m.Bucket))
}

func (c *onlineChecker) onAckSent(r *trace.Record, m *kv.WriteAck) {
	holder, origin := protocol.NodeID(r.Node), protocol.NodeID(r.Peer)
	w := c.writes[writeID{origin: origin, inc: c.world.sim.Incarnation(origin), id: m.WriteID}]
	if w == nil || !m.Applied() {
		return
	}
	if id := c.copy(holder, r.Incarnation, m.Bucket); w.epoch < c.fenced[id] && len(w.entries) > 0 {
		c.violate(FenceCheck, fmt.Sprintf("%v/%d", id, w.sendSeq), w.bucket, w.entries[0].Key, r, []uint64{w.sendSeq},
			"%s applied a write of bucket %d from epoch %d (sent at step %d) after it was fenced at epoch %d: the new primary's synchronization did not see it",
			c.name(holder), w.bucket, w.epoch, w.sendSeq, c.fenced[id])
	}
	srv := c.server(holder)
	if srv == nil {
		return
	}
	c.observeVersions(r, c.copy(holder, r.Incarnation, m.Bucket), srv, w.entries)
	if _, initialized := srv.CopyState(m.Bucket); !initialized || c.removed[[2]uint64{uint64(holder), uint64(r.Incarnation)}] {
		// A member a newer view removed (cut off by a partition, it has not learned so yet)
		// applies for nobody: its copy counts nowhere, and the flushes of the view it left do not
		// wait for its old primary's writes, which the fenced holders refuse.
		return
	}
	if c.flushChecked() && len(c.flushes) > 0 {
		// A source that applies, after a flush bound to it completed, a write sent to it before
		// (and not to the copy): the flush did not wait for the write to be applied.
		for _, f := range c.sortedFlushes(w.bucket) {
			if f.sourceNode == holder && f.sourceInc == r.Incarnation && w.sendSeq < f.seq && !w.cut && !slices.Contains(w.recipients, f.copyID) {
				c.violate(FlushCheck, fmt.Sprintf("%v/%d", f.copyID, w.sendSeq), f.bucket, w.entries[0].Key, r, []uint64{w.sendSeq, f.seq},
					"source %s applied a write of bucket %d (sent at step %d, not to the new copy %s) only after the copy's flush completed at step %d",
					f.source, f.bucket, w.sendSeq, c.name(f.node), f.seq)
			}
		}
	}
	w.appliers = append(w.appliers, c.copy(holder, r.Incarnation, m.Bucket))
	for _, ic := range c.inits[w.bucket] {
		c.checkComplete(r, ic, w) // the new applier may be a copy's image source
	}
	if w.appliedSeq != 0 {
		return
	}
	w.appliedSeq = r.Seq
	newest := c.newest[w.bucket]
	if newest == nil {
		newest = map[string]kv.Version{}
		c.newest[w.bucket] = newest
	}
	for _, e := range w.entries {
		if have, ok := newest[e.Key]; !ok || e.Version.Compare(have) > 0 {
			newest[e.Key] = e.Version
		}
	}
	if c.flushChecked() {
		for _, f := range w.flushesBefore {
			if c.flushes[f.copyID] == f && w.epoch <= f.epoch && !w.cut && !slices.Contains(w.recipients, f.copyID) && len(w.entries) > 0 {
				c.violate(FlushCheck, fmt.Sprintf("%v/%d", f.copyID, w.sendSeq), f.bucket, w.entries[0].Key, r, []uint64{w.sendSeq, f.seq},
					"a write of bucket %d was sent at step %d without the new copy %s among its recipients, after the copy's flush completed at step %d: the flush did not wait for it",
					f.bucket, w.sendSeq, c.name(f.node), f.seq)
			}
		}
	}
}

// flushChecked says whether copies are made by the state flush operation (the baselines have no
// flush to check).
func (c *onlineChecker) flushChecked() bool { return c.world.cfg.Strategy == kv.StateFlush }

// sortedFlushes lists the live completed flushes of a bucket, by the copy's node.
func (c *onlineChecker) sortedFlushes(bucket int) []*completedFlush {
	var out []*completedFlush
	for id, f := range c.flushes {
		if id.bucket == bucket {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b *completedFlush) int { return int(a.node) - int(b.node) })
	return out
}

// observeVersions checks that the copy's versions of the given entries' keys did not go back since
// they were last observed, and remembers them.
func (c *onlineChecker) observeVersions(r *trace.Record, id copyID, srv *kv.Server, entries []kv.Entry) {
	for _, e := range entries {
		if v, ok := srv.EntryVersion(id.bucket, e.Key); ok {
			c.observeVersion(r, id, e.Key, v)
		}
	}
}

func (c *onlineChecker) observeVersion(r *trace.Record, id copyID, key string, v kv.Version) {
	seen := c.versions[id]
	if seen == nil {
		seen = map[string]kv.Version{}
		c.versions[id] = seen
	}
	if prev, ok := seen[key]; ok && v.Compare(prev) < 0 {
		c.violate(MonotonicVersionCheck, fmt.Sprintf("%v/%s", id, key), id.bucket, key, r, nil,
			"bucket %d key %q at %s went back from version %s to %s", id.bucket, key, c.name(id.node), prev, v)
	}
	seen[key] = v
}

func (c *onlineChecker) onClientReply(r *trace.Record, m *kv.ClientReply) {
	if !m.Read {
		return
	}
	srv := c.server(protocol.NodeID(r.Node))
	if srv == nil {
		return
	}
	if held, initialized := srv.CopyState(m.Bucket); !initialized {
		state := "holds no copy of the bucket"
		if held {
			state = "holds an uninitialized copy"
		}
		c.violate(UninitializedAnswerCheck, fmt.Sprintf("%d/%d", r.Node, m.Bucket), m.Bucket, "", r, nil,
			"%s answered client %s's read #%d of bucket %d but %s", c.name(protocol.NodeID(r.Node)), c.name(protocol.NodeID(r.Peer)), m.Seq, m.Bucket, state)
	}
}

func (c *onlineChecker) onEvent(r *trace.Record) {
	node := protocol.NodeID(r.Node)
	switch r.Name {
	case protocol.EventOpInvoke, protocol.EventOpReturn:
		if c.holds != nil && kv.IsLockClient(c.world.cfg, node) {
			c.holds.observe(r, c.name, func(subject, key string, seqs []uint64, format string, args ...any) {
				c.violate(OneHolderCheck, subject, linearizability.NoBucket, key, r, seqs, format, args...)
			})
		}
	case protocol.EventInitialized:
		bucket, ok := intAttr(r, "bucket")
		srv := c.server(node)
		if !ok || srv == nil || c.removed[[2]uint64{uint64(node), uint64(r.Incarnation)}] {
			// A member a newer view removed (paused meanwhile, it has not learned so yet) marks
			// a copy that counts nowhere: no view lists it, and it will drop it when it learns.
			return
		}
		// The copy's versions were observed as its mitt and its image chunks were applied.
		ic := &initializedCopy{copyID: c.copy(node, r.Incarnation, bucket), seq: r.Seq, timeUS: r.TimeUS, versions: srv.EntryVersions(bucket)}
		if source, ok := r.Get("source"); ok {
			if sn, si, ok := parseMember(source); ok {
				ic.source, ic.hasSource = c.copy(sn, si, bucket), true
			}
		}
		c.inits[bucket] = append(c.inits[bucket], ic)
		if c.flushChecked() {
			source, _ := r.Get("source")
			f := c.flushes[ic.copyID]
			switch {
			case f == nil:
				c.violate(FlushCheck, fmt.Sprintf("%v/init", ic.copyID), bucket, "", r, nil,
					"%s was marked initialized from source %s of bucket %d without a completed flush", c.name(node), source, bucket)
			case f.source != source:
				c.violate(FlushCheck, fmt.Sprintf("%v/init", ic.copyID), bucket, "", r, []uint64{f.seq},
					"%s was marked initialized from source %s of bucket %d, but its flush (completed at step %d) was bound to source %s", c.name(node), source, bucket, f.seq, f.source)
			}
			delete(c.flushes, ic.copyID)
		}
		if c.mayMissWrites(ic) {
			for _, w := range c.byBucket[bucket] {
				if w.appliedSeq != 0 {
					c.checkComplete(r, ic, w)
				}
			}
		}
	case protocol.EventImageChunkApplied:
		bucket, ok := intAttr(r, "bucket")
		srv := c.server(node)
		if !ok || srv == nil {
			return
		}
		index, okI := intAttr(r, "index")
		if !okI {
			return
		}
		id := c.copy(node, r.Incarnation, bucket)
		chunk := chunkID{id, index}
		c.observeVersions(r, id, srv, c.chunks[chunk])
		delete(c.chunks, chunk)
	case protocol.EventImageDiscarded, kv.EventBucketDropped:
		if bucket, ok := intAttr(r, "bucket"); ok {
			delete(c.versions, c.copy(node, r.Incarnation, bucket))
			delete(c.flushes, c.copy(node, r.Incarnation, bucket))
			c.newGeneration(node, r.Incarnation, bucket)
		}
	case protocol.EventAnnounceSent:
		if bucket, ok := intAttr(r, "bucket"); ok {
			delete(c.flushes, c.copy(node, r.Incarnation, bucket))
			c.newGeneration(node, r.Incarnation, bucket) // a new attempt: its mitt and flush start afresh
		}
	case protocol.EventFlushComplete:
		bucket, okB := intAttr(r, "bucket")
		source, okS := r.Get("source")
		sourceNode, sourceInc, okM := parseMember(source)
		// A member a newer view removed (cut off, it has not learned so yet) completes a flush that
		// counts nowhere, as its initialization does not: the view's primaries rightly leave it out.
		if okB && okS && okM && !c.removed[[2]uint64{uint64(node), uint64(r.Incarnation)}] {
			id := c.copy(node, r.Incarnation, bucket)
			c.flushes[id] = &completedFlush{copyID: id, seq: r.Seq, source: source, sourceNode: sourceNode, sourceInc: sourceInc, epoch: c.maxEpoch[bucket]}
		}
	case kv.EventForcedDisconnect:
		c.forgetNode(node)
	case protocol.EventViewChange:
		c.forgetRemovedFlushes(r)
	case protocol.EventPrimaryChange:
		bucket, okB := intAttr(r, "bucket")
		epoch, okE := r.Get("epoch")
		primary, okP := r.Get("primary")
		e, err := strconv.ParseUint(epoch, 10, 64)
		if !okB || !okE || !okP || err != nil {
			return
		}
		k := [2]uint64{uint64(bucket), e}
		if u, ok := c.unheard[k]; ok && u.member != primary && (!c.world.sim.Alive(u.node) || c.world.sim.Incarnation(u.node) != u.inc) {
			delete(c.primaries, k) // its claim died with it, unheard
		}
		delete(c.unheard, k)
		if prev, ok := c.primaries[k]; ok && prev != primary {
			c.violate(OnePrimaryCheck, fmt.Sprintf("%d/%d", bucket, e), bucket, "", r, nil,
				"bucket %d has two primaries in epoch %d: %s and then %s", bucket, e, prev, primary)
			return
		}
		c.primaries[k] = primary
		c.unheard[k] = claim{member: primary, node: node, inc: r.Incarnation, seq: r.Seq}
		if pn, pi, ok := parseMember(primary); ok {
			c.fence(c.copy(pn, pi, bucket), e)
		}
	case protocol.EventDataLost:
		bucket, ok := intAttr(r, "bucket")
		if !ok {
			return
		}
		// Live members are those of the declaring coordinator's view: a paused server the view
		// removed still holds its copies, but the cluster rightly counts them as gone.
		declarer := c.server(protocol.NodeID(r.Node))
		var holders []string
		for id := 0; id < c.world.cfg.Servers; id++ {
			srv := c.server(protocol.NodeID(id))
			if srv == nil || !srv.Joined() || (declarer != nil && !declarer.Membership().InView(srv.Self())) {
				continue
			}
			if _, initialized := srv.CopyState(bucket); initialized {
				holders = append(holders, c.name(protocol.NodeID(id)))
			}
		}
		if len(holders) > 0 {
			c.violate(FalseLossCheck, strconv.Itoa(bucket), bucket, "", r, nil,
				"bucket %d was declared lost while live members %v held an initialized copy", bucket, holders)
		}
	}
}

// claim is a primary claim not yet heard of by anyone (onlineChecker.unheard).
type claim struct {
	member string
	node   protocol.NodeID
	inc    uint32
	seq    uint64
}

// carriesClaims reports whether a delivered message can tell its receiver of its sender's primary
// claims. Failure-detection and join traffic cannot: a claimant whose heartbeats got through but
// whose views and writes were lost with its host was never heard of as primary.
func carriesClaims(msg protocol.Message) bool {
	switch msg.(type) {
	case *kv.Heartbeat, *kv.Suspect, *kv.CheckRequest, *kv.CheckReply, *kv.Verdict, *kv.Join:
		return false
	}
	return true
}

// heardFrom settles the claims of the sender of a delivered message sent after them.
func (c *onlineChecker) heardFrom(r *trace.Record) {
	for k, u := range c.unheard {
		if int32(u.node) == r.Peer && r.Cause > u.seq && c.world.sim.Incarnation(u.node) == u.inc {
			delete(c.unheard, k)
		}
	}
}

// fence records that a copy was fenced at an epoch.
func (c *onlineChecker) fence(id copyID, epoch uint64) {
	c.fenced[id] = max(c.fenced[id], epoch)
}

// forgetRemovedFlushes marks as removed every member that a view newer than every view listing it
// leaves out, and drops the completed flushes of their copies: writes sent by a primary holding
// that view rightly leave the copy out (a paused member the others removed keeps its process, and
// its flush record, until it learns of it). Members never come back under the same incarnation. A
// lagging server that installs an older view, from before the member joined, settles nothing.
//
// Settling a view again is a no-op unless listedIn learned of a member since: listing updates only
// raise listedIn's views, and a raised view removes nothing more; only a member first seen since
// (listed by an older view installed late) can be newly found removed.
func (c *onlineChecker) forgetRemovedFlushes(r *trace.Record) {
	text, _ := r.Get("view")
	members, _ := r.Get("members")
	seen := c.settled[text]
	if seen != nil && seen.members == members && seen.known == len(c.listedIn) {
		return
	}
	var v kv.ConfigVersion
	if _, err := fmt.Sscanf(text, "t%d.%d", &v.Term, &v.Seq); err != nil {
		return
	}
	if seen == nil || seen.members != members {
		seen = &settledView{members: members}
		for _, m := range strings.Split(members, ",") {
			if node, inc, ok := parseMember(m); ok {
				seen.listed = append(seen.listed, [2]uint64{uint64(node), uint64(inc)})
			}
		}
		c.settled[text] = seen
	}
	listed := make(map[[2]uint64]bool, len(seen.listed))
	for _, k := range seen.listed {
		listed[k] = true
		if v.Compare(c.listedIn[k]) > 0 {
			c.listedIn[k] = v
		}
	}
	newlyRemoved := false
	for k, last := range c.listedIn {
		if !listed[k] && v.Compare(last) > 0 && !c.removed[k] {
			c.removed[k] = true
			newlyRemoved = true
		}
	}
	// A completed flush is recorded only for a member not removed, so only new removals drop any.
	if newlyRemoved {
		for id := range c.flushes {
			if c.removed[[2]uint64{uint64(id.node), uint64(id.inc)}] {
				delete(c.flushes, id)
			}
		}
	}
	seen.known = len(c.listedIn)
}

// markCut marks the writes a node sent in the step a crash cut short (the step's record is cause).
func (c *onlineChecker) markCut(node protocol.NodeID, inc uint32, cause uint64) {
	for id, w := range c.writes {
		if id.origin == node && id.inc == inc && w.sendCause == cause {
			w.cut = true
		}
	}
}

// forgetNode drops what is known of a node's copies when it crashes, restarts or is disconnected:
// a new incarnation starts empty.
func (c *onlineChecker) forgetNode(node protocol.NodeID) {
	for id := range c.versions {
		if id.node == node {
			delete(c.versions, id)
		}
	}
	for id := range c.flushes {
		if id.node == node {
			delete(c.flushes, id)
		}
	}
}

// parseMember reads a member as the store names it: "s<id>" or "s<id>#<incarnation>".
func parseMember(text string) (protocol.NodeID, uint32, bool) {
	idText, incText, hasInc := strings.Cut(strings.TrimPrefix(text, "s"), "#")
	id, err := strconv.Atoi(idText)
	if err != nil {
		return 0, 0, false
	}
	inc := uint64(0)
	if hasInc {
		if inc, err = strconv.ParseUint(incText, 10, 32); err != nil {
			return 0, 0, false
		}
	}
	return protocol.NodeID(id), uint32(inc), true
}

// mayMissWrites reports whether a new copy lacks, for some key, the newest version an initialized
// holder applied; only then can checkComplete find a write missing from it.
func (c *onlineChecker) mayMissWrites(ic *initializedCopy) bool {
	for key, newest := range c.newest[ic.bucket] {
		if have, ok := ic.versions[key]; !ok || have.Compare(newest) < 0 {
			return true
		}
	}
	return false
}

// checkComplete reports a write that copy ic must hold but does not: distributed before ic was
// initialized, not to ic, and applied at an initialized holder.
func (c *onlineChecker) checkComplete(r *trace.Record, ic *initializedCopy, w *sentWrite) {
	if w.sendSeq > ic.seq || w.cut || slices.Contains(w.recipients, ic.copyID) || !ic.hasSource || !slices.Contains(w.appliers, ic.source) {
		return
	}
	for _, e := range w.entries {
		have, ok := ic.versions[e.Key]
		if ok && have.Compare(e.Version) >= 0 {
			continue
		}
		got := "no entry"
		if ok {
			got = "version " + have.String()
		}
		c.violate(CopyCompleteCheck, fmt.Sprintf("%v/%s", ic.copyID, e.Key), ic.bucket, e.Key, r, []uint64{ic.seq, w.sendSeq, w.appliedSeq},
			"%s was marked initialized at step %d holding %s for key %q of bucket %d, but the write of %s sent at step %d without it among the recipients, and applied by an initialized holder, has version %s",
			c.name(ic.node), ic.seq, got, e.Key, ic.bucket, e, w.sendSeq, e.Version)
	}
}

func intAttr(r *trace.Record, key string) (int, bool) {
	v, ok := r.Get(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}
