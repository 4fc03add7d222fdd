package kv

import (
	"strings"

	"github.com/stateflush/stateflush/protocol"
)

// Membership: acting on failures (the detector is membership.Detector, driven from detector.go), views, joins, forced disconnect
// and coordinator takeover. The coordinator is the oldest member of the view (Members[0]).

type takeoverState struct {
	term      uint64
	startedAt protocol.Time
	awaiting  map[Member]bool
	heardAt   map[Member]protocol.Time // when an awaited member was last heard from
	replies   map[Member]*TakeoverReply
	suspected map[Member]bool
}

// actOnFailures acts on the members the failure detector found failed (membership.Detector): the
// coordinator removes them; a member that finds every older member failed takes over as
// coordinator.
func (g *GroupMembership) actOnFailures() {
	if !g.srv.joined || g.srv.stopped || g.quarantined() {
		return
	}
	suspects := g.det.FailedInView()
	for _, m := range g.evictedInView() {
		if !containsMember(suspects, m) {
			suspects = append(suspects, m)
		}
	}
	if g.takeover != nil {
		g.takeoverSuspects(suspects)
		return
	}
	if g.IsCoordinator() {
		if len(suspects) > 0 && !g.confirmingRemoval(suspects) {
			// The rule first: a side that shuts down must not declare data lost on the way.
			if g.partitionShutdown(g.srv.view, suspects, false) {
				return
			}
			next := g.nextView()
			g.srv.placement.removeMembers(next, suspects)
			g.publish(next, suspects)
		}
		return
	}
	rank := g.srv.view.rank(g.srv.self)
	if rank <= 0 {
		return
	}
	for _, older := range g.srv.view.Members[:rank] {
		if !g.det.IsFailed(older) {
			return
		}
	}
	if g.verifyingOlderVerdicts(g.srv.view.Members[:rank]) {
		return
	}
	if len(suspects) == len(g.srv.view.Members)-1 && len(g.srv.InitializedBuckets()) == 0 {
		// Every other member is silent and this server holds no complete copy. Most likely its
		// admission died with the coordinator that granted it, and the others are not silent but
		// unaware of it; taking over alone would declare every bucket lost while their copies live.
		// A server with no data has nothing to keep serving, so it asks to join again instead.
		g.rejoin("every other member is silent and it holds no complete copy")
		return
	}
	g.startTakeover(suspects)
}

func (g *GroupMembership) sendJoin() {
	for id := 0; id < g.srv.cfg.Servers; id++ {
		if protocol.NodeID(id) != g.srv.self.ID {
			g.srv.env.Send(protocol.NodeID(id), &Join{Hdr: Hdr{FromInc: g.srv.self.Inc, ToInc: anyIncarnation}})
		}
	}
	// Background: a join that nobody can answer (every other server is down) must not keep a run
	// from ending.
	g.joinTimer = g.srv.setTimer(g.srv.cfg.JoinRetryInterval, timerJoin, 0, true)
}

// installView adopts a newer view and reconciles every bucket with it.
func (s *Server) installView(v *View) {
	if s.view != nil && v.Version.Compare(s.view.Version) <= 0 {
		return
	}
	if v.Version.Term > s.gms.maxTerm {
		s.gms.maxTerm = v.Version.Term
	}
	if !v.hasMember(s.self) {
		if s.joined {
			s.gms.leftOut(v, "a newer view removed it")
		} else {
			s.gms.askViewToAdmit(v)
		}
		return
	}
	old := s.view
	s.view = v
	now := s.env.Now()
	if !s.joined {
		s.joined = true
		s.gms.lastHeartbeatAt = now
		s.env.CancelTimer(s.gms.joinTimer)
		for _, m := range v.Members {
			s.lastHeard[m.ID] = now
		}
		s.gms.armHeartbeat()
	}
	if old != nil {
		for _, m := range old.Members {
			if !v.hasMember(m) {
				s.departed[m] = true
			}
		}
		for _, m := range v.Members {
			if !old.hasMember(m) {
				s.lastHeard[m.ID] = now
			}
		}
	}
	s.gms.det.ForgetDeparted()
	if s.gms.takeover != nil && v.Version.Term >= s.gms.takeover.term {
		// Another member completed a takeover of at least our term: follow it.
		s.gms.takeover = nil
	}
	if c := v.coordinator(); s.gms.takeover != nil && c != s.self && !s.gms.det.IsFailed(c) && s.lastHeard[c.ID] > s.gms.takeover.startedAt {
		// The coordinator it suspected has been heard from since the takeover began (it was
		// paused, not dead) and still publishes views: taking over would remove a live
		// coordinator and the members it admitted meanwhile.
		s.gms.abandonTakeover()
	}
	s.emit(protocol.EventViewChange, a("view", v.Version), a("members", v.memberNames()))
	departures := old == nil
	if old != nil {
		for _, m := range old.Members {
			if !v.hasMember(m) {
				departures = true
				break
			}
		}
	}
	// Only the copies it holds and the buckets the view lists it for can change: a bucket it
	// neither holds nor is listed for reconciles to nothing.
	// The list is taken from the server while in use: reconciling may publish a view (the
	// coordinator's own copy completing), which installs it in a nested call.
	visit := mergeSorted(s.reconcileScratch[:0], s.held, v.installedBucketsOf(s.self.ID))
	s.reconcileScratch = nil
	for _, i := range visit {
		if !departures && s.buckets[i] != nil && reconciled(old, v, i, s.buckets[i], s.self) {
			continue
		}
		s.reconcileBucket(i)
	}
	s.reconcileScratch = visit
	for _, i := range s.held {
		if b := s.buckets[i]; len(b.markerWaits) > 0 {
			s.flush.checkMarkerWaits(b) // a source's answer may wait for this view (StateMarker.View)
		}
	}
	s.retellInitialized(v)
	if s.gms.IsCoordinator() {
		s.gms.runDeferredCoordinatorWork()
	}
	if s.view == v {
		s.tellComponents()
	}
}

// retellInitialized tells a new coordinator of the copies this server completed that its view
// still lists as uninitialized: the Initialized message went to the coordinator of the time (a
// member taking over, perhaps, that gave up or died), and without it the copy would stay
// uninitialized in every view, its bucket short of a copy forever.
func (s *Server) retellInitialized(v *View) {
	c := v.coordinator()
	if c == s.self {
		return
	}
	for _, i := range s.held {
		b := s.buckets[i]
		if !b.initialized || b.toldInitialized == c {
			continue
		}
		if hi := v.Buckets[b.index].holder(s.self); hi >= 0 && !v.Buckets[b.index].Holders[hi].Initialized && v.Buckets[b.index].Holders[hi].Since == b.since {
			b.toldInitialized = c
			s.send(c, &Initialized{Hdr: s.hdr(c), Bucket: b.index, Since: b.since})
		}
	}
}

// onView handles a view sent to this server. One from a member that holds this incarnation
// departed ends it: that member drops whatever it sends, joins included, so asking to join again
// under this incarnation would wait forever (a removal it never learned of, or one it learned of and
// answered by rejoining, as leftOut does when it holds no complete copy); it disconnects, and a
// service manager brings it back as a new incarnation.
func (g *GroupMembership) onView(m *ViewMsg) {
	if g.promisedNewerTerm(m.View) {
		g.srv.drops.StaleView++
		g.refusedViews = append(g.refusedViews, m)
		return
	}
	if m.Departed && !m.View.hasMember(g.srv.self) && !g.srv.stopped {
		g.forcedDisconnect(m.View, "a member holds it departed")
		return
	}
	g.srv.installView(m.View)
}

// forcedDisconnect: this server learned it was removed from the view (it was suspected, wrongly or
// not). It stops serving at once and stays silent: it sends nothing and handles nothing until a
// restart brings it back as a new member. Anything it would say could contradict the view the
// others act on.
func (g *GroupMembership) forcedDisconnect(v *View, reason string) {
	g.srv.stopped = true
	g.srv.emit(EventForcedDisconnect, a("view", v.Version), a("reason", reason))
}

// leftOut: a newer view does not list this member. Holding a complete copy, it disconnects (its
// copies must not contradict the view the others act on); holding none, it has nothing whose state
// could contradict the view, and asks to join again, as GemFire's members reconnect after a forced
// disconnect.
func (g *GroupMembership) leftOut(v *View, reason string) {
	if len(g.srv.InitializedBuckets()) == 0 {
		g.rejoin(reason + " and it holds no complete copy")
		return
	}
	g.forcedDisconnect(v, reason)
}

// rejoin leaves the view this server installed and asks to join again, keeping its incarnation.
// It is for a member that no live member knows of: its admission reached only members that died
// since. It holds no complete copy (the caller checks), so the copies it drops are copies in
// progress, which the view that admits it again will assign afresh. It forgets the view too: the
// view that admits it again is the next one it installs, whatever its version.
func (g *GroupMembership) rejoin(reason string) {
	g.srv.emit(EventRejoin, a("view", g.srv.view.Version), a("reason", reason))
	for _, b := range g.srv.heldBuckets() {
		g.srv.dropBucket(b, "rejoin")
	}
	g.srv.env.CancelTimer(g.heartbeatTimer)
	g.det.Reset() // what it watched and suspected was of the view it leaves
	g.confirm = confirmation{}
	g.srv.joined = false
	g.srv.view = nil
	for _, c := range g.srv.components {
		c.Left(g.srv.env)
	}
	g.sendJoin()
}

// onViewForEarlierIncarnation: a view sent to an earlier incarnation of this server, by a member
// whose view still lists that incarnation. If it is newer than this server's view, the cluster has
// moved on without this incarnation (a coordinator admitted it and died before anyone else learned
// of it, say): it is removed, exactly as if the view had been addressed to it.
func (g *GroupMembership) onViewForEarlierIncarnation(v *View) {
	if !g.srv.joined {
		g.askViewToAdmit(v)
		return
	}
	if g.srv.joined && !g.srv.stopped && v.Version.Compare(g.srv.view.Version) > 0 && !v.hasMember(g.srv.self) {
		if v.Version.Term > g.maxTerm {
			g.maxTerm = v.Version.Term
		}
		g.leftOut(v, "a newer view sent to its earlier incarnation leaves it out")
	}
}

// askViewToAdmit: a server still joining learns of a view that leaves it out, so that view's
// coordinator is alive to admit it; it asks at once. Its own retries run on a background timer (a
// join nobody can answer must not keep a run from ending), so waiting for the next one could let a
// run end quiescent with this server outside every view and its buckets short of copies.
func (g *GroupMembership) askViewToAdmit(v *View) {
	if g.srv.stopped {
		return
	}
	if c := v.coordinator(); c.ID != g.srv.self.ID {
		g.srv.env.Send(c.ID, &Join{Hdr: Hdr{FromInc: g.srv.self.Inc, ToInc: anyIncarnation}})
	}
}

func (g *GroupMembership) nextView() *View {
	next := g.srv.view.clone()
	next.Version.Seq++
	return next
}

// publish plans bucket placement on next, sends it to every member of next and to the removed
// members (so that a wrongly suspected member disconnects), and installs it.
func (g *GroupMembership) publish(next *View, removed []Member) {
	g.srv.placement.planBuckets(next)
	for _, m := range next.Members {
		if m != g.srv.self {
			g.srv.send(m, &ViewMsg{Hdr: g.srv.hdr(m), View: next})
		}
	}
	for _, m := range removed {
		if m != g.srv.self {
			g.srv.send(m, &ViewMsg{Hdr: g.srv.hdr(m), View: next})
		}
	}
	g.srv.installView(next)
}

// reconciled reports that a copy needs no reconciling with view v: nobody left the view (checked by
// the caller), the bucket's metadata is what the previous view said, and every profile the copy
// keeps is of a listed holder (so no profile waits for a newer view to be dropped). Reconciling
// every copy on every view made each view cost all the buckets, and views come with every copy
// completed.
func reconciled(old, v *View, i int, b *bucketState, self Member) bool {
	was, now := &old.Buckets[i], &v.Buckets[i]
	if was.Primary != now.Primary || was.Epoch != now.Epoch || was.Lost != now.Lost || was.MoveTarget != now.MoveTarget ||
		len(was.Holders) != len(now.Holders) {
		return false
	}
	for k := range was.Holders {
		if was.Holders[k] != now.Holders[k] {
			return false
		}
	}
	if len(now.Holders) == 0 {
		return len(b.profiles) == 0
	}
	// Every profile is of a listed holder: known when this very list was found to be so and no
	// profile came or went since (most views leave most buckets alone).
	check := listedCheck{&now.Holders[0], len(now.Holders), b.profileChanges}
	if b.listed == check {
		return true
	}
	if !profilesListed(now, b, self) {
		return false
	}
	b.listed = check
	return true
}

// profilesListed reports whether every profile the copy keeps is of a holder meta lists. When each
// other holder has one and there are no more profiles than other holders, no profile can be of
// anyone else; lookups are cheaper than ranging over the map, which is left for the rare copy with
// a profile to drop.
func profilesListed(meta *BucketMeta, b *bucketState, self Member) bool {
	others := 0
	for _, h := range meta.Holders {
		if h.Member == self {
			continue
		}
		others++
		if b.profiles[h.Member] == nil {
			others = -1
			break
		}
	}
	if others == len(b.profiles) {
		return true
	}
	for m := range b.profiles {
		if meta.holder(m) < 0 {
			return false
		}
	}
	return true
}

// reconcileBucket brings one bucket in line with the installed view.
func (s *Server) reconcileBucket(i int) {
	meta := &s.view.Buckets[i]
	b := s.buckets[i]
	hi := meta.holder(s.self)
	if b == nil {
		if hi >= 0 && !meta.Holders[hi].Initialized && !meta.Lost {
			s.flush.startCreation(i, meta.Holders[hi].Since)
		}
		return
	}
	if meta.Lost {
		s.dropBucket(b, "lost")
		return
	}
	if hi < 0 {
		s.dropBucket(b, "removed")
		return
	}
	if h := meta.Holders[hi]; !h.Initialized && h.Since.Compare(b.since) > 0 {
		// Removed and assigned again (a copy is its member plus the view that assigned it): the old
		// copy is no longer counted anywhere; create the new one from scratch.
		s.dropBucket(b, "reassigned")
		s.flush.startCreation(i, h.Since)
		return
	}
	for _, m := range b.profileMembers() {
		p := b.profiles[m]
		if s.departed[m] || (meta.holder(m) < 0 && s.view.Version.Compare(p.since) > 0) {
			b.dropProfile(m)
		}
	}
	if meta.Primary.Valid() && meta.Epoch > b.epoch {
		if meta.Primary == s.self {
			s.becomePrimary(b, meta.Epoch)
		} else {
			s.adoptPrimary(b, meta.Primary, meta.Epoch)
		}
	}
	s.resolveDepartures(b)
}

// gone reports whether m no longer takes part in bucket b: it left the view or the view no longer
// lists it as a holder.
func (s *Server) gone(b *bucketState, m Member) bool {
	return s.departed[m] || s.view.Buckets[b.index].holder(m) < 0
}

// resolveDepartures releases everything of bucket b that waited on a member that left: a departed
// recipient counts as having acknowledged, a departed flusher as flushed, a departed requester's
// flush and image stream end, a departed source makes the new copy retry.
func (s *Server) resolveDepartures(b *bucketState) {
	for _, w := range b.writesInOrder() {
		w.awaiting.removeIf(func(m Member) bool { return b.profiles[m] == nil })
		s.checkWriteDone(b, w)
	}
	if b.blockedBy.Valid() && b.profiles[b.blockedBy] == nil {
		s.unblock(b)
	}
	s.settleReads(b)
	keepMarkers := b.markerWaits[:0]
	for _, w := range b.markerWaits {
		if !s.departed[w.requester] {
			keepMarkers = append(keepMarkers, w)
		}
	}
	b.markerWaits = keepMarkers
	keepRecords := b.recordWaits[:0]
	for _, w := range b.recordWaits {
		if !s.departed[w.requester] && !s.departed[w.holder] {
			keepRecords = append(keepRecords, w)
		}
	}
	b.recordWaits = keepRecords
	s.flush.endStreams(b.index, func(st *imageStream) bool { return s.departed[st.requester] })
	if sy := b.sync; sy != nil && !sy.pushing {
		sy.awaiting.removeIf(func(m Member) bool { return s.departed[m] })
		s.checkCollectDone(b)
	}
	if b.creation != nil {
		s.flush.creationDepartures(b)
	}
}

// adoptPrimary fences the copy at a newer primary: from now on it accepts writes only from that
// primary at that epoch. A copy that was primary steps down; a copy being created starts again,
// because its mitt may hold writes of the old primary that the new primary's synchronization did
// not see.
func (s *Server) adoptPrimary(b *bucketState, primary Member, epoch uint64) {
	if epoch <= b.epoch {
		return
	}
	b.primary, b.epoch = primary, epoch
	if b.role != roleFollower {
		s.demote(b)
	}
	if b.creation != nil {
		s.flush.restartCreation(b, "primary-change")
	}
	s.flush.checkMarkerWaits(b) // a marker may have waited for this fence
}

// demote ends this copy's primary role: clients of unacknowledged writes are told to retry (their
// write may or may not survive), waiting and held requests are redirected.
func (s *Server) demote(b *bucketState) {
	b.role = roleFollower
	b.sync = nil
	for _, w := range b.writesInOrder() {
		for _, c := range w.clients {
			s.replyClient(c.client, c.seq, replyRetry, b.index)
		}
		w.clients = nil
	}
	for _, key := range sortedStrings(b.waitingGets) {
		for _, c := range b.waitingGets[key] {
			s.replyClient(c.client, c.seq, replyRedirect, b.index)
		}
	}
	b.waitingGets = map[string][]clientWait{}
	held := b.held
	b.held = nil
	for _, h := range held {
		s.replyClient(h.client, h.req.Seq, replyRedirect, b.index)
	}
	b.blockedBy = noMember
	s.settleReads(b)
	s.flush.answerDeferredAnnounces(b)
}

// dropBucket discards this server's copy of a bucket (removed by a rebalance, or lost).
func (s *Server) dropBucket(b *bucketState, reason string) {
	if b.role != roleFollower {
		s.demote(b)
	}
	for _, w := range b.writesInOrder() {
		delete(s.writes, w.id)
	}
	for _, w := range b.markerWaits {
		s.send(w.requester, &HolderStable{Hdr: s.hdr(w.requester), Bucket: b.index, Attempt: w.attempt, Holder: s.self, NotHolder: true})
	}
	for _, w := range b.recordWaits {
		s.send(w.requester, &SourceUnavailable{Hdr: s.hdr(w.requester), Bucket: b.index, Attempt: w.attempt})
	}
	s.flush.endStreams(b.index, func(st *imageStream) bool {
		s.send(st.requester, &SourceUnavailable{Hdr: s.hdr(st.requester), Bucket: b.index, Attempt: st.attempt})
		return true
	})
	if c := b.creation; c != nil {
		s.env.CancelTimer(c.warnTimer)
		s.emit(protocol.EventImageDiscarded, a("bucket", b.index), a("replica", s.self), a("source", c.source), a("reason", reason))
	}
	if b.chunkTimerSet {
		s.env.CancelTimer(b.chunkTimer)
	}
	s.clearBucket(b.index)
	s.emit(EventBucketDropped, a("bucket", b.index), a("reason", reason))
}

// facts reports this server's copies for a coordinator takeover.
func (s *Server) facts() []BucketFact {
	var out []BucketFact
	for _, i := range s.held {
		b := s.buckets[i]
		out = append(out, BucketFact{Bucket: i, Initialized: b.initialized, Since: b.since, Primary: b.primary, Epoch: b.epoch})
	}
	return out
}

// startTakeover: this member suspects every older member. Before deciding anything it asks every
// other live member for its view and its copies, because the failed coordinator may have sent its
// last view to only some members (or to none that survived).
func (g *GroupMembership) startTakeover(suspects []Member) {
	g.maxTerm++
	t := &takeoverState{
		term:      g.maxTerm,
		startedAt: g.srv.env.Now(),
		awaiting:  map[Member]bool{},
		heardAt:   map[Member]protocol.Time{},
		replies:   map[Member]*TakeoverReply{},
		suspected: map[Member]bool{},
	}
	for _, m := range suspects {
		if g.takeoverTrusts(m) {
			t.suspected[m] = true
		}
	}
	g.takeover = t
	names := make([]string, len(suspects))
	for i, m := range suspects {
		names[i] = m.String()
	}
	g.srv.emit(EventTakeover, a("term", t.term), a("suspects", strings.Join(names, ",")))
	for _, m := range g.srv.view.Members {
		if m != g.srv.self && !t.suspected[m] {
			g.queryForTakeover(t, m)
		}
	}
	g.checkTakeoverDone()
}

// takeoverTrusts reports whether a takeover takes the detector's word that suspect m failed. Under
// the weighted rule a younger suspect that another member found failed is asked like the others,
// and suspected only if it stays silent for the timeout: a wrong verdict from a checker cut off in
// one direction must not make this side lose half of the view and shut down. (The older members'
// failures are what the takeover is for.)
func (g *GroupMembership) takeoverTrusts(m Member) bool {
	return g.srv.cfg.Partition.Rule != WeightedQuorum || containsMember(g.evicting, m) || g.srv.view.rank(m) < g.srv.view.rank(g.srv.self) || g.foundFailedItself(m)
}

func (g *GroupMembership) queryForTakeover(t *takeoverState, m Member) {
	t.awaiting[m] = true
	t.heardAt[m] = g.srv.env.Now()
	g.srv.send(m, &TakeoverQuery{Hdr: g.srv.hdr(m), Term: t.term})
}

// onTakeoverQuery answers a member taking over with this server's view and copies (no view and no
// copies while it is joining).
func (g *GroupMembership) onTakeoverQuery(from Member, q *TakeoverQuery) {
	if q.Term <= g.maxTerm {
		if from == g.coordHint && q.Term == g.coordHintTerm {
			// The takeover this server promised asks again: it dropped the first answer (it had
			// just found this member's earlier incarnation failed) and then learned of this one
			// from a newer view in another answer, or the network duplicated the query. Answered
			// again, as the first time: unanswered, the taker waited for good, this server's
			// heartbeats keeping it from ever counting as silent (steady-monkey seed 250 with 4
			// clients of 2 operations and every nemesis on, once the younger end of a broken
			// connection was removed at once).
			g.srv.send(from, &TakeoverReply{Hdr: g.srv.hdr(from), Term: q.Term, View: g.srv.view, Facts: g.srv.facts()})
			return
		}
		// An older or a rival takeover of an equal term: the asker waits for an answer, and the
		// member it lost to may have died mid-takeover (its host crashed with the queries in
		// flight), so it is told to ask again under a newer term.
		g.srv.send(from, &TakeoverReply{Hdr: g.srv.hdr(from), Term: g.maxTerm, Refused: true})
		return
	}
	g.maxTerm = q.Term
	g.coordHint, g.coordHintTerm, g.coordHintAt = from, q.Term, g.srv.env.Now()
	g.takeover = nil
	g.srv.send(from, &TakeoverReply{Hdr: g.srv.hdr(from), Term: q.Term, View: g.srv.view, Facts: g.srv.facts()})
}

// onTakeoverQueryForEarlierIncarnation: a member taking over asks an earlier incarnation of this
// server, which its view still lists. This incarnation answers for itself once it has joined: the
// view that admitted it may have reached only it before its coordinator died (a host crash loses
// the view messages in flight), and a takeover that never heard of it would remove it with the
// dead incarnation and force it, copies and all, out of a cluster it could serve (host-failures
// seed 515).
func (g *GroupMembership) onTakeoverQueryForEarlierIncarnation(from Member, q *TakeoverQuery) {
	if g.srv.joined && !g.srv.stopped {
		g.onTakeoverQuery(from, q)
	}
}

// awaitedAs is the member the takeover asked for whom a reply from `from` answers: from itself,
// or an earlier incarnation of it that the takeover's view lists (the reply then also says that
// the earlier one is dead).
func (t *takeoverState) awaitedAs(from Member) (Member, bool) {
	if t.awaiting[from] {
		return from, true
	}
	var asked Member
	found := false
	for m := range t.awaiting { // the newest earlier incarnation: the same whatever the order
		if m.ID == from.ID && m.Inc < from.Inc && (!found || m.Inc > asked.Inc) {
			asked, found = m, true
		}
	}
	return asked, found
}

func (g *GroupMembership) onTakeoverReply(from Member, r *TakeoverReply) {
	t := g.takeover
	if t == nil {
		return
	}
	asked, awaited := t.awaitedAs(from)
	if r.Refused && r.Term >= t.term && awaited {
		g.maxTerm = max(g.maxTerm, r.Term)
		suspects := sortedMembersOf(t.suspected)
		g.takeover = nil
		g.startTakeover(suspects)
		return
	}
	if r.Refused || r.Term != t.term || !awaited {
		return
	}
	delete(t.awaiting, asked)
	if asked != from {
		t.suspected[asked] = true
	}
	t.replies[from] = r
	if r.View != nil && r.View.Version.Compare(g.srv.view.Version) > 0 {
		// A newer view we never installed: its members must be asked too.
		for _, m := range r.View.Members {
			if m != g.srv.self && !t.awaiting[m] && t.replies[m] == nil && !t.suspected[m] && !g.srv.departed[m] && !g.srv.view.hasMember(m) {
				g.queryForTakeover(t, m)
			}
		}
	}
	g.checkTakeoverDone()
}

// takeoverSuspects stops waiting for suspected members; members learned of from newer views are
// suspected when silent for the failure-detection timeout since we asked them.
func (g *GroupMembership) takeoverSuspects(suspects []Member) {
	t := g.takeover
	for _, m := range suspects {
		if g.takeoverTrusts(m) {
			t.suspected[m] = true
			delete(t.awaiting, m)
		}
	}
	now := g.srv.env.Now()
	for _, m := range sortedMembersOf(t.awaiting) {
		if now-t.heardAt[m] > protocol.Time(g.srv.cfg.FailureDetectionTimeout) {
			t.suspected[m] = true
			delete(t.awaiting, m)
		}
	}
	g.checkTakeoverDone()
}

func (g *GroupMembership) checkTakeoverDone() {
	t := g.takeover
	if t == nil || len(t.awaiting) != 0 {
		return
	}
	if c := g.srv.view.coordinator(); c != g.srv.self && t.suspected[c] && !g.det.IsFailed(c) && g.srv.lastHeard[c.ID] > t.startedAt {
		// The coordinator it suspected has been heard from since the takeover began (a split
		// between them healed, or it was paused) and nobody holds it failed any more: as in
		// installView, taking over now would remove a live coordinator (and its copies, which
		// the fault guards count as the surviving side's) only on a stale suspicion.
		g.abandonTakeover()
		return
	}
	g.finishTakeover()
}

// abandonTakeover gives up the takeover under way, this server staying in its view of an older
// term, and tells every member it asked: each answer promised the takeover's term, and a member
// that promised refuses views of older terms until the promise lapses, two detection timeouts
// later. Meanwhile the coordinator this server went back to goes on without it: the member keeps
// serving a view that coordinator has left (a primary it removed, copies it moved), and a copy
// the coordinator creates meanwhile misses the writes of a primary it no longer flushes
// (partitions seed 154: s1, cut off one way, took over from s0 at the mend and gave up on
// hearing it; s2, s3 and s4 refused s0's view removing s2, and s2 went on replicating bucket 2's
// writes to s3 and s4 without s0's new copy). Its view, from the member that was taking over,
// ends the promise (releasePromise).
func (g *GroupMembership) abandonTakeover() {
	t := g.takeover
	g.takeover = nil
	asked := sortedMembersOf(t.awaiting)
	for _, m := range sortedMembersOf(replySet(t.replies)) {
		if !t.awaiting[m] {
			asked = append(asked, m)
		}
	}
	sortMembers(asked)
	for _, m := range asked {
		if m != g.srv.self {
			g.srv.send(m, &ViewMsg{Hdr: g.srv.hdr(m), View: g.srv.view})
		}
	}
}

// finishTakeover rebuilds the bucket metadata from what the live members hold (the truth, whatever
// views were lost with the old coordinator) on top of the newest view anyone had, and publishes it
// under a new term.
func (g *GroupMembership) finishTakeover() {
	t := g.takeover
	g.takeover = nil
	base := g.srv.view
	facts := map[Member][]BucketFact{g.srv.self: g.srv.facts()}
	for _, m := range sortedMembersOf(replySet(t.replies)) {
		r := t.replies[m]
		facts[m] = r.Facts
		if r.View != nil && r.View.Version.Compare(base.Version) > 0 {
			base = r.View
		}
	}
	term := t.term
	if base.Version.Term >= term {
		term = base.Version.Term + 1
	}
	if term > g.maxTerm {
		g.maxTerm = term
	}
	next := base.clone()
	next.Version = ConfigVersion{Term: term, Seq: 1}
	var removed []Member
	next.Members = next.Members[:0]
	for _, m := range base.Members {
		if m == g.srv.self || (!t.suspected[m] && !g.srv.departed[m] && (facts[m] != nil || t.replies[m] != nil)) {
			next.Members = append(next.Members, m)
		} else {
			removed = append(removed, m)
		}
	}
	if !next.hasMember(g.srv.self) {
		// Our view is older than the base and the base does not list us: we were removed.
		g.forcedDisconnect(base, "a takeover's view leaves it out")
		return
	}
	// The new coordinator must be first: move self to the front (every older member is gone).
	for i, m := range next.Members {
		if m == g.srv.self {
			copy(next.Members[1:i+1], next.Members[:i])
			next.Members[0] = g.srv.self
			break
		}
	}
	if g.partitionShutdown(base, removed, true) {
		return
	}
	for i := range next.Buckets {
		g.srv.placement.rebuildBucket(next, i, facts)
	}
	g.publish(next, removed)
}

func replySet(replies map[Member]*TakeoverReply) map[Member]bool {
	set := make(map[Member]bool, len(replies))
	for m := range replies {
		set[m] = true
	}
	return set
}

func (g *GroupMembership) runDeferredCoordinatorWork() {
	work := g.deferredCoord
	g.deferredCoord = nil
	for _, d := range work {
		g.srv.dispatch(d.from, d.msg)
	}
}
