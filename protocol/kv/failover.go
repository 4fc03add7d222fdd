package kv

import "github.com/stateflush/stateflush/protocol"

// Primary failover. A copy assigned primary under a new epoch does not serve until every live holder
// agrees:
//  1. it fences itself, every holder and the previous primary (if still a member) at the new epoch
//     (SyncCollect): from then on a holder rejects writes of any older primary, whose in-flight
//     writes therefore cannot slip in later, and the previous primary stops serving;
//  2. it collects every initialized holder's entries and event-id table and keeps, per key, the
//     highest version (and per client the highest applied sequence number); copies under creation
//     are fenced but contribute nothing (a partial image lacks the event ids of its entries);
//  3. it pushes the merged state to every holder as one replicated write (so the flush counts it
//     like any write) and serves once all have applied it. Like any write, the merged state is
//     applied to its own copy only when the push goes on the wire: an image it streams meanwhile
//     must not claim events that could die with it (see writes.go).
// A write the old primary sent to only some holders before dying is thereby either everywhere or
// (if no live holder had it) nowhere; a client retry finds its event id in the merged table and is
// not applied twice. A copy under creation that is fenced at a new epoch starts its creation again.

type syncState struct {
	epoch    uint64
	awaiting memberSet
	pushing  bool
	// collected holds the holders' answers until the push is built from them.
	collected []*SyncState
}

func (s *Server) becomePrimary(b *bucketState, epoch uint64) {
	if !b.initialized && !s.cfg.Mutants.Has(PromoteUninitialized) {
		panic("kv: invariant broken: " + s.self.String() + " assigned primary of an uninitialized copy")
	}
	if b.role != roleFollower {
		s.demote(b)
	}
	previous := b.primary
	b.primary, b.epoch = s.self, epoch
	b.role = roleSyncing
	s.emit(protocol.EventPrimaryChange, a("bucket", b.index), a("primary", s.self), a("epoch", epoch))
	meta := &s.view.Buckets[b.index]
	var targets memberSet
	if previous.Valid() && previous != s.self && s.view.hasMember(previous) {
		// The previous primary may have lost its copy in this very view (a rebalance handing the
		// primary role over) and not know it yet: fence it too, or it could keep serving reads.
		targets.add(previous)
	}
	for _, h := range meta.Holders {
		if h.Member == s.self || s.departed[h.Member] {
			continue
		}
		targets.add(h.Member)
		if h.Initialized && b.profiles[h.Member] == nil {
			b.setProfile(&profile{member: h.Member, initialized: true, since: h.Since, startedBefore: map[uint64]bool{}})
		}
	}
	for m := range b.profiles {
		targets.add(m) // the set is sorted whatever the order
	}
	b.sync = &syncState{epoch: epoch, awaiting: targets}
	for _, m := range targets {
		s.send(m, &SyncCollect{Hdr: s.hdr(m), Bucket: b.index, Epoch: epoch})
	}
	s.checkCollectDone(b)
	if s.buckets[b.index] == b {
		s.flush.checkMarkerWaits(b) // a marker may have waited for this fence
	}
}

func (s *Server) onSyncCollect(from Member, m *SyncCollect) {
	b := s.buckets[m.Bucket]
	reply := &SyncState{Hdr: s.hdr(from), Bucket: m.Bucket, Epoch: m.Epoch}
	if b != nil {
		if m.Epoch > b.epoch {
			s.adoptPrimary(b, from, m.Epoch)
		}
		if b.primary == from && b.epoch == m.Epoch {
			reply.Holds = true
			if b.initialized {
				// A copy under creation sends nothing: a partial image carries entries without
				// their event ids (those come with the last chunk), and whatever else it holds is
				// at an initialized holder too or is dropped when the copy starts over.
				reply.Entries = b.sortedEntries()
				reply.Events = b.eventList()
			}
		}
	}
	s.send(from, reply)
}

func (s *Server) onSyncState(from Member, m *SyncState) {
	b := s.buckets[m.Bucket]
	if b == nil || b.sync == nil || b.sync.pushing || m.Epoch != b.sync.epoch || !b.sync.awaiting.has(from) {
		return
	}
	b.sync.awaiting.remove(from)
	b.sync.collected = append(b.sync.collected, m)
	s.checkCollectDone(b)
}

// checkCollectDone starts the push once every holder answered or left: this copy's state merged
// with every answer (per key the highest version, per client the highest sequence number). New
// versions must order after everything collected, whatever epoch wrote it.
func (s *Server) checkCollectDone(b *bucketState) {
	sy := b.sync
	if sy == nil || sy.pushing || len(sy.awaiting) > 0 {
		return
	}
	sy.pushing = true
	merged := newBucketState(b.index)
	for _, e := range b.sortedEntries() {
		merged.set(e)
	}
	merged.mergeEvents(b.eventList())
	for _, m := range sy.collected {
		if !s.cfg.Mutants.Has(MergeKeepsOwn) {
			for _, e := range m.Entries {
				merged.applyNewer(e)
			}
		}
		merged.mergeEvents(m.Events)
	}
	if s.cfg.Mutants.Has(NoDedupeFailover) {
		// The mutant: the new epoch starts with no record of what was applied before it.
		merged.events = map[protocol.NodeID]uint64{}
		b.events = map[protocol.NodeID]uint64{}
	}
	sy.collected = nil
	b.clock = Version{Epoch: b.epoch}
	if max := merged.maxVersion(); max.Compare(b.clock) > 0 {
		b.clock = Version{Epoch: max.Epoch, Counter: max.Counter}
	}
	w := s.newWrite(b, merged.sortedEntries(), merged.eventList(), true)
	s.distribute(b, w)
}

func (s *Server) syncPushDone(b *bucketState, w *write) {
	if b.sync == nil || w.epoch != b.sync.epoch || w.failed || b.role != roleSyncing {
		return
	}
	b.sync = nil
	b.role = roleServing
	s.emit(EventPrimaryServing, a("bucket", b.index), a("primary", s.self), a("epoch", b.epoch))
	s.releaseHeld(b)
}
