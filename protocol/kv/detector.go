package kv

import "github.com/stateflush/stateflush/protocol"

// The failure detector, modelled on GemFire's: the members of a view form a ring in view order
// (oldest first, the youngest followed by the oldest). Each member watches one neighbour, the
// previous (older) member of the ring it does not know to have failed, and sends its heartbeats
// only to the member watching it, the next one; heartbeat traffic is one message per member per
// interval, linear in the members. The coordinator is thus watched by the member that would take
// over from it, and the youngest member, most likely still joining, watches nobody else's
// coordinator.
//
// A watcher that has not heard from its neighbour for Config.FailureDetectionTimeout suspects it,
// but does not act on its own suspicion: its link to the neighbour may be the only slow one. It
// asks another member, the checker, to check the suspect directly (a final check). The checker is
// the member that would act on the failure (the coordinator, or for a suspected coordinator the
// oldest member after it) unless that is the watcher itself, in which case it is the suspect's
// next neighbour. The checker sends the suspect a check request; if anything from the suspect
// arrives within the failure-detection timeout, the suspect is alive and the watcher is told so;
// otherwise the checker declares it failed to every member of the view. Every member then skips
// it in the ring (its neighbours watch and heartbeat each other), the coordinator removes it from
// the view, and a member that finds every older member failed takes over as coordinator.
//
// A suspicion that no verdict answers within twice the timeout (the checker died too) falls back
// on a final check by the watcher itself, so that two failures in a row are still detected.
//
// All of this state is held in slices in the order things happened, never iterated from maps,
// so that a seed replays exactly.

// detector is one server's failure-detector state.
type detector struct {
	// watching is the neighbour this server watches (noMember while alone).
	watching Member
	// failed lists members found failed by a final check, and when this server learned it. A
	// failed member heard from again afterwards (the check's verdict was wrong) counts as alive.
	failed []failedMember
	// reports lists the suspicions this server sent to a checker and awaits a verdict on.
	reports []suspicionReport
	// checks lists the final checks this server runs.
	checks []finalCheck
	// confirming lists, while a coordinator confirms a removal under the weighted partition rule,
	// the members it checks before it removes anyone (partition.go).
	confirming []Member
	// confirmFor are the suspects a confirmation round started for, at confirmAt (partition.go).
	confirmFor []Member
	confirmAt  protocol.Time
	// silentRestarts counts the times the current round began again because a member went
	// silent during it (at most maxSilentRestarts).
	silentRestarts int
	// healed: a member this server found failed was heard from again while the round ran (a
	// split healed part-way through it), so the round's silences may be stale (partition.go).
	healed bool
}

// failure is the entry of m among the members found failed, or nil.
func (d *detector) failure(m Member) *failedMember {
	for i := range d.failed {
		if d.failed[i].member == m {
			return &d.failed[i]
		}
	}
	return nil
}

type failedMember struct {
	member Member
	at     protocol.Time
	// announced: this server's final check found it failed and told the view so; should it be
	// heard from again (it was paused, not dead), this server takes the finding back.
	announced bool
	// confirmed: this server suspected it (it watched it and heard nothing for the timeout) and
	// the checker it reported to found it failed: its own evidence, not a verdict alone.
	confirmed bool
}

type suspicionReport struct {
	suspect, checker Member
	at               protocol.Time
}

type finalCheck struct {
	suspect Member
	started protocol.Time
	timer   protocol.TimerID
	// notify lists the members that asked for this check (they learn an "alive" verdict; a
	// "failed" verdict goes to every member of the view).
	notify []Member
}

// reportTimeout is how long a watcher waits for a verdict on its suspicion before checking the
// suspect itself: the checker's final check takes the failure-detection timeout, plus the
// messages to and from the checker.
func (s *Server) reportTimeout() protocol.Duration { return 2 * s.cfg.FailureDetectionTimeout }

func (s *Server) armHeartbeat() {
	s.heartbeatTimer = s.setTimer(s.cfg.HeartbeatInterval, timerHeartbeat, 0, !s.anyOverdue())
}

// anyOverdue reports a watched neighbour not heard from for two heartbeat intervals, a suspicion or
// final check under way, a failed member still in the view, a takeover under way, or coordinator work
// deferred to the end of a quarantine. The heartbeat
// timer is then a foreground timer, so that a run does not count as quiescent while a crash is
// still to be detected and acted on.
func (s *Server) anyOverdue() bool {
	if s.takeover != nil || len(s.det.reports) > 0 || len(s.det.checks) > 0 || len(s.failedInView()) > 0 || len(s.evicting) > 0 || len(s.refusedViews) > 0 {
		return true
	}
	if len(s.deferredCoord) > 0 && s.quarantined() {
		return true // coordinator work waits for the quarantine's end, at a heartbeat
	}
	w := s.det.watching
	return w.Valid() && s.env.Now()-s.lastHeard[w.ID] > protocol.Time(2*s.cfg.HeartbeatInterval)
}

func (s *Server) onHeartbeatTimer() {
	s.refreshWatch()
	if w := s.watcher(); w.Valid() {
		hb := s.lastHeartbeat
		if hb == nil || hb.Hdr != s.hdr(w) || hb.View != s.view.Version {
			hb = &Heartbeat{Hdr: s.hdr(w), View: s.view.Version}
			s.lastHeartbeat = hb
		}
		s.send(w, hb)
	}
	s.lastHeartbeatAt = s.env.Now()
	s.endQuarantine()
	s.suspectNeighbour()
	s.retryUnansweredReports()
	s.recheckLingeringFailures()
	s.retryEvictions()
	s.reconsiderRefusedViews()
	s.actOnFailures()
	if !s.stopped && s.joined { // a member that left to rejoin arms it again when it is admitted
		s.armHeartbeat()
	}
}

// isFailed reports whether m was found failed and has not been heard from since.
func (s *Server) isFailed(m Member) bool {
	for _, f := range s.det.failed {
		if f.member == m {
			return s.lastHeard[m.ID] <= f.at
		}
	}
	return false
}

// failedInView lists the failed members of the view, in view order.
func (s *Server) failedInView() []Member {
	if len(s.det.failed) == 0 || s.view == nil {
		return nil
	}
	var out []Member
	for _, m := range s.view.Members {
		if m != s.self && s.isFailed(m) {
			out = append(out, m)
		}
	}
	return out
}

// ringNeighbour is the first member after (step 1) or before (step -1) self in the view's ring
// that this server does not know to have failed, or noMember when there is none.
func (s *Server) ringNeighbour(step int) Member {
	n := len(s.view.Members)
	me := s.view.rank(s.self)
	if me < 0 {
		return noMember
	}
	for k := 1; k < n; k++ {
		m := s.view.Members[((me+step*k)%n+n)%n]
		if !s.isFailed(m) {
			return m
		}
	}
	return noMember
}

// watcher is the member that watches this server: heartbeats go to it.
func (s *Server) watcher() Member { return s.ringNeighbour(1) }

// refreshWatch moves the watch to the current neighbour. A new neighbour gets a full timeout from
// now: until it learns that it is watched by this server (from the same view or the same failure
// verdict) it sends its heartbeats elsewhere.
func (s *Server) refreshWatch() {
	next := s.ringNeighbour(-1)
	if next == s.det.watching {
		return
	}
	s.det.watching = next
	if now := s.env.Now(); next.Valid() && s.lastHeard[next.ID] < now {
		s.lastHeard[next.ID] = now
	}
}

// suspectNeighbour reports the watched neighbour to a checker once it has been silent for the
// failure-detection timeout.
func (s *Server) suspectNeighbour() {
	w := s.det.watching
	if !w.Valid() || s.env.Now()-s.lastHeard[w.ID] <= protocol.Time(s.cfg.FailureDetectionTimeout) {
		return
	}
	if s.reportIndex(w) >= 0 || s.checkIndex(w) >= 0 {
		return
	}
	c := s.checkerFor(w)
	if c == s.self {
		s.startFinalCheck(w, noMember)
		return
	}
	s.det.reports = append(s.det.reports, suspicionReport{suspect: w, checker: c, at: s.env.Now()})
	s.send(c, &Suspect{Hdr: s.hdr(c), Suspect: w})
}

// retryUnansweredReports: a checker that gave no verdict in time may have failed too (a coordinator
// and its watcher's neighbour, say, or a member still joining that watches nobody). This server
// then checks both the suspect and the silent checker itself, so that a hole in the ring does not
// hide a failure.
func (s *Server) retryUnansweredReports() {
	now := s.env.Now()
	keep := s.det.reports[:0]
	var late []Member
	for _, r := range s.det.reports {
		if now-r.at > protocol.Time(s.reportTimeout()) {
			late = append(late, r.suspect, r.checker)
		} else {
			keep = append(keep, r)
		}
	}
	s.det.reports = keep
	for _, m := range late {
		if m != s.self && s.view.hasMember(m) && !s.isFailed(m) {
			s.startFinalCheck(m, noMember)
		}
	}
}

// recheckLingeringFailures: a member another member's verdict found failed, still in the view a
// report timeout later and not heard from since, is checked by this server itself. The decider
// did not remove it (its own check found it alive), and the retraction that would have told this
// server so can be lost (its announcer crashed and restarted before it arrived); this server's ring
// skips the member meanwhile, so it would never hear from it and would hold it failed forever.
func (s *Server) recheckLingeringFailures() {
	now := s.env.Now()
	for _, f := range s.det.failed {
		if !f.announced && now-f.at > protocol.Time(s.reportTimeout()) && s.view.hasMember(f.member) &&
			s.isFailed(f.member) && s.checkIndex(f.member) < 0 {
			s.startFinalCheck(f.member, noMember)
		}
	}
}

// decider is the member that acts when suspect fails: the oldest member of the view other than
// the suspect not known to have failed (the coordinator, or the one that would succeed it).
func (s *Server) decider(suspect Member) Member {
	for _, m := range s.view.Members {
		if m != suspect && (m == s.self || !s.isFailed(m)) {
			return m
		}
	}
	return s.self
}

// checkerFor chooses who checks a suspect this server watches: the decider, unless that is this
// server (its own link to the suspect is the one in doubt), then the suspect's next neighbour;
// this server itself only when nobody else is left.
func (s *Server) checkerFor(suspect Member) Member {
	if d := s.decider(suspect); d != s.self {
		return d
	}
	n := len(s.view.Members)
	at := s.view.rank(suspect)
	for k := 1; k < n; k++ {
		m := s.view.Members[(at+k)%n]
		if m != s.self && !s.isFailed(m) {
			return m
		}
	}
	return s.self
}

func (s *Server) reportIndex(m Member) int {
	for i, r := range s.det.reports {
		if r.suspect == m {
			return i
		}
	}
	return -1
}

func (s *Server) checkIndex(m Member) int {
	for i, c := range s.det.checks {
		if c.suspect == m {
			return i
		}
	}
	return -1
}

// onSuspect: a watcher asks this server to check a suspect.
func (s *Server) onSuspect(from Member, msg *Suspect) {
	s.tellNonMember(from)
	x := msg.Suspect
	switch {
	case x == s.self:
		// The request itself proves this server alive.
		s.send(from, &Verdict{Hdr: s.hdr(from), Suspect: x, Failed: false})
	case s.departed[x] || s.isFailed(x):
		s.send(from, &Verdict{Hdr: s.hdr(from), Suspect: x, Failed: true})
	default:
		s.startFinalCheck(x, from)
	}
}

// startFinalCheck asks the suspect for a sign of life; it is failed if none arrives within the
// failure-detection timeout. requester (if valid) learns the verdict.
func (s *Server) startFinalCheck(x Member, requester Member) {
	if i := s.checkIndex(x); i >= 0 {
		if requester.Valid() {
			s.det.checks[i].notify = append(s.det.checks[i].notify, requester)
		}
		return
	}
	c := finalCheck{suspect: x, started: s.env.Now()}
	if requester.Valid() {
		c.notify = []Member{requester}
	}
	c.timer = s.setTimer(s.cfg.FailureDetectionTimeout, timerFinalCheck, int64(x.ID), false)
	s.det.checks = append(s.det.checks, c)
	s.send(x, &CheckRequest{Hdr: s.hdr(x)})
}

// heardDuringCheck: the suspect answered a final check, so it is alive and hears this server. The
// answer, not any message: a member cut off in one direction still sends (its heartbeats arrive)
// but hears nothing, and the side it can no longer hear has removed it or will; only a round trip
// shows that both directions work, as GemFire's final check over a new TCP connection does.
func (s *Server) heardDuringCheck(from Member) {
	i := s.checkIndex(from)
	if i < 0 {
		return
	}
	c := s.det.checks[i]
	s.det.checks = append(s.det.checks[:i], s.det.checks[i+1:]...)
	s.env.CancelTimer(c.timer)
	for _, m := range c.notify {
		s.send(m, &Verdict{Hdr: s.hdr(m), Suspect: from, Failed: false})
	}
}

// onFinalCheckTimer: the suspect did not answer in time. Every member of the view learns that it
// failed (so that its neighbours close the ring around it and the decider acts).
func (s *Server) onFinalCheckTimer(id protocol.TimerID) {
	i := -1
	for k, c := range s.det.checks {
		if c.timer == id {
			i = k
		}
	}
	if i < 0 {
		return
	}
	c := s.det.checks[i]
	s.det.checks = append(s.det.checks[:i], s.det.checks[i+1:]...)
	x := c.suspect
	s.emit(EventMemberFailed, a("member", x), a("checked_since", c.started))
	s.markFailed(x)
	for i := range s.det.failed {
		if s.det.failed[i].member == x {
			s.det.failed[i].announced = true
		}
	}
	told := []Member{s.self, x}
	tell := func(m Member) {
		for _, t := range told {
			if t == m {
				return
			}
		}
		told = append(told, m)
		s.send(m, &Verdict{Hdr: s.hdr(m), Suspect: x, Failed: true})
	}
	for _, m := range s.view.Members {
		tell(m)
	}
	for _, m := range c.notify {
		tell(m)
	}
	s.refreshWatch()
	s.actOnFailures()
}

func (s *Server) onCheckRequest(from Member) {
	s.send(from, &CheckReply{Hdr: s.hdr(from)})
	s.tellNonMember(from)
}

// tellNonMember sends the view to a server that takes part in failure detection (heartbeats,
// suspicions, checks) from a view this server has left behind: it was removed, or its admission
// died with the coordinator that granted it, and nobody else tells it so, since no member
// heartbeats a non-member. Without the view it would watch and check members forever.
func (s *Server) tellNonMember(from Member) {
	if s.joined && !s.stopped && from != s.self && IsServer(s.cfg, from.ID) && !s.view.hasMember(from) {
		s.send(from, &ViewMsg{Hdr: s.hdr(from), View: s.view})
	}
}

// onVerdict: a checker's answer to a suspicion, or its announcement that a member failed.
func (s *Server) onVerdict(from Member, v *Verdict) {
	x := v.Suspect
	reported := false
	if i := s.reportIndex(x); i >= 0 {
		reported = s.det.reports[i].checker == from
		s.det.reports = append(s.det.reports[:i], s.det.reports[i+1:]...)
	}
	if !v.Failed {
		// Alive as seen from the checker: give the neighbour another full timeout, and drop a
		// finding that it failed (the checker that made it takes it back, see retractFailure).
		if x == s.det.watching && s.lastHeard[x.ID] < s.env.Now() {
			s.lastHeard[x.ID] = s.env.Now()
		}
		s.forgetFailure(x)
		return
	}
	if x == s.self || !s.view.hasMember(x) {
		// A verdict on this server is wrong by definition (the view removing it, if any, will
		// disconnect it); one on a non-member has nothing left to act on.
		return
	}
	s.markFailed(x)
	if f := s.det.failure(x); reported && f != nil {
		f.confirmed = true
	}
	s.refreshWatch()
	s.actOnFailures()
}

func (s *Server) markFailed(m Member) {
	now := s.env.Now()
	if f := s.det.failure(m); f != nil {
		f.at = now
		return
	}
	s.det.failed = append(s.det.failed, failedMember{member: m, at: now})
}

// retractFailure: this server told the view that m failed, and now hears from it (a paused member
// that resumed). It tells every member m is alive after all; otherwise the members that hear
// nothing from m directly (only m's watcher does) would hold it failed, and wait, forever.
func (s *Server) retractFailure(m Member) {
	for i, f := range s.det.failed {
		if f.member != m || !f.announced || s.lastHeard[m.ID] > f.at {
			continue
		}
		s.det.failed[i].announced = false
		if s.det.confirming != nil {
			s.det.healed = true
		}
		for _, o := range s.view.Members {
			if o != s.self && o != m {
				s.send(o, &Verdict{Hdr: s.hdr(o), Suspect: m, Failed: false})
			}
		}
	}
}

// forgetFailure drops the finding that m failed.
func (s *Server) forgetFailure(m Member) {
	for i, f := range s.det.failed {
		if f.member == m {
			s.det.failed = append(s.det.failed[:i], s.det.failed[i+1:]...)
			return
		}
	}
}

// forgetDeparted drops failure records of members no longer in the view and moves the watch.
func (s *Server) forgetDeparted() {
	keep := s.det.failed[:0]
	for _, f := range s.det.failed {
		if s.view.hasMember(f.member) {
			keep = append(keep, f)
		}
	}
	s.det.failed = keep
	s.refreshWatch()
}
