package kv

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stateflush/stateflush/protocol"
)

// Chandy–Lamport snapshots of the store.
//
// Any server initiates a snapshot when it receives StartSnapshot (from protocol.External). The
// snapshot's members are the members of the initiator's view at that moment (clients are outside
// the snapshot); the channels it records are the directed channels between members, identified by
// node id as the consistent-cut checker sees them.
//
// The marker rules (both variants):
//
//   - The initiator records its local state (every bucket copy it holds, entries with versions and
//     tombstones, and the replicated writes it has received but not yet applied), emits
//     snapshot-local, and sends a SnapshotMarker to every other member before sending anything else
//     on those channels (all of it happens within one step, so nothing can slip in between).
//   - A member that receives its first marker does the same, and records the channel that marker
//     came on as empty.
//   - After recording, a member records every message arriving on each other incoming channel from
//     a member (whatever its type: heartbeats and acknowledgements are messages of the cut too,
//     markers of any snapshot are not) with a snapshot-channel event whose Cause is the message's
//     delivery, until that channel's marker arrives (snapshot-marker).
//   - Once every incoming channel is closed, the member sends its recorded copies and the entries of
//     the replicated writes that were part of its state without being applied (queued at the cut,
//     or recorded in flight) to the initiator in a SnapshotReport.
//
// The result. When every member has reported, the initiator emits snapshot-complete and returns the
// snapshot as a client operation of its own: op-invoke when StartSnapshot arrived and op-return
// (status ok, value = the JSON object of every live key's value) on completion, with client = the
// initiator's node id and seq = incarnation × 1,000,000 + the number of snapshots this incarnation
// has been asked for (so a restarted initiator never reuses one). The value is computed as follows:
// for each key, the entry with the newest version among (a) the entries of every initialized copy
// recorded by any member, and (b) the entries of every replicated write recorded as queued or in
// flight; a key whose newest entry is a tombstone is absent. When the cut is consistent this is
// exactly each bucket's primary's recorded state with the replicated writes in flight to it
// applied: a holder only ever holds versions its primary wrote before sending them, and a primary's
// recorded state includes every write it sent inside the cut. Taking the newest version everywhere
// rather than reading the primary alone also keeps the result right while a new primary is still
// collecting the holders' states (it merges them by the same rule). As a guard, completion
// requires that, for every bucket the initiator's view does not list as lost, some member recorded
// itself as the bucket's primary; otherwise the snapshot is aborted rather than returned.
//
// The flush variant (SnapshotFlush) first sends SnapshotHold to every member. A member then holds
// every new client write to a bucket it serves (gets are still answered: the store does not change
// while it holds) and, once none of its writes is in progress (every one acknowledged by every
// recipient or failed), answers SnapshotHoldReady. When every member is ready, the initiator runs
// the marker algorithm above; on completion it sends SnapshotRelease and members serve the held
// writes. Between the last SnapshotHoldReady and the first release no member applies a client
// write, so the recorded state is the store's state at any moment of that interval, which lies
// inside the snapshot operation: the snapshot is linearizable. A new primary that finishes its
// synchronization releases the writes held for it by the synchronization itself; a member notices
// that a write was served while it held (its bucket version clocks moved between ready and its cut)
// and reports Broken, and the initiator aborts instead of returning a snapshot that is not a quiet
// point.
//
// Failures and concurrency. A snapshot is aborted (snapshot-aborted, op-return with status fail,
// SnapshotRelease with Aborted to every member) when the initiator's view changes membership
// before completion (a member left, or one joined: the new member would be outside the snapshot),
// when a member refuses or reports Broken, when the guard above fails, and when StartSnapshot is
// invalid (empty or reused ID, unknown variant or mutant, initiator not in a view). A member drops
// its part, emitting snapshot-abandoned and releasing its held writes, when a member of the snapshot
// (the initiator included) leaves its view, when it is released, or when it is disconnected; so no
// member waits for a marker or holds writes forever, and no snapshot is returned without every
// member's report. A restarted server that a view already lists but that has not installed a view
// yet takes part all the same (it holds nothing; it must record and send its markers, or the others
// would wait for them). Several snapshots may run at once, each with its own ID (two initiators
// that pick the same ID at once are refused by the members that know the other, which aborts
// both); each records its own channels, and holds nest (a write is held while any flush snapshot
// holds). A member remembers the IDs whose part ended, so late messages of an ended snapshot are
// ignored.

// EventSnapshotAbandoned: a member dropped its part in a snapshot without reporting it (attrs
// snapshot, reason). The initiator reports the snapshot's end with protocol.EventSnapshotAborted.
const EventSnapshotAbandoned = "snapshot-abandoned"

// snapshotSeqPerIncarnation spaces the snapshot operation numbers of successive incarnations of an
// initiator, so that (client, seq) stays unique in the history across restarts.
const snapshotSeqPerIncarnation = 1_000_000

// snapshotState is a server's part in every snapshot it takes part in or leads: the marker rules,
// holding writes for the flush variant, and the initiator's side. It owns the snapshot state; the
// server's buckets, view and network it reaches through srv. Its zero value, with srv set, is
// ready to use.
type snapshotState struct {
	srv   *Server
	runs  map[string]*snapshotRun  // this server's part as a member, by snapshot id
	leads map[string]*snapshotLead // snapshots this server initiated and has not ended, by id
	ended map[string]Member        // ids whose part ended here, and their initiators (late messages are ignored)
	held  []heldRequest            // client writes held by flush snapshots, in arrival order
	asked uint64                   // StartSnapshot requests this incarnation received
}

// snapshotDef is what defines a snapshot for every member: it travels in SnapshotHold and
// SnapshotMarker.
type snapshotDef struct {
	id        string
	initiator Member
	members   []Member      // sorted
	view      ConfigVersion // the initiator's view the members come from
	variant   SnapshotVariant
	mutant    SnapshotMutant
}

// snapshotRun is one member's part in one snapshot.
type snapshotRun struct {
	snapshotDef
	memberIDs map[protocol.NodeID]bool

	// Flush variant: holding new client writes; ready sent once drained, with the bucket version
	// clocks at that moment (a change by the cut means a write was served while holding).
	holding   bool
	readySent bool
	clocks    []Version

	recorded bool
	markers  map[protocol.NodeID]bool // incoming channels whose marker arrived
	reported bool
	broken   bool
	copies   []SnapshotCopy
	writes   []Entry
}

// snapshotLead is the initiator's side of one snapshot.
type snapshotLead struct {
	snapshotDef
	seq       uint64
	lost      []bool // per bucket, lost in the initiator's view at the start
	ready     map[Member]bool
	reports   map[Member]*SnapshotReport
	recording bool // the marker algorithm has started
}

func (st *snapshotState) active() bool { return len(st.runs) > 0 || len(st.leads) > 0 }

func (st *snapshotState) known(id string) bool {
	_, ended := st.ended[id]
	return st.runs[id] != nil || st.leads[id] != nil || ended
}

// initiatorOf returns the initiator of a snapshot this server takes or took part in.
func (st *snapshotState) initiatorOf(id string) (Member, bool) {
	if r := st.runs[id]; r != nil {
		return r.initiator, true
	}
	m, ok := st.ended[id]
	return m, ok
}

func (st *snapshotState) holding() bool {
	for _, r := range st.runs {
		if r.holding {
			return true
		}
	}
	return false
}

// ActiveSnapshots lists, sorted, the IDs of the snapshots this server currently takes part in or
// leads. After a run quiesces it is empty: no snapshot hangs.
func (s *Server) ActiveSnapshots() []string {
	set := map[string]bool{}
	for id := range s.snap.runs {
		set[id] = true
	}
	for id := range s.snap.leads {
		set[id] = true
	}
	return sortedStrings(set)
}

// HeldSnapshotWrites is the number of client writes this server holds for flush snapshots.
func (s *Server) HeldSnapshotWrites() int { return len(s.snap.held) }

// onStartSnapshot begins a snapshot with this server as its initiator.
func (st *snapshotState) onStartSnapshot(m *StartSnapshot) {
	st.asked++
	seq := uint64(st.srv.self.Inc)*snapshotSeqPerIncarnation + st.asked
	st.srv.emit(protocol.EventOpInvoke, a("client", st.srv.self.ID), a("seq", seq), a("op", protocol.OpSnapshot))
	reject := ""
	switch {
	case m.ID == "":
		reject = "empty snapshot id"
	case !m.Variant.valid():
		reject = "unknown variant " + m.Variant.String()
	case !m.Mutant.valid():
		reject = "unknown mutant " + m.Mutant.String()
	case !st.srv.joined:
		reject = "initiator is not in a view"
	case st.known(m.ID):
		reject = "snapshot id already used"
	}
	if reject != "" {
		st.srv.drops.Invalid++
		st.srv.emit(protocol.EventSnapshotAborted, a("snapshot", m.ID), a("reason", reject))
		st.srv.emit(protocol.EventOpReturn, a("client", st.srv.self.ID), a("seq", seq), a("status", protocol.StatusFail))
		return
	}
	members := append([]Member(nil), st.srv.view.Members...)
	sortMembers(members)
	lead := &snapshotLead{
		snapshotDef: snapshotDef{id: m.ID, initiator: st.srv.self, members: members, view: st.srv.view.Version, variant: m.Variant, mutant: m.Mutant},
		seq:         seq, ready: map[Member]bool{}, reports: map[Member]*SnapshotReport{},
	}
	for i := range st.srv.view.Buckets {
		lead.lost = append(lead.lost, st.srv.view.Buckets[i].Lost)
	}
	if st.leads == nil {
		st.leads = map[string]*snapshotLead{}
	}
	st.leads[m.ID] = lead
	if m.Variant == SnapshotFlush {
		for _, to := range members {
			st.srv.send(to, &SnapshotHold{Hdr: st.srv.hdr(to), ID: m.ID, Initiator: st.srv.self, Members: members, View: lead.view, Mutant: m.Mutant})
		}
		return
	}
	st.startRecording(lead)
}

// startRecording runs the marker algorithm from the initiator: it records its own state and sends
// its markers.
func (st *snapshotState) startRecording(lead *snapshotLead) {
	lead.recording = true
	run := st.runs[lead.id]
	if run == nil {
		run = st.joinSnapshot(lead.snapshotDef)
	}
	if run == nil {
		// The initiator's own part ended before the markers (it abandoned it): nothing to record.
		st.abortSnapshot(lead, "the initiator's own part ended before recording")
		return
	}
	st.recordLocalState(run)
	st.reportIfClosed(run)
}

// joinSnapshot creates this server's part in a snapshot, or returns nil if it must not take part
// (an ended ID, or a member list without this incarnation).
func (st *snapshotState) joinSnapshot(def snapshotDef) *snapshotRun {
	if _, taken := st.initiatorOf(def.id); taken {
		return nil
	}
	run := &snapshotRun{snapshotDef: def, memberIDs: map[protocol.NodeID]bool{}, markers: map[protocol.NodeID]bool{}}
	self := false
	for _, m := range def.members {
		run.memberIDs[m.ID] = true
		self = self || m == st.srv.self
	}
	if !self {
		return nil
	}
	if st.runs == nil {
		st.runs = map[string]*snapshotRun{}
	}
	st.runs[def.id] = run
	return run
}

// recordLocalState records this member's state at its cut point and sends its markers, all in one
// step, so that no message leaves on a member channel between the recording and the marker.
func (st *snapshotState) recordLocalState(run *snapshotRun) {
	run.recorded = true
	for i, b := range st.srv.buckets {
		if b == nil {
			continue
		}
		run.copies = append(run.copies, SnapshotCopy{Bucket: i, Primary: b.role != roleFollower,
			Initialized: b.initialized, Epoch: b.epoch, Entries: b.sortedEntries()})
	}
	for _, in := range st.srv.applyQueue {
		run.writes = append(run.writes, in.msg.Entries...)
	}
	if run.clocks != nil && !slices.Equal(run.clocks, st.bucketClocks()) {
		run.broken = true
	}
	st.srv.emit(protocol.EventSnapshotLocal, a("snapshot", run.id), a("state", describeRecordedState(run.copies, len(run.writes))))
	for _, to := range run.members {
		if to != st.srv.self {
			st.srv.send(to, &SnapshotMarker{Hdr: st.srv.hdr(to), ID: run.id, Initiator: run.initiator, Members: run.members,
				View: run.view, Variant: run.variant, Mutant: run.mutant})
		}
	}
}

// describeRecordedState renders a member's recorded copies for the snapshot-local event, e.g.
// `b0 primary e1 [k1="c0-1;"@1.1@s0] | b1 copy e1 [] | 0 queued writes`.
func describeRecordedState(copies []SnapshotCopy, queued int) string {
	var b strings.Builder
	for _, c := range copies {
		role := "copy"
		if c.Primary {
			role = "primary"
		}
		if !c.Initialized {
			role += " uninitialized"
		}
		parts := make([]string, len(c.Entries))
		for i, e := range c.Entries {
			parts[i] = e.String()
		}
		fmt.Fprintf(&b, "b%d %s e%d [%s] | ", c.Bucket, role, c.Epoch, strings.Join(parts, " "))
	}
	fmt.Fprintf(&b, "%d queued writes", queued)
	return b.String()
}

// recordSnapshotChannels is called for every message delivered to this server, before it is
// handled: a message from another member on a channel that a snapshot is recording becomes part of
// that channel's state.
func (st *snapshotState) recordSnapshotChannels(from protocol.NodeID, m protocol.Message) {
	if len(st.runs) == 0 || from == st.srv.self.ID || st.srv.stopped || !IsServer(st.srv.cfg, from) {
		return
	}
	if _, marker := m.(*SnapshotMarker); marker {
		return // markers are the algorithm's own signals, never channel state
	}
	for _, id := range sortedStrings(st.runs) {
		run := st.runs[id]
		if !run.recording(from) {
			continue
		}
		st.srv.emit(protocol.EventSnapshotChannel, a("snapshot", id), a("from", from), a("message", m.Type()))
		if r, ok := m.(*Replicate); ok {
			run.writes = append(run.writes, r.Entries...)
		}
	}
}

// recording reports whether the channel from the given node is being recorded.
func (r *snapshotRun) recording(from protocol.NodeID) bool {
	if !r.recorded || r.reported || !r.memberIDs[from] {
		return false
	}
	if r.mutant == RecordAfterMarker {
		return true // the bug: a channel stays open after its marker, until the last one arrives
	}
	return !r.markers[from]
}

// onSnapshotMessage handles the snapshot algorithm's server-to-server messages.
func (st *snapshotState) onSnapshotMessage(from Member, m snapshotMessage) {
	switch msg := m.(type) {
	case *SnapshotMarker:
		st.onSnapshotMarker(from, msg)
	case *SnapshotHold:
		st.onSnapshotHold(from, msg)
	case *SnapshotHoldReady:
		st.onSnapshotHoldReady(from, msg)
	case *SnapshotReport:
		st.onSnapshotReport(from, msg)
	case *SnapshotRelease:
		st.onSnapshotRelease(from, msg)
	default:
		st.srv.drops.Invalid++
	}
}

func (st *snapshotState) onSnapshotMarker(from Member, m *SnapshotMarker) {
	if initiator, taken := st.initiatorOf(m.ID); taken && initiator != m.Initiator {
		st.refuseSnapshot(m.ID, m.Initiator)
		return
	}
	run := st.runs[m.ID]
	if run == nil {
		if _, ended := st.ended[m.ID]; ended {
			return // a late marker of a part that ended here
		}
		def := snapshotDef{id: m.ID, initiator: m.Initiator, members: m.Members, view: m.View, variant: m.Variant, mutant: m.Mutant}
		if run = st.joinSnapshot(def); run == nil {
			st.srv.drops.Invalid++ // a member list without this incarnation
			return
		}
	}
	if !run.recorded {
		// The first marker: record now; the channel it came on is recorded as empty.
		st.recordLocalState(run)
	}
	if run.markers[from.ID] || !run.memberIDs[from.ID] {
		return // a duplicated delivery, or a marker from outside the snapshot
	}
	run.markers[from.ID] = true
	st.srv.emit(protocol.EventSnapshotMarker, a("snapshot", run.id), a("from", from.ID))
	st.reportIfClosed(run)
}

// refuseSnapshot tells an initiator that this member will not take part in its snapshot: the ID
// is already used here by another initiator's snapshot.
func (st *snapshotState) refuseSnapshot(id string, initiator Member) {
	st.srv.drops.Invalid++
	st.srv.send(initiator, &SnapshotReport{Hdr: st.srv.hdr(initiator), ID: id, Refused: true})
}

// reportIfClosed sends the member's part to the initiator once every incoming member channel is
// closed.
func (st *snapshotState) reportIfClosed(run *snapshotRun) {
	if !run.recorded || run.reported {
		return
	}
	for _, m := range run.members {
		if m != st.srv.self && !run.markers[m.ID] {
			return
		}
	}
	run.reported = true
	st.srv.send(run.initiator, &SnapshotReport{Hdr: st.srv.hdr(run.initiator), ID: run.id, Copies: run.copies, Writes: run.writes, Broken: run.broken})
	if run.variant == SnapshotPlain {
		st.endRun(run) // nothing left to do here; a flush member holds writes until released
	}
}

func (st *snapshotState) onSnapshotHold(from Member, m *SnapshotHold) {
	if from != m.Initiator {
		st.srv.drops.Invalid++
		return
	}
	if initiator, taken := st.initiatorOf(m.ID); taken {
		if initiator != m.Initiator {
			st.refuseSnapshot(m.ID, m.Initiator)
		}
		return // otherwise a duplicated delivery, or a late one of a part that ended
	}
	run := st.joinSnapshot(snapshotDef{id: m.ID, initiator: m.Initiator, members: m.Members, view: m.View, variant: SnapshotFlush, mutant: m.Mutant})
	if run == nil {
		st.srv.drops.Invalid++ // a member list without this incarnation
		return
	}
	run.holding = true // settleSnapshots answers ready once nothing is in progress
}

func (st *snapshotState) onSnapshotHoldReady(from Member, m *SnapshotHoldReady) {
	lead := st.leads[m.ID]
	if lead == nil || lead.recording || !lead.isMember(from) {
		return
	}
	lead.ready[from] = true
	if len(lead.ready) == len(lead.members) {
		st.startRecording(lead)
	}
}

func (st *snapshotState) onSnapshotReport(from Member, m *SnapshotReport) {
	lead := st.leads[m.ID]
	if lead == nil || !lead.isMember(from) {
		return
	}
	switch {
	case m.Refused:
		st.abortSnapshot(lead, fmt.Sprintf("member %s refused: the id is in use by another initiator", from))
		return
	case m.Broken:
		st.abortSnapshot(lead, fmt.Sprintf("member %s served a client write while holding", from))
		return
	}
	lead.reports[from] = m
	if len(lead.reports) == len(lead.members) {
		st.completeSnapshot(lead)
	}
}

func (st *snapshotState) onSnapshotRelease(from Member, m *SnapshotRelease) {
	run := st.runs[m.ID]
	if run == nil || from != run.initiator {
		return
	}
	if m.Aborted && !run.reported {
		st.srv.emit(EventSnapshotAbandoned, a("snapshot", run.id), a("reason", "aborted by the initiator"))
	}
	st.endRun(run)
}

func (l *snapshotLead) isMember(m Member) bool {
	for _, x := range l.members {
		if x == m {
			return true
		}
	}
	return false
}

// completeSnapshot computes the result from every member's report and returns it.
func (st *snapshotState) completeSnapshot(lead *snapshotLead) {
	primaries := map[int]bool{}
	newest := map[string]Entry{}
	take := func(e Entry) {
		if cur, ok := newest[e.Key]; !ok || e.Version.Compare(cur.Version) > 0 {
			newest[e.Key] = e
		}
	}
	for _, m := range lead.members {
		r := lead.reports[m]
		for _, c := range r.Copies {
			if !c.Initialized {
				continue
			}
			if c.Primary {
				primaries[c.Bucket] = true
			}
			for _, e := range c.Entries {
				take(e)
			}
		}
		for _, e := range r.Writes {
			take(e)
		}
	}
	for i, lost := range lead.lost {
		if !lost && !primaries[i] {
			st.abortSnapshot(lead, fmt.Sprintf("no member recorded itself as primary of bucket %d", i))
			return
		}
	}
	content := map[string]string{}
	for k, e := range newest {
		if !e.Tombstone {
			content[k] = e.Value
		}
	}
	value, err := json.Marshal(content) // sorted keys: deterministic
	if err != nil {
		panic(fmt.Sprintf("kv: snapshot content does not marshal: %v", err))
	}
	ids := make([]string, len(lead.members))
	for i, m := range lead.members {
		ids[i] = strconv.Itoa(int(m.ID))
	}
	st.srv.emit(protocol.EventSnapshotComplete, a("snapshot", lead.id), a("members", strings.Join(ids, ",")),
		a("variant", lead.variant), a("keys", len(content)))
	st.srv.emit(protocol.EventOpReturn, a("client", st.srv.self.ID), a("seq", lead.seq), a("status", protocol.StatusOK), a("value", string(value)))
	st.endLead(lead, lead.variant == SnapshotFlush, false)
}

// abortSnapshot ends a snapshot this server leads without a result.
func (st *snapshotState) abortSnapshot(lead *snapshotLead, reason string) {
	st.srv.emit(protocol.EventSnapshotAborted, a("snapshot", lead.id), a("reason", reason))
	st.srv.emit(protocol.EventOpReturn, a("client", st.srv.self.ID), a("seq", lead.seq), a("status", protocol.StatusFail))
	st.endLead(lead, true, true)
}

// endLead forgets a led snapshot and, when asked, releases its members.
func (st *snapshotState) endLead(lead *snapshotLead, release, aborted bool) {
	delete(st.leads, lead.id)
	if !release || st.srv.stopped {
		return
	}
	for _, to := range lead.members {
		if to == st.srv.self {
			if run := st.runs[lead.id]; run != nil {
				st.endRun(run) // the initiator's own part: its end is the lead's, already reported
			}
			continue
		}
		st.srv.send(to, &SnapshotRelease{Hdr: st.srv.hdr(to), ID: lead.id, Aborted: aborted})
	}
}

// endRun forgets this member's part and, if it was the last to hold writes, serves them.
func (st *snapshotState) endRun(run *snapshotRun) {
	delete(st.runs, run.id)
	if st.ended == nil {
		st.ended = map[string]Member{}
	}
	st.ended[run.id] = run.initiator
	if !run.holding || st.holding() {
		return
	}
	held := st.held
	st.held = nil
	if st.srv.stopped {
		return
	}
	for _, h := range held {
		st.srv.onClientRequest(h.client, h.req)
	}
}

// abandonRun drops this member's part without reporting it.
func (st *snapshotState) abandonRun(run *snapshotRun, reason string) {
	st.srv.emit(EventSnapshotAbandoned, a("snapshot", run.id), a("reason", reason))
	st.endRun(run)
}

// holdForSnapshot holds a client write that this server would serve while a flush snapshot holds
// writes. It reports whether the request was held.
func (st *snapshotState) holdForSnapshot(client protocol.NodeID, m *ClientRequest) bool {
	if len(st.runs) == 0 || !st.holding() {
		return false
	}
	switch m.Op {
	case protocol.OpPut, protocol.OpDelete, protocol.OpAppend:
	default:
		return false
	}
	i := BucketOf(m.Key, st.srv.cfg.Buckets)
	if b := st.srv.buckets[i]; b == nil || b.role == roleFollower {
		return false // redirected at once: a redirect has no effect
	}
	st.held = append(st.held, heldRequest{client: client, req: m})
	return true
}

// settleSnapshots runs after every step of this server: it drops parts whose members left the
// view, aborts led snapshots whose membership changed, and answers ready once a holding member has
// no write in progress.
func (st *snapshotState) settleSnapshots() {
	if !st.active() {
		return
	}
	for _, id := range sortedStrings(st.leads) {
		lead := st.leads[id]
		switch {
		case st.srv.stopped || !st.srv.joined:
			st.abortSnapshot(lead, "the initiator was disconnected")
		case !sameMemberSet(lead.members, st.srv.view.Members):
			st.abortSnapshot(lead, fmt.Sprintf("membership changed: view %s has members %s", st.srv.view.Version, st.srv.view.memberNames()))
		}
	}
	for _, id := range sortedStrings(st.runs) {
		run := st.runs[id]
		if run == nil {
			continue // ended with its lead above
		}
		if st.srv.stopped {
			st.abandonRun(run, "this member was disconnected")
			continue
		}
		// A restarted member still joining takes part (its view will list the others); once in a
		// view it watches for departures.
		if st.srv.joined {
			if gone := st.departedMember(run.members, run.view); gone.Valid() {
				st.abandonRun(run, fmt.Sprintf("member %s left the view", gone))
				continue
			}
		}
		if run.holding && !run.readySent && st.writesDrained() {
			run.readySent = true
			run.clocks = st.bucketClocks()
			st.srv.send(run.initiator, &SnapshotHoldReady{Hdr: st.srv.hdr(run.initiator), ID: run.id})
		}
	}
}

// departedMember returns a member of the list that has left the view, or noMember. A member has
// left when this server installed a view without it, when a newer incarnation of it is a member,
// or when it is absent from this server's view and that view is at least as new as the one the
// snapshot's members come from (absent from an older view, it may have joined since).
func (st *snapshotState) departedMember(members []Member, since ConfigVersion) Member {
	for _, m := range members {
		if st.srv.view.hasMember(m) {
			continue
		}
		cur, present := st.srv.view.member(m.ID)
		if st.srv.departed[m] || (present && cur.Inc > m.Inc) || st.srv.view.Version.Compare(since) >= 0 {
			return m
		}
	}
	return noMember
}

func sameMemberSet(sorted []Member, view []Member) bool {
	if len(sorted) != len(view) {
		return false
	}
	other := append([]Member(nil), view...)
	sortMembers(other)
	for i := range sorted {
		if sorted[i] != other[i] {
			return false
		}
	}
	return true
}

// writesDrained reports whether no write of this server is in progress: none counted in and not yet
// on the wire, none on the wire and not yet acknowledged by every recipient.
func (st *snapshotState) writesDrained() bool {
	for _, b := range st.srv.buckets {
		if b != nil && (len(b.outgoing) > 0 || len(b.pending) > 0) {
			return false
		}
	}
	return true
}

// bucketClocks lists, per bucket, the version clock of this server's copy (zero without one): it
// moves whenever the server, as primary, issues a version.
func (st *snapshotState) bucketClocks() []Version {
	out := make([]Version, len(st.srv.buckets))
	for i, b := range st.srv.buckets {
		if b != nil {
			out[i] = b.clock
		}
	}
	return out
}
