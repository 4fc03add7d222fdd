package kv

import (
	"slices"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/dlock"
	"github.com/stateflush/stateflush/protocol/membership"
)

// Events this package emits beside those of protocol/events.go.
const (
	// EventCopyWaiting: a copy under creation has not completed after Config.CopyWarnAfter (and
	// again every period). A warning only: the copy never gives up waiting (attrs bucket, replica,
	// phase, source, waiting).
	EventCopyWaiting = "copy-waiting"
	// EventForcedDisconnect: this server learned it was removed from the view (it was suspected)
	// and stopped serving; it stays silent until restarted (attrs view).
	EventForcedDisconnect = "forced-disconnect"
	// EventTakeover: a member that suspects every older member starts taking over as coordinator
	// (attrs term, suspects).
	EventTakeover = "coordinator-takeover"
	// EventPrimaryServing: a new primary finished synchronizing the holders and serves (attrs
	// bucket, primary, epoch).
	EventPrimaryServing = "primary-serving"
	// EventRebalanceRejected: a rebalance request named an unknown bucket, a target that is not a
	// live member, or a target that already holds the bucket (attrs bucket, target, reason).
	EventRebalanceRejected = "rebalance-rejected"
	// EventBucketDropped: a server dropped its copy (removed by a rebalance, or the bucket was lost)
	// (attrs bucket, reason).
	EventBucketDropped = "bucket-dropped"
	// EventRejoin: a member whose admission no live member knows of (every other member is silent
	// and it holds no complete copy) leaves its view and asks to join again, as a joiner whose
	// coordinator died mid-join does (attrs view, reason).
	EventRejoin = "rejoin"
	// EventLapse: this server went longer without sending a heartbeat than the others need to
	// remove it (its process was paused); it stays out of service until the membership settles
	// (attrs silent_us, until, view; see lapse.go).
	EventLapse = "lapse"
	// EventNetworkPartition: a view change this server was about to publish would lose at least
	// half of the previous view's weight; it shuts its side down instead (partition.go; attrs view,
	// lost, weight, removed).
	EventNetworkPartition = "network-partition"
	// EventConnectionLost: this server's connection to a younger member broke; it has that member
	// removed from the view (connections.go; attrs member).
	EventConnectionLost = "connection-lost"
	// EventMemberFailed: a final check of a suspected member got no answer within
	// Config.FailureDetectionTimeout; every view member is told (attrs member, checked_since).
	EventMemberFailed = "member-failed"
)

// Timer kinds (protocol.TimerTag.Kind).
const (
	timerHeartbeat int32 = iota + 1
	timerJoin
	timerDistribute // Arg: write id
	timerApply
	timerImageChunk // Arg: image stream id
	timerChunkApply // Arg: bucket
	timerCopyWarn   // Arg: bucket
	timerClientThink
	timerClientTimeout // Arg: operation seq
	timerClientBackoff // Arg: operation seq
	timerFinalCheck    // Arg: the suspect's node id
)

// DropCounts counts messages a server dropped without acting on them. None of them is an error of
// the receiving server; they make bad or stale input visible.
type DropCounts struct {
	// StaleIncarnation: addressed to another incarnation of this server, or sent by an older
	// incarnation of a member this server knows.
	StaleIncarnation uint64
	// UnknownBucket: the message named a bucket outside the cluster.
	UnknownBucket uint64
	// DepartedSender: sent by a member that has left the view (its in-flight messages are void).
	DepartedSender uint64
	// NotJoined: arrived while this server was not in any view (restarted, still joining).
	NotJoined uint64
	// Quarantined: a client request that arrived while this server was out of service after a
	// lapse (lapse.go).
	Quarantined uint64
	// BrokenConnection: a bucket message from a member whose connection to this server broke and
	// which the view has not removed yet (connections.go).
	BrokenConnection uint64
	// StaleView: a partition shutdown notice from a view older than this server's (partition.go).
	StaleView uint64
	// Duplicate: a replicated write delivered a second time (by a duplicating network).
	Duplicate uint64
	// Invalid: a message of a type servers do not handle, an operation with an unknown name, or a
	// rebalance request the coordinator rejected.
	Invalid uint64
}

// Server is one incarnation of a server member. It is the store: it holds bucket copies, serves
// client operations on the buckets it is primary of and replicates writes. Its other concerns are
// parts of their own, each owning its state and reaching the store through a back pointer:
//   - gms (GroupMembership): failure detection, views, joins, takeover, the partition rule;
//   - placement (bucketPlacement): the coordinator's decisions on where copies go;
//   - flush (stateFlush): creating new copies by the state flush operation;
//   - snap (snapshotState): Chandy–Lamport snapshots;
//   - components (membership.Component): services beside the store, such as the lock service.
//
// The view a server installs, and the members that left it, stay here: every part reads them.
type Server struct {
	cfg  Config
	self Member
	env  protocol.Env
	// initial is the cluster's initial view, shared by its nodes (NewFactory).
	initial *initialViews

	joined       bool // in a view
	stopped      bool // forced disconnect: silent for the rest of this incarnation
	view         *View
	departed     map[Member]bool // members that left a view this server installed
	toldDeparted map[Member]bool // departed members this server sent its view to (admit)
	gms          GroupMembership // this server's part in the membership (group.go)
	// newestInc is, per server, the newest incarnation this server has had a message from (admit):
	// a restarted server that asks to join talks to members whose view still lists its previous
	// incarnation, and a broken connection is with the newest one (connections.go).
	newestInc []uint32

	lastHeard map[protocol.NodeID]protocol.Time
	attrBuf   []protocol.Attr // emit's reused attribute list
	placement bucketPlacement // the coordinator's decisions on where copies go (coordinator.go)

	buckets []*bucketState // nil where this server holds no copy
	held    []int          // the indices of the non-nil buckets, sorted (held.go)
	// reconcileScratch is installView's reused list of the buckets to reconcile.
	reconcileScratch []int

	// Channel counts for the flush, per peer member: content-changing messages (Replicate) put on
	// the channel to the peer, received from it, and applied (or rejected) from it.
	contentSent     map[Member]uint64
	contentReceived map[Member]uint64
	contentApplied  map[Member]uint64

	applyQueue []inboundWrite
	applyTimer protocol.TimerID
	applyArmed bool

	writes      map[uint64]*write // counted in and not yet acknowledged, by id
	nextWriteID uint64
	nextReadID  uint64 // read fences (reads.go)

	selfQueue []protocol.Message
	drops     DropCounts

	// The slabs the most frequent messages are carved from (slab.go).
	replies      slab[ClientReply]
	replicates   slab[Replicate]
	acks         slab[WriteAck]
	fences       slab[ReadFence]
	fenceReplies slab[ReadFenceReply]
	writeSlab    slab[write]       // the store's records of writes in progress
	readSlab     slab[pendingRead] // and of fenced reads
	memberPieces pieces[Member]    // their recipients

	flush stateFlush    // this server's part in creating new copies (flush.go)
	snap  snapshotState // Chandy–Lamport snapshots (snapshot.go)

	// components run on this member beside the store (the lock service, locks, when the cluster
	// has one): each hears of every view this server installs and gets its own messages and
	// timers.
	components []membership.Component
	locks      *dlock.Service
}

type deferredMessage struct {
	from protocol.NodeID
	msg  protocol.Message
}

type inboundWrite struct {
	from Member
	msg  *Replicate
}

func newServer(cfg Config, self Member) *Server {
	s := &Server{
		cfg:             cfg,
		self:            self,
		initial:         &initialViews{cfg: cfg},
		departed:        map[Member]bool{},
		toldDeparted:    map[Member]bool{},
		newestInc:       make([]uint32, cfg.Servers),
		lastHeard:       map[protocol.NodeID]protocol.Time{},
		buckets:         make([]*bucketState, cfg.Buckets),
		contentSent:     map[Member]uint64{},
		contentReceived: map[Member]uint64{},
		contentApplied:  map[Member]uint64{},
		writes:          map[uint64]*write{},
	}
	s.gms = GroupMembership{srv: s, coordHint: noMember}
	s.placement.srv = s
	s.gms.det = membership.NewDetector((*detectorHost)(s), cfg.FailureDetectionTimeout)
	s.snap.srv = s
	s.flush = stateFlush{srv: s, streams: map[uint64]*imageStream{}}
	if cfg.Locks.Enabled() {
		s.locks = dlock.NewService(cfg.Locks, self, protocol.NodeID(FirstLockClient(cfg)))
		s.components = append(s.components, s.locks)
	}
	return s
}

// Start begins the incarnation: the first incarnation starts in the initial view with its initial
// copies; a restarted server comes back empty and asks to join.
func (s *Server) Start(env protocol.Env) {
	s.enter(env)
	defer s.leave()
	if s.self.Inc > 0 {
		s.gms.sendJoin()
		return
	}
	v := s.initial.get()
	s.view = v
	s.gms.maxTerm = v.Version.Term
	s.joined = true
	s.gms.lastHeartbeatAt = env.Now()
	for _, m := range v.Members {
		s.lastHeard[m.ID] = env.Now()
	}
	for i := range v.Buckets {
		meta := &v.Buckets[i]
		if meta.holder(s.self) < 0 {
			continue
		}
		b := newBucketState(i)
		b.initialized = true
		b.since = v.Version
		b.primary, b.epoch = meta.Primary, meta.Epoch
		for _, h := range meta.Holders {
			if h.Member != s.self {
				b.setProfile(&profile{member: h.Member, initialized: true, since: h.Since, startedBefore: map[uint64]bool{}})
			}
		}
		if meta.Primary == s.self {
			b.role = roleServing
			b.clock = Version{Epoch: meta.Epoch}
		}
		s.setBucket(b)
	}
	s.emit(protocol.EventViewChange, a("view", v.Version), a("members", v.memberNames()))
	s.gms.armHeartbeat()
	s.tellComponents()
}

// tellComponents hands the components the view just installed.
func (s *Server) tellComponents() {
	for _, c := range s.components {
		c.ViewChanged(s.env, membership.View{Version: s.view.Version, Members: s.view.Members})
	}
}

// Receive handles one message.
func (s *Server) Receive(env protocol.Env, from protocol.NodeID, m protocol.Message) {
	s.enter(env)
	defer s.leave()
	s.snap.recordSnapshotChannels(from, m)
	s.dispatch(from, m)
}

// Fire handles one of this incarnation's timers.
func (s *Server) Fire(env protocol.Env, id protocol.TimerID, tag protocol.TimerTag) {
	s.enter(env)
	defer s.leave()
	if s.stopped {
		return
	}
	switch tag.Kind {
	case timerHeartbeat:
		if id == s.gms.heartbeatTimer {
			s.gms.onHeartbeatTimer()
		}
	case timerJoin:
		if id == s.gms.joinTimer && !s.joined {
			s.gms.sendJoin()
		}
	case timerDistribute:
		s.onDistributeTimer(uint64(tag.Arg))
	case timerApply:
		if id == s.applyTimer {
			s.onApplyTimer()
		}
	case timerImageChunk:
		s.flush.onImageChunkTimer(uint64(tag.Arg))
	case timerChunkApply:
		s.flush.onChunkApplyTimer(int(tag.Arg), id)
	case timerCopyWarn:
		s.flush.onCopyWarnTimer(int(tag.Arg), id)
	case timerFinalCheck:
		s.gms.det.OnFinalCheckTimer(id)
	default:
		for _, c := range s.components {
			if tag.Kind == c.TimerKind() {
				c.Fire(env, id, tag)
			}
		}
	}
}

func (s *Server) enter(env protocol.Env) {
	s.env = env
	s.gms.checkLapse()
}

// leave delivers the messages this server sent itself during the call, in order, before the call
// returns: a role that talks to itself (the coordinator that is also the new copy, the source
// answering for itself) goes through the same handlers without re-entering one.
func (s *Server) leave() {
	s.snap.settleSnapshots()
	for len(s.selfQueue) > 0 {
		m := s.selfQueue[0]
		s.selfQueue = s.selfQueue[1:]
		s.dispatch(s.self.ID, m)
		s.snap.settleSnapshots()
	}
	s.env = nil
}

// dispatch is the one place where message types meet their handlers; a later component (e.g.
// snapshots) adds its cases here.
func (s *Server) dispatch(from protocol.NodeID, m protocol.Message) {
	if s.stopped {
		return
	}
	switch msg := m.(type) {
	case *ClientRequest:
		if s.snap.holdForSnapshot(from, msg) {
			return
		}
		s.onClientRequest(from, msg)
		return
	case *StartSnapshot:
		s.snap.onStartSnapshot(msg)
		return
	case *Rebalance:
		s.placement.onRebalance(from, msg)
		return
	case *protocol.ConnectionLost:
		s.gms.onConnectionLost(msg.Peer)
		return
	}
	for _, c := range s.components {
		if c.Owns(m) {
			c.Receive(s.env, from, m)
			return
		}
	}
	sm, ok := m.(serverMessage)
	if !ok {
		s.drops.Invalid++
		return
	}
	sender, ok := s.admit(from, sm.header())
	if !ok {
		if h := sm.header(); h.ToInc != anyIncarnation && h.ToInc < s.self.Inc {
			switch early := m.(type) {
			case *ViewMsg:
				s.gms.onViewForEarlierIncarnation(early.View)
			case *TakeoverQuery:
				s.gms.onTakeoverQueryForEarlierIncarnation(sender, early)
			}
		}
		return
	}
	if bm, ok := m.(bucketMessage); ok {
		if i := bm.bucketIndex(); i < 0 || i >= s.cfg.Buckets {
			s.drops.UnknownBucket++
			return
		}
		if len(s.gms.brokenWith) > 0 && s.gms.brokenConnection(sender) {
			s.drops.BrokenConnection++
			return
		}
	}
	if sm, ok := m.(snapshotMessage); ok {
		// Also while joining: a restarted server may already be in a snapshot's member list.
		s.snap.onSnapshotMessage(sender, sm)
		return
	}
	if !s.joined {
		switch msg := m.(type) {
		case *ViewMsg:
			s.gms.onView(msg)
		case *SyncCollect:
			// A new primary waits for every holder its view lists, and that view may give this
			// server a copy before this server has installed it: outside any view it holds nothing.
			s.send(sender, &SyncState{Hdr: s.hdr(sender), Bucket: msg.Bucket, Epoch: msg.Epoch})
		case *TakeoverQuery:
			// Likewise a takeover waits for every live member of the newest view, which may admit
			// this server before it has installed that view: it answers with no view and no copies
			// (and the new coordinator's view admits it).
			s.gms.onTakeoverQuery(sender, msg)
		case *CheckRequest:
			// And a final check of a member admitted by a view it has not installed yet: it is
			// alive.
			s.gms.onCheckRequest(sender)
		default:
			s.drops.NotJoined++
		}
		return
	}
	switch msg := m.(type) {
	case *Heartbeat:
		// admit recorded that the sender is alive; a sender outside the view learns the view.
		s.gms.tellNonMember(sender)
	case *CheckReply:
		s.gms.det.HeardDuringCheck(sender)
	case *Suspect:
		s.gms.tellNonMember(sender)
		s.gms.det.OnSuspect(sender, msg.Suspect)
	case *CheckRequest:
		s.gms.onCheckRequest(sender)
	case *Verdict:
		s.gms.det.OnVerdict(sender, msg.Suspect, msg.Failed)
	case *Join:
		s.gms.onJoin(sender, msg)
	case *ViewMsg:
		s.gms.releasePromise(sender, msg.View)
		if !s.stopped { // a refused view taken up again may have disconnected it
			s.gms.onView(msg)
		}
	case *TakeoverQuery:
		s.gms.onTakeoverQuery(sender, msg)
	case *TakeoverReply:
		s.gms.onTakeoverReply(sender, msg)
	case *Initialized:
		s.placement.onInitialized(sender, msg)
	case *CreationFailed:
		s.placement.onCreationFailed(sender, msg)
	case *Announce:
		s.flush.onAnnounce(sender, msg)
	case *AnnounceReply:
		s.flush.onAnnounceReply(sender, msg)
	case *StateMarker:
		s.flush.onStateMarker(sender, msg)
	case *FlushRecord:
		s.flush.onFlushRecord(sender, msg)
	case *HolderStable:
		s.flush.onHolderStable(sender, msg)
	case *RequestImage:
		s.flush.onRequestImage(sender, msg)
	case *ImageChunk:
		s.flush.onImageChunk(sender, msg)
	case *SourceUnavailable:
		s.flush.onSourceUnavailable(sender, msg)
	case *Replicate:
		s.onReplicate(sender, msg)
	case *WriteAck:
		s.onWriteAck(sender, msg)
	case *SyncCollect:
		s.onSyncCollect(sender, msg)
	case *SyncState:
		s.onSyncState(sender, msg)
	case *PartitionShutdown:
		s.gms.onPartitionShutdown(sender, msg)
	case *EvictRequest:
		s.gms.onEvictRequest(sender, msg)
	case *ReadFence:
		s.onReadFence(sender, msg)
	case *ReadFenceReply:
		s.onReadFenceReply(sender, msg)
	default:
		s.drops.Invalid++
	}
}

// admit checks a server message's incarnations and returns the sending member. It records that
// the sender is alive.
func (s *Server) admit(from protocol.NodeID, h Hdr) (Member, bool) {
	sender := Member{ID: from, Inc: h.FromInc}
	var known Member
	isMember := false
	if from != s.self.ID && s.view != nil {
		known, isMember = s.view.member(from)
		if isMember && h.FromInc == known.Inc {
			// Alive, also when the message was addressed to an earlier incarnation of this server
			// (the sender has not learned of this one yet): silence is what failure detection
			// counts, and this is not silence.
			if s.gms.det.AnyFailed() {
				s.gms.retractFailure(known)
			}
			s.lastHeard[from] = s.env.Now()
		}
	}
	if from >= 0 && int(from) < len(s.newestInc) && from != s.self.ID && h.FromInc > s.newestInc[from] {
		s.newestInc[from] = h.FromInc // a slice: admit runs for every message
	}
	if h.ToInc != anyIncarnation && h.ToInc != s.self.Inc {
		s.drops.StaleIncarnation++
		return sender, false
	}
	if from == s.self.ID {
		return sender, true
	}
	if isMember && h.FromInc < known.Inc {
		s.drops.StaleIncarnation++
		return sender, false
	}
	if s.departed[sender] {
		s.drops.DepartedSender++
		// It may not know it left: the view removing it may never have been sent to it (the
		// coordinator crashed part-way through sending it, while it was paused). Told now, it
		// disconnects instead of taking over a view of its own. Once is enough: a member that
		// learned it left and asks to join again under the same incarnation would otherwise
		// trade joins and views with this server forever.
		if !s.toldDeparted[sender] && s.joined && IsServer(s.cfg, sender.ID) {
			s.toldDeparted[sender] = true
			s.send(sender, &ViewMsg{Hdr: s.hdr(sender), View: s.view, Departed: true})
		}
		return sender, false
	}
	if t := s.gms.takeover; t != nil && t.awaiting[sender] {
		t.heardAt[sender] = s.env.Now()
	}
	return sender, true
}

func (s *Server) hdr(to Member) Hdr { return Hdr{FromInc: s.self.Inc, ToInc: to.Inc} }

// send puts m on the channel to member to (or on the self queue).
func (s *Server) send(to Member, m serverMessage) {
	if to == s.self {
		s.selfQueue = append(s.selfQueue, m)
		return
	}
	s.env.Send(to.ID, m)
}

func (s *Server) setTimer(after protocol.Duration, kind int32, arg int64, background bool) protocol.TimerID {
	return s.env.SetTimer(after, protocol.TimerTag{Kind: kind, Arg: arg, Background: background})
}

// emit hands the event to the environment through a buffer the server reuses: passed on as they
// come, the attrs would escape through the interface call, and every event would allocate its
// list.
func (s *Server) emit(name string, attrs ...protocol.Attr) {
	s.attrBuf = append(s.attrBuf[:0], attrs...)
	s.env.Emit(name, s.attrBuf...)
}

// Self is this incarnation's member identity.
func (s *Server) Self() Member { return s.self }

// Drops returns the counts of dropped messages.
func (s *Server) Drops() DropCounts { return s.drops }

// Stopped reports a forced disconnect.
func (s *Server) Stopped() bool { return s.stopped }

// Joined reports whether the server is in a view.
func (s *Server) Joined() bool { return s.joined && !s.stopped }

// ViewVersion is the version of the installed view (zero before joining).
func (s *Server) ViewVersion() ConfigVersion {
	if s.view == nil {
		return ConfigVersion{}
	}
	return s.view.Version
}

// CreatingCopies lists the buckets whose copy this server is creating.
func (s *Server) CreatingCopies() []int {
	var out []int
	for _, c := range s.CopiesInProgress() {
		out = append(out, c.Bucket)
	}
	return out
}

// Holding is one bucket copy as held at the end of a run.
type Holding struct {
	Bucket      int
	Primary     bool
	Initialized bool
	Entries     []HoldingEntry // sorted by key, tombstones included
	Events      []EventID      // latest applied sequence number per client, sorted by client
}

// HoldingEntry is one entry of a Holding; Version is Version.String().
type HoldingEntry struct {
	Key, Value, Version string
	Tombstone           bool
}

// HoldsCopy reports whether this server holds a copy of the bucket and whether it is primary of
// it, without rendering the copy's entries as Holdings does (a nemesis asks this often).
func (s *Server) HoldsCopy(bucket int) (held, primary bool) {
	if s.stopped || bucket < 0 || bucket >= len(s.buckets) || s.buckets[bucket] == nil {
		return false, false
	}
	return true, s.buckets[bucket].role != roleFollower
}

// Holdings lists the copies this server holds, by bucket (none after a forced disconnect).
func (s *Server) Holdings() []Holding {
	if s.stopped {
		return nil
	}
	var out []Holding
	for i, b := range s.buckets {
		if b == nil {
			continue
		}
		h := Holding{Bucket: i, Primary: b.role != roleFollower, Initialized: b.initialized, Events: b.eventList()}
		for _, e := range b.sortedEntries() {
			h.Entries = append(h.Entries, HoldingEntry{Key: e.Key, Value: e.Value, Version: e.Version.String(), Tombstone: e.Tombstone})
		}
		out = append(out, h)
	}
	return out
}

func sortedMembersOf(set map[Member]bool) []Member {
	out := make([]Member, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	sortMembers(out)
	return out
}

func sortedUint64s(set map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
