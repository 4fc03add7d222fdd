package kv

import (
	"github.com/stateflush/stateflush/protocol"
)

// Coordinator decisions. Only the coordinator changes the view; every change goes through publish.
// Placement rules (deterministic):
//   - a new primary is the initialized holder with the lowest node id;
//   - a new copy goes to the live member without the bucket holding the fewest copies, then the
//     lowest node id;
//   - at most one copy of a bucket is created at a time;
//   - a rebalance removes, once its target is initialized, the old copy on the member holding the
//     most copies (then the highest node id); if that copy was primary, the target becomes primary.

// removeMembers takes departed members out of next and reassigns what they held.
func (s *Server) removeMembers(next *View, gone []Member) {
	goneSet := map[Member]bool{}
	for _, m := range gone {
		goneSet[m] = true
	}
	members := next.Members[:0]
	for _, m := range next.Members {
		if !goneSet[m] {
			members = append(members, m)
		}
	}
	next.Members = members
	next.membersChanged()
	for i := range next.Buckets {
		meta := &next.Buckets[i]
		for _, m := range gone {
			meta.removeHolder(m)
			if meta.MoveTarget == m {
				meta.MoveTarget = noMember
			}
		}
		if meta.Lost {
			continue
		}
		if goneSet[meta.Primary] {
			meta.Primary = noMember
		}
		if !meta.Primary.Valid() {
			s.assignPrimary(next, i)
		}
	}
}

// newEpoch opens a new epoch for a bucket's new primary in view next. Within a term the epochs
// count up; a term's first opens at (term-1)<<20 + 1 at least, so that no two terms ever open the
// same epoch: a coordinator that took over cannot know every epoch its predecessor opened (views
// reach only some members when their coordinator dies, and those members may die or be removed
// too), and an epoch opened twice would give two primaries the same versions. Term 1 opens epochs
// from 1, as before any takeover.
func newEpoch(next *View, meta *BucketMeta) {
	meta.Epoch = max(meta.Epoch+1, (next.Version.Term-1)<<20+1)
}

// assignPrimary gives a primaryless bucket an initialized holder as primary under a new epoch. With
// no initialized holder it waits for a copy under creation; with none, the data is lost.
func (s *Server) assignPrimary(next *View, i int) {
	meta := &next.Buckets[i]
	if s.cfg.Mutants.Has(PromoteUninitialized) && len(meta.Holders) > 0 {
		meta.Primary = meta.Holders[0].Member // the mutant: initialized or not
		newEpoch(next, meta)
		return
	}
	if inits := meta.initializedHolders(); len(inits) > 0 {
		meta.Primary = inits[0]
		newEpoch(next, meta)
		return
	}
	if meta.creating() {
		return
	}
	s.declareLost(next, i)
}

// declareLost: no initialized copy of the bucket is left. Its data is gone; it is reported, and the
// bucket's operations fail from now on. Nothing pretends otherwise.
func (s *Server) declareLost(next *View, i int) {
	meta := &next.Buckets[i]
	if meta.Lost {
		return
	}
	meta.Lost = true
	meta.Holders = nil
	meta.Primary = noMember
	meta.MoveTarget = noMember
	s.emit(protocol.EventDataLost, a("bucket", i), a("view", next.Version))
}

// planBuckets runs on every view the coordinator publishes. It ends rebalances whose target is
// initialized (removing one old copy), then, for each bucket with no copy under creation, starts a
// pending rebalance, or else a new copy if the bucket is below its redundancy.
func (s *Server) planBuckets(next *View) {
	// loads counts each member's copies, computed once (not once per candidate and bucket: that
	// made placement quadratic in the buckets) and kept up to date as copies are added; a removal
	// or a rebalance drops it, to be counted again when next needed.
	var loads map[Member]int
	for i := range next.Buckets {
		meta := &next.Buckets[i]
		if meta.Lost {
			continue
		}
		if target := meta.MoveTarget; target.Valid() {
			if hi := meta.holder(target); hi < 0 {
				meta.MoveTarget = noMember
			} else if meta.Holders[hi].Initialized {
				meta.MoveTarget = noMember
				if len(meta.initializedHolders()) > s.cfg.Redundancy {
					s.removeOldCopy(next, i, target)
					loads = nil
				}
			}
		}
		if meta.creating() || !meta.Primary.Valid() {
			continue
		}
		if s.startRebalance(next, i) {
			loads = nil
			continue
		}
		if len(meta.Holders) < s.cfg.Redundancy {
			if loads == nil {
				loads = next.loads()
			}
			if target := s.chooseTarget(next, i, loads); target.Valid() {
				s.addCopy(next, i, target)
				loads[target]++
			}
		}
	}
}

func (s *Server) addCopy(next *View, i int, target Member) {
	meta := &next.Buckets[i]
	meta.Holders = append(meta.Holders, HolderMeta{Member: target, Since: next.Version})
	sortHolders(meta.Holders)
}

// chooseTarget picks the member for a new copy of bucket i, or noMember: the member holding the
// fewest copies (loads), then the lowest id.
func (s *Server) chooseTarget(next *View, i int, loads map[Member]int) Member {
	meta := &next.Buckets[i]
	best := noMember
	members := next.Members
	if s.cfg.Mutants.Has(RecoveryPicksDeparted) {
		members = s.view.Members // the mutant: the view before this change, departures included
	}
	for _, m := range members {
		if meta.holder(m) >= 0 {
			continue
		}
		if !best.Valid() || loads[m] < loads[best] || (loads[m] == loads[best] && m.ID < best.ID) {
			best = m
		}
	}
	return best
}

// startRebalance starts the first pending rebalance of bucket i, if any can start.
func (s *Server) startRebalance(next *View, i int) bool {
	for k, r := range s.rebalances {
		if r.Bucket != i {
			continue
		}
		s.rebalances = append(s.rebalances[:k], s.rebalances[k+1:]...)
		target, ok := next.member(r.Target)
		switch {
		case !ok:
			s.rejectRebalance(r, "target-not-member")
			return false
		case next.Buckets[i].holder(target) >= 0:
			s.rejectRebalance(r, "target-holds-bucket")
			return false
		}
		s.addCopy(next, i, target)
		next.Buckets[i].MoveTarget = target
		return true
	}
	return false
}

func (s *Server) rejectRebalance(r Rebalance, reason string) {
	s.drops.Invalid++
	s.emit(EventRebalanceRejected, a("bucket", r.Bucket), a("target", r.Target), a("reason", reason))
}

// onRebalance: an operator asks to move a copy of a bucket to a target server.
func (s *Server) onRebalance(from protocol.NodeID, r *Rebalance) {
	if !s.joined {
		s.drops.NotJoined++
		return
	}
	if r.Bucket < 0 || r.Bucket >= s.cfg.Buckets {
		s.drops.UnknownBucket++
		s.emit(EventRebalanceRejected, a("bucket", r.Bucket), a("target", r.Target), a("reason", "unknown-bucket"))
		return
	}
	if !IsServer(s.cfg, r.Target) {
		s.rejectRebalance(*r, "target-not-server")
		return
	}
	switch {
	case s.gms.deferringCoordinatorWork():
		s.gms.deferredCoord = append(s.gms.deferredCoord, deferredMessage{from: from, msg: r})
	case !s.gms.isCoordinator():
		if c := s.gms.coordinator(); c != s.self && from == protocol.External {
			s.env.Send(c.ID, r)
		}
	default:
		s.rebalances = append(s.rebalances, *r)
		next := s.gms.nextView()
		s.planBuckets(next)
		if !sameBuckets(next, s.view) {
			s.gms.publish(next, nil)
		}
	}
}

func sameBuckets(x, y *View) bool {
	for i := range x.Buckets {
		bx, by := &x.Buckets[i], &y.Buckets[i]
		if len(bx.Holders) != len(by.Holders) || bx.Primary != by.Primary || bx.Epoch != by.Epoch || bx.Lost != by.Lost || bx.MoveTarget != by.MoveTarget {
			return false
		}
		for k := range bx.Holders {
			if bx.Holders[k] != by.Holders[k] {
				return false
			}
		}
	}
	return true
}

// onJoin: a restarted server asks to join. Its previous incarnation, if still in the view, has
// crashed: it leaves the view in the same change.
func (g *groupMembership) onJoin(from Member, _ *Join) {
	if g.quarantined() && g.isCoordinator() {
		// Deferred rather than dropped: the joiner's retries are background work, and a run could
		// otherwise end before the quarantine does, with the joiner outside every view.
		g.deferredCoord = append(g.deferredCoord, deferredMessage{from: from.ID, msg: &Join{Hdr: Hdr{FromInc: from.Inc, ToInc: anyIncarnation}}})
		return
	}
	if g.takeover != nil || !g.isCoordinator() || g.srv.view.hasMember(from) {
		return // the joiner retries until the coordinator adds it
	}
	next := g.nextView()
	var removed []Member
	if old, ok := next.member(from.ID); ok {
		if old.Inc > from.Inc {
			return
		}
		removed = append(removed, old)
		g.srv.removeMembers(next, removed)
	}
	next.Members = append(next.Members, from)
	next.membersChanged()
	g.publish(next, removed)
}

// onInitialized: as a holder, mark the new copy's profile initialized (and, in the blocking
// baseline, let writes through again); as the coordinator, record the copy in the metadata.
func (s *Server) onInitialized(from Member, m *Initialized) {
	if b := s.buckets[m.Bucket]; b != nil {
		if p := b.profiles[from]; p != nil && p.since == m.Since {
			p.initialized = true
		}
		if b.blockedBy == from {
			s.unblock(b)
		}
	}
	switch {
	case s.gms.deferringCoordinatorWork():
		s.gms.deferredCoord = append(s.gms.deferredCoord, deferredMessage{from: from.ID, msg: m})
	case s.gms.isCoordinator():
		s.recordInitialized(from, m.Bucket, m.Since)
	}
}

func (s *Server) recordInitialized(r Member, bucket int, since ConfigVersion) {
	next := s.gms.nextView()
	meta := &next.Buckets[bucket]
	hi := meta.holder(r)
	if hi < 0 || meta.Holders[hi].Initialized || meta.Holders[hi].Since != since || meta.Lost {
		return
	}
	before := len(meta.initializedHolders())
	meta.ownHolders()
	meta.Holders[hi].Initialized = true
	if !meta.Primary.Valid() {
		meta.Primary = r
		newEpoch(next, meta)
	}
	if after := len(meta.initializedHolders()); before < s.cfg.Redundancy && after >= s.cfg.Redundancy {
		s.emit(protocol.EventRedundancyRestored, a("bucket", bucket), a("replica", r), a("copies", after))
	}
	s.gms.publish(next, nil)
}

// removeOldCopy ends a rebalance: one old copy goes; if it was primary the target takes over.
func (s *Server) removeOldCopy(next *View, bucket int, target Member) {
	meta := &next.Buckets[bucket]
	victim := noMember
	for _, h := range meta.Holders {
		if h.Member == target || !h.Initialized {
			continue
		}
		if !victim.Valid() {
			victim = h.Member
			continue
		}
		lh, lv := next.holdings(h.Member), next.holdings(victim)
		if lh > lv || (lh == lv && h.Member.ID > victim.ID) {
			victim = h.Member
		}
	}
	if !victim.Valid() {
		return
	}
	meta.removeHolder(victim)
	if meta.Primary == victim {
		meta.Primary = target
		newEpoch(next, meta)
	}
}

// onCreationFailed: the new copy found no initialized source. The coordinator removes it; if no
// initialized copy is left either, the bucket is lost.
func (s *Server) onCreationFailed(from Member, m *CreationFailed) {
	switch {
	case s.gms.deferringCoordinatorWork():
		s.gms.deferredCoord = append(s.gms.deferredCoord, deferredMessage{from: from.ID, msg: m})
		return
	case !s.gms.isCoordinator():
		return
	}
	next := s.gms.nextView()
	meta := &next.Buckets[m.Bucket]
	hi := meta.holder(from)
	if hi < 0 || meta.Holders[hi].Initialized || meta.Holders[hi].Since != m.Since || meta.Lost {
		return
	}
	meta.removeHolder(from)
	if meta.MoveTarget == from {
		meta.MoveTarget = noMember
	}
	if len(meta.initializedHolders()) == 0 {
		s.declareLost(next, m.Bucket)
	}
	s.gms.publish(next, nil)
}
