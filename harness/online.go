package harness

import (
	"fmt"
	"slices"
	"strconv"

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
	// every write of its bucket that was distributed without it among the recipients and that an
	// initialized holder applied. Such a write can reach the copy only through the image: this is
	// the Spin model's complete-image property, computed from the sends of the trace.
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
)

// copyID names one incarnation's copy of one bucket.
type copyID struct {
	node   protocol.NodeID
	inc    uint32
	bucket int
}

// writeID names one distributed write: its origin incarnation and the origin's write number.
type writeID struct {
	origin protocol.NodeID
	inc    uint32
	id     uint64
}

// sentWrite is a write as the trace shows it: what it carried and to whom it went.
type sentWrite struct {
	bucket     int
	entries    []kv.Entry
	recipients []copyID
	sendSeq    uint64
	// appliedSeq is the first record at which an initialized holder acknowledged applying it (0:
	// none yet). Only such a write must be in every copy created without it among the recipients.
	appliedSeq uint64
}

// initializedCopy is a copy at the moment it was marked initialized.
type initializedCopy struct {
	copyID
	seq      uint64
	timeUS   int64
	versions map[string]kv.Version
}

// onlineChecker implements sim.Observer for the harness's online invariants.
type onlineChecker struct {
	world      *kvWorld
	writes     map[writeID]*sentWrite
	byBucket   map[int][]*sentWrite
	inits      map[int][]*initializedCopy
	primaries  map[[2]uint64]string // (bucket, epoch) -> member
	versions   map[copyID]map[string]kv.Version
	violations []linearizability.Violation
	// reported keeps each (check, subject) reported once, so a broken copy does not flood the report.
	reported map[string]bool
}

func newOnlineChecker(world *kvWorld) *onlineChecker {
	return &onlineChecker{world: world, writes: map[writeID]*sentWrite{}, byBucket: map[int][]*sentWrite{},
		inits: map[int][]*initializedCopy{}, primaries: map[[2]uint64]string{}, versions: map[copyID]map[string]kv.Version{},
		reported: map[string]bool{}}
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
func (c *onlineChecker) Observe(r *trace.Record, msg protocol.Message) {
	switch r.Kind {
	case trace.KindSend:
		switch m := msg.(type) {
		case *kv.Replicate:
			c.onReplicateSent(r, m)
		case *kv.WriteAck:
			c.onAckSent(r, m)
		case *kv.ClientReply:
			c.onClientReply(r, m)
		}
	case trace.KindCrash, trace.KindRestart:
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
		w = &sentWrite{bucket: m.Bucket, entries: m.Entries, sendSeq: r.Seq}
		c.writes[id] = w
		c.byBucket[m.Bucket] = append(c.byBucket[m.Bucket], w)
		// The origin applied the write in this very step: its versions must not have gone back.
		if srv := c.server(from); srv != nil {
			c.observeVersions(r, copyID{from, r.Incarnation, m.Bucket}, srv, m.Entries)
		}
	}
	w.recipients = append(w.recipients, copyID{node: to, inc: c.world.sim.Incarnation(to), bucket: m.Bucket})
}

func (c *onlineChecker) onAckSent(r *trace.Record, m *kv.WriteAck) {
	holder, origin := protocol.NodeID(r.Node), protocol.NodeID(r.Peer)
	w := c.writes[writeID{origin: origin, inc: c.world.sim.Incarnation(origin), id: m.WriteID}]
	if w == nil || !m.Applied() {
		return
	}
	srv := c.server(holder)
	if srv == nil {
		return
	}
	c.observeVersions(r, copyID{holder, r.Incarnation, m.Bucket}, srv, w.entries)
	if _, initialized := srv.CopyState(m.Bucket); !initialized || w.appliedSeq != 0 {
		return
	}
	w.appliedSeq = r.Seq
	for _, ic := range c.inits[w.bucket] {
		c.checkComplete(r, ic, w)
	}
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
	case protocol.EventInitialized:
		bucket, ok := intAttr(r, "bucket")
		srv := c.server(node)
		if !ok || srv == nil {
			return
		}
		ic := &initializedCopy{copyID: copyID{node, r.Incarnation, bucket}, seq: r.Seq, timeUS: r.TimeUS, versions: map[string]kv.Version{}}
		for _, e := range srv.Entries(bucket) {
			ic.versions[e.Key] = e.Version
			c.observeVersion(r, ic.copyID, e.Key, e.Version)
		}
		c.inits[bucket] = append(c.inits[bucket], ic)
		for _, w := range c.byBucket[bucket] {
			if w.appliedSeq != 0 {
				c.checkComplete(r, ic, w)
			}
		}
	case protocol.EventImageChunkApplied:
		bucket, ok := intAttr(r, "bucket")
		srv := c.server(node)
		if !ok || srv == nil {
			return
		}
		id := copyID{node, r.Incarnation, bucket}
		for _, e := range srv.Entries(bucket) {
			c.observeVersion(r, id, e.Key, e.Version)
		}
	case protocol.EventImageDiscarded, kv.EventBucketDropped:
		if bucket, ok := intAttr(r, "bucket"); ok {
			delete(c.versions, copyID{node, r.Incarnation, bucket})
		}
	case kv.EventForcedDisconnect:
		c.forgetNode(node)
	case protocol.EventPrimaryChange:
		bucket, okB := intAttr(r, "bucket")
		epoch, okE := r.Get("epoch")
		primary, okP := r.Get("primary")
		e, err := strconv.ParseUint(epoch, 10, 64)
		if !okB || !okE || !okP || err != nil {
			return
		}
		k := [2]uint64{uint64(bucket), e}
		if prev, ok := c.primaries[k]; ok && prev != primary {
			c.violate(OnePrimaryCheck, fmt.Sprintf("%d/%d", bucket, e), bucket, "", r, nil,
				"bucket %d has two primaries in epoch %d: %s and then %s", bucket, e, prev, primary)
			return
		}
		c.primaries[k] = primary
	case protocol.EventDataLost:
		bucket, ok := intAttr(r, "bucket")
		if !ok {
			return
		}
		var holders []string
		for id := 0; id < c.world.cfg.Servers; id++ {
			srv := c.server(protocol.NodeID(id))
			if srv == nil || !srv.Joined() {
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

// forgetNode drops what is known of a node's copies when it crashes, restarts or is disconnected:
// a new incarnation starts empty.
func (c *onlineChecker) forgetNode(node protocol.NodeID) {
	for id := range c.versions {
		if id.node == node {
			delete(c.versions, id)
		}
	}
}

// checkComplete reports a write that copy ic must hold but does not: distributed before ic was
// initialized, not to ic, and applied at an initialized holder.
func (c *onlineChecker) checkComplete(r *trace.Record, ic *initializedCopy, w *sentWrite) {
	if w.sendSeq > ic.seq || slices.Contains(w.recipients, ic.copyID) {
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
