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

// bucketPlacement is the coordinator's part of a server: it decides, in each view it publishes,
// which member holds and which one is primary of each bucket, accepts rebalances and records
// completed copies. The membership decides who the members are; placement follows.
type bucketPlacement struct {
	srv        *Server
	rebalances []Rebalance // accepted, waiting for the bucket to be free
}

// removeMembers takes departed members out of next and reassigns what they held.
func (pl *bucketPlacement) removeMembers(next *View, gone []Member) {
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
			pl.assignPrimary(next, i)
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
func (pl *bucketPlacement) assignPrimary(next *View, i int) {
	meta := &next.Buckets[i]
	if pl.srv.cfg.Mutants.Has(PromoteUninitialized) && len(meta.Holders) > 0 {
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
	pl.declareLost(next, i)
}

// declareLost: no initialized copy of the bucket is left. Its data is gone; it is reported, and the
// bucket's operations fail from now on. Nothing pretends otherwise.
func (pl *bucketPlacement) declareLost(next *View, i int) {
	meta := &next.Buckets[i]
	if meta.Lost {
		return
	}
	meta.Lost = true
	meta.Holders = nil
	meta.Primary = noMember
	meta.MoveTarget = noMember
	pl.srv.emit(protocol.EventDataLost, a("bucket", i), a("view", next.Version))
}

// planBuckets runs on every view the coordinator publishes. It ends rebalances whose target is
// initialized (removing one old copy), then, for each bucket with no copy under creation, starts a
// pending rebalance, or else a new copy if the bucket is below its redundancy.
func (pl *bucketPlacement) planBuckets(next *View) {
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
				if len(meta.initializedHolders()) > pl.srv.cfg.Redundancy {
					pl.removeOldCopy(next, i, target)
					loads = nil
				}
			}
		}
		if meta.creating() || !meta.Primary.Valid() {
			continue
		}
		if pl.startRebalance(next, i) {
			loads = nil
			continue
		}
		if len(meta.Holders) < pl.srv.cfg.Redundancy {
			if loads == nil {
				loads = next.loads()
			}
			if target := pl.chooseTarget(next, i, loads); target.Valid() {
				pl.addCopy(next, i, target)
				loads[target]++
			}
		}
	}
}

func (pl *bucketPlacement) addCopy(next *View, i int, target Member) {
	meta := &next.Buckets[i]
	meta.Holders = append(meta.Holders, HolderMeta{Member: target, Since: next.Version})
	sortHolders(meta.Holders)
}

// chooseTarget picks the member for a new copy of bucket i, or noMember: the member holding the
// fewest copies (loads), then the lowest id.
func (pl *bucketPlacement) chooseTarget(next *View, i int, loads map[Member]int) Member {
	meta := &next.Buckets[i]
	best := noMember
	members := next.Members
	if pl.srv.cfg.Mutants.Has(RecoveryPicksDeparted) {
		members = pl.srv.view.Members // the mutant: the view before this change, departures included
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
func (pl *bucketPlacement) startRebalance(next *View, i int) bool {
	for k, r := range pl.rebalances {
		if r.Bucket != i {
			continue
		}
		pl.rebalances = append(pl.rebalances[:k], pl.rebalances[k+1:]...)
		target, ok := next.member(r.Target)
		switch {
		case !ok:
			pl.rejectRebalance(r, "target-not-member")
			return false
		case next.Buckets[i].holder(target) >= 0:
			pl.rejectRebalance(r, "target-holds-bucket")
			return false
		}
		pl.addCopy(next, i, target)
		next.Buckets[i].MoveTarget = target
		return true
	}
	return false
}

func (pl *bucketPlacement) rejectRebalance(r Rebalance, reason string) {
	pl.srv.drops.Invalid++
	pl.srv.emit(EventRebalanceRejected, a("bucket", r.Bucket), a("target", r.Target), a("reason", reason))
}

// onRebalance: an operator asks to move a copy of a bucket to a target server.
func (pl *bucketPlacement) onRebalance(from protocol.NodeID, r *Rebalance) {
	if !pl.srv.joined {
		pl.srv.drops.NotJoined++
		return
	}
	if r.Bucket < 0 || r.Bucket >= pl.srv.cfg.Buckets {
		pl.srv.drops.UnknownBucket++
		pl.srv.emit(EventRebalanceRejected, a("bucket", r.Bucket), a("target", r.Target), a("reason", "unknown-bucket"))
		return
	}
	if !IsServer(pl.srv.cfg, r.Target) {
		pl.rejectRebalance(*r, "target-not-server")
		return
	}
	switch {
	case pl.srv.gms.deferringCoordinatorWork():
		pl.srv.gms.deferredCoord = append(pl.srv.gms.deferredCoord, deferredMessage{from: from, msg: r})
	case !pl.srv.gms.IsCoordinator():
		if c := pl.srv.gms.coordinator(); c != pl.srv.self && from == protocol.External {
			pl.srv.env.Send(c.ID, r)
		}
	default:
		pl.rebalances = append(pl.rebalances, *r)
		next := pl.srv.gms.nextView()
		pl.planBuckets(next)
		if !sameBuckets(next, pl.srv.view) {
			pl.srv.gms.publish(next, nil)
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
func (g *GroupMembership) onJoin(from Member, _ *Join) {
	if g.quarantined() && g.IsCoordinator() {
		// Deferred rather than dropped: the joiner's retries are background work, and a run could
		// otherwise end before the quarantine does, with the joiner outside every view.
		g.deferredCoord = append(g.deferredCoord, deferredMessage{from: from.ID, msg: &Join{Hdr: Hdr{FromInc: from.Inc, ToInc: anyIncarnation}}})
		return
	}
	if g.takeover != nil || !g.IsCoordinator() || g.srv.view.hasMember(from) {
		return // the joiner retries until the coordinator adds it
	}
	next := g.nextView()
	var removed []Member
	if old, ok := next.member(from.ID); ok {
		if old.Inc > from.Inc {
			return
		}
		removed = append(removed, old)
		g.srv.placement.removeMembers(next, removed)
	}
	next.Members = append(next.Members, from)
	next.membersChanged()
	g.publish(next, removed)
}

// onInitialized: as a holder, mark the new copy's profile initialized (and, in the blocking
// baseline, let writes through again); as the coordinator, record the copy in the metadata.
func (pl *bucketPlacement) onInitialized(from Member, m *Initialized) {
	if b := pl.srv.buckets[m.Bucket]; b != nil {
		if p := b.profiles[from]; p != nil && p.since == m.Since {
			p.initialized = true
		}
		if b.blockedBy == from {
			pl.srv.unblock(b)
		}
	}
	switch {
	case pl.srv.gms.deferringCoordinatorWork():
		pl.srv.gms.deferredCoord = append(pl.srv.gms.deferredCoord, deferredMessage{from: from.ID, msg: m})
	case pl.srv.gms.IsCoordinator():
		pl.recordInitialized(from, m.Bucket, m.Since)
	}
}

func (pl *bucketPlacement) recordInitialized(r Member, bucket int, since ConfigVersion) {
	next := pl.srv.gms.nextView()
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
	if after := len(meta.initializedHolders()); before < pl.srv.cfg.Redundancy && after >= pl.srv.cfg.Redundancy {
		pl.srv.emit(protocol.EventRedundancyRestored, a("bucket", bucket), a("replica", r), a("copies", after))
	}
	pl.srv.gms.publish(next, nil)
}

// removeOldCopy ends a rebalance: one old copy goes; if it was primary the target takes over.
func (pl *bucketPlacement) removeOldCopy(next *View, bucket int, target Member) {
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
func (pl *bucketPlacement) onCreationFailed(from Member, m *CreationFailed) {
	switch {
	case pl.srv.gms.deferringCoordinatorWork():
		pl.srv.gms.deferredCoord = append(pl.srv.gms.deferredCoord, deferredMessage{from: from.ID, msg: m})
		return
	case !pl.srv.gms.IsCoordinator():
		return
	}
	next := pl.srv.gms.nextView()
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
		pl.declareLost(next, m.Bucket)
	}
	pl.srv.gms.publish(next, nil)
}

// rebuildBucket sets one bucket's holders, primary and epoch from the members' facts.
func (pl *bucketPlacement) rebuildBucket(next *View, i int, facts map[Member][]BucketFact) {
	meta := &next.Buckets[i]
	if meta.Lost {
		return
	}
	factOf := func(m Member) (BucketFact, bool) {
		for _, f := range facts[m] {
			if f.Bucket == i {
				return f, true
			}
		}
		return BucketFact{}, false
	}
	var holders []HolderMeta
	epoch, bestPrimary := meta.Epoch, meta.Primary
	hadHolders := len(meta.Holders) > 0
	for _, m := range next.Members {
		if f, ok := factOf(m); ok {
			holders = append(holders, HolderMeta{Member: m, Initialized: f.Initialized, Since: f.Since})
			if f.Epoch > epoch {
				epoch, bestPrimary = f.Epoch, f.Primary
			}
		} else if hi := meta.holder(m); hi >= 0 && !meta.Holders[hi].Initialized {
			// Assigned a copy it has not started yet (the view may still be on its way): keep it.
			holders = append(holders, meta.Holders[hi])
		}
	}
	sortHolders(holders)
	meta.Holders = holders
	meta.Epoch = epoch
	if f, ok := factOf(bestPrimary); ok && next.hasMember(bestPrimary) && f.Initialized && f.Primary == bestPrimary && f.Epoch == epoch {
		meta.Primary = bestPrimary
	} else {
		meta.Primary = noMember
		if len(holders) == 0 && hadHolders {
			pl.declareLost(next, i)
		} else {
			pl.assignPrimary(next, i)
		}
	}
	if meta.MoveTarget.Valid() && meta.holder(meta.MoveTarget) < 0 {
		meta.MoveTarget = noMember
	}
}
