package membership

import "github.com/stateflush/stateflush/protocol"

// The failure detector, modelled on GemFire's: the members of a view form a ring in view order
// (oldest first, the youngest followed by the oldest). Each member watches one neighbour, the
// previous (older) member of the ring it does not know to have failed, and sends its heartbeats
// only to the member watching it, the next one; heartbeat traffic is one message per member per
// interval, linear in the members. The coordinator is thus watched by the member that would take
// over from it, and the youngest member, most likely still joining, watches nobody else's
// coordinator.
//
// A watcher that has not heard from its neighbour for the failure-detection timeout suspects it,
// but does not act on its own suspicion: its link to the neighbour may be the only slow one. It
// asks another member, the checker, to check the suspect directly (a final check). The checker is
// the member that would act on the failure (the coordinator, or for a suspected coordinator the
// oldest member after it) unless that is the watcher itself, in which case it is the suspect's
// next neighbour. The checker sends the suspect a check request; if the suspect answers within the
// failure-detection timeout, it is alive and the watcher is told so; otherwise the checker declares
// it failed to every member of the view. Every member then skips it in the ring (its neighbours
// watch and heartbeat each other), the coordinator removes it from the view, and a member that
// finds every older member failed takes over as coordinator.
//
// A suspicion that no verdict answers within twice the timeout (the checker died too) falls back
// on a final check by the watcher itself, so that two failures in a row are still detected.
//
// All of this state is held in slices in the order things happened, never iterated from maps,
// so that a seed replays exactly.

// DetectorHost is what a Detector needs from the member it runs on: the clock, the view, when each
// member was last heard from, and the sending of the detector's messages (whose form, headers and
// incarnations, is the member's), its final-check timers and what to do when a member fails.
type DetectorHost interface {
	Now() protocol.Time
	Self() Member
	// Members is the view's members, oldest first; Rank the position of m in it (-1: none).
	Members() []Member
	Rank(m Member) int
	// LastHeard is when the member at node id was last heard from; SetLastHeard moves it.
	LastHeard(id protocol.NodeID) protocol.Time
	SetLastHeard(id protocol.NodeID, at protocol.Time)
	// Departed reports whether m left a view this member installed.
	Departed(m Member) bool
	SendSuspect(to, suspect Member)
	SendVerdict(to, suspect Member, failed bool)
	SendCheckRequest(to Member)
	// ArmFinalCheck sets the timer that ends a final check of suspect after the timeout; its
	// firing is handed to Detector.OnFinalCheckTimer.
	ArmFinalCheck(suspect Member) protocol.TimerID
	CancelTimer(id protocol.TimerID)
	// AnnounceFailure records that this member's final check found x failed (a trace event).
	AnnounceFailure(x Member, checkedSince protocol.Time)
	// ActOnFailures lets the member act on the members found failed (remove them, take over).
	ActOnFailures()
}

// Detector is one member's failure-detector state.
type Detector struct {
	host    DetectorHost
	timeout protocol.Duration
	// watching is the neighbour this member watches (None while alone).
	watching Member
	// failed lists members found failed by a final check, and when this member learned it. A
	// failed member heard from again afterwards (the check's verdict was wrong) counts as alive.
	failed []FailedMember
	// reports lists the suspicions this member sent to a checker and awaits a verdict on.
	reports []suspicionReport
	// checks lists the final checks this member runs.
	checks []finalCheck
}

// NewDetector is a detector for the member host runs, with the failure-detection timeout.
func NewDetector(host DetectorHost, timeout protocol.Duration) Detector {
	return Detector{host: host, timeout: timeout, watching: None}
}

// Reset forgets everything (the member leaves its view), cancelling the final checks.
func (d *Detector) Reset() {
	for _, c := range d.checks {
		d.host.CancelTimer(c.timer)
	}
	*d = Detector{host: d.host, timeout: d.timeout}
}

// FailedMember is a member found failed.
type FailedMember struct {
	Member Member
	At     protocol.Time
	// Announced: this member's final check found it failed and told the view so; should it be
	// heard from again (it was paused, not dead), this member takes the finding back.
	Announced bool
	// Confirmed: this member suspected it (it watched it and heard nothing for the timeout) and
	// the checker it reported to found it failed: its own evidence, not a verdict alone.
	Confirmed bool
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

// Failure is the entry of m among the members found failed, or nil.
func (d *Detector) Failure(m Member) *FailedMember {
	for i := range d.failed {
		if d.failed[i].Member == m {
			return &d.failed[i]
		}
	}
	return nil
}

// AnyFailed reports whether some member is recorded failed.
func (d *Detector) AnyFailed() bool { return len(d.failed) > 0 }

// Busy reports a suspicion or a final check under way.
func (d *Detector) Busy() bool { return len(d.reports) > 0 || len(d.checks) > 0 }

// Watching is the neighbour this member watches (None while alone).
func (d *Detector) Watching() Member { return d.watching }

// reportTimeout is how long a watcher waits for a verdict on its suspicion before checking the
// suspect itself: the checker's final check takes the failure-detection timeout, plus the
// messages to and from the checker.
func (d *Detector) reportTimeout() protocol.Duration { return 2 * d.timeout }

// IsFailed reports whether m was found failed and has not been heard from since.
func (d *Detector) IsFailed(m Member) bool {
	for _, f := range d.failed {
		if f.Member == m {
			return d.host.LastHeard(m.ID) <= f.At
		}
	}
	return false
}

// FailedInView lists the failed members of the view, in view order.
func (d *Detector) FailedInView() []Member {
	if len(d.failed) == 0 {
		return nil
	}
	self := d.host.Self()
	var out []Member
	for _, m := range d.host.Members() {
		if m != self && d.IsFailed(m) {
			out = append(out, m)
		}
	}
	return out
}

// ringNeighbour is the first member after (step 1) or before (step -1) self in the view's ring
// that this member does not know to have failed, or None when there is none.
func (d *Detector) ringNeighbour(step int) Member {
	members := d.host.Members()
	n := len(members)
	me := d.host.Rank(d.host.Self())
	if me < 0 {
		return None
	}
	for k := 1; k < n; k++ {
		m := members[((me+step*k)%n+n)%n]
		if !d.IsFailed(m) {
			return m
		}
	}
	return None
}

// Watcher is the member that watches this member: heartbeats go to it.
func (d *Detector) Watcher() Member { return d.ringNeighbour(1) }

// RefreshWatch moves the watch to the current neighbour. A new neighbour gets a full timeout from
// now: until it learns that it is watched by this member (from the same view or the same failure
// verdict) it sends its heartbeats elsewhere.
func (d *Detector) RefreshWatch() {
	next := d.ringNeighbour(-1)
	if next == d.watching {
		return
	}
	d.watching = next
	if now := d.host.Now(); next.Valid() && d.host.LastHeard(next.ID) < now {
		d.host.SetLastHeard(next.ID, now)
	}
}

// SuspectNeighbour reports the watched neighbour to a checker once it has been silent for the
// failure-detection timeout.
func (d *Detector) SuspectNeighbour() {
	w := d.watching
	if !w.Valid() || d.host.Now()-d.host.LastHeard(w.ID) <= protocol.Time(d.timeout) {
		return
	}
	if d.reportIndex(w) >= 0 || d.checkIndex(w) >= 0 {
		return
	}
	c := d.checkerFor(w)
	if c == d.host.Self() {
		d.StartFinalCheck(w, None)
		return
	}
	d.reports = append(d.reports, suspicionReport{suspect: w, checker: c, at: d.host.Now()})
	d.host.SendSuspect(c, w)
}

// RetryUnansweredReports: a checker that gave no verdict in time may have failed too (a
// coordinator and its watcher's neighbour, say, or a member still joining that watches nobody).
// This member then checks both the suspect and the silent checker itself, so that a hole in the
// ring does not hide a failure.
func (d *Detector) RetryUnansweredReports() {
	now := d.host.Now()
	keep := d.reports[:0]
	var late []Member
	for _, r := range d.reports {
		if now-r.at > protocol.Time(d.reportTimeout()) {
			late = append(late, r.suspect, r.checker)
		} else {
			keep = append(keep, r)
		}
	}
	d.reports = keep
	for _, m := range late {
		if m != d.host.Self() && d.host.Rank(m) >= 0 && !d.IsFailed(m) {
			d.StartFinalCheck(m, None)
		}
	}
}

// RecheckLingeringFailures: a member another member's verdict found failed, still in the view a
// report timeout later and not heard from since, is checked by this member itself. The decider
// did not remove it (its own check found it alive), and the retraction that would have told this
// member so can be lost (its announcer crashed and restarted before it arrived); this member's
// ring skips the member meanwhile, so it would never hear from it and would hold it failed
// forever.
func (d *Detector) RecheckLingeringFailures() {
	now := d.host.Now()
	for _, f := range d.failed {
		if !f.Announced && now-f.At > protocol.Time(d.reportTimeout()) && d.host.Rank(f.Member) >= 0 &&
			d.IsFailed(f.Member) && d.checkIndex(f.Member) < 0 {
			d.StartFinalCheck(f.Member, None)
		}
	}
}

// decider is the member that acts when suspect fails: the oldest member of the view other than
// the suspect not known to have failed (the coordinator, or the one that would succeed it).
func (d *Detector) decider(suspect Member) Member {
	self := d.host.Self()
	for _, m := range d.host.Members() {
		if m != suspect && (m == self || !d.IsFailed(m)) {
			return m
		}
	}
	return self
}

// checkerFor chooses who checks a suspect this member watches: the decider, unless that is this
// member (its own link to the suspect is the one in doubt), then the suspect's next neighbour;
// this member itself only when nobody else is left.
func (d *Detector) checkerFor(suspect Member) Member {
	self := d.host.Self()
	if c := d.decider(suspect); c != self {
		return c
	}
	members := d.host.Members()
	n := len(members)
	at := d.host.Rank(suspect)
	for k := 1; k < n; k++ {
		m := members[(at+k)%n]
		if m != self && !d.IsFailed(m) {
			return m
		}
	}
	return self
}

func (d *Detector) reportIndex(m Member) int {
	for i, r := range d.reports {
		if r.suspect == m {
			return i
		}
	}
	return -1
}

func (d *Detector) checkIndex(m Member) int {
	for i, c := range d.checks {
		if c.suspect == m {
			return i
		}
	}
	return -1
}

// Checking reports whether this member runs a final check of m.
func (d *Detector) Checking(m Member) bool { return d.checkIndex(m) >= 0 }

// OnSuspect: a watcher asks this member to check a suspect.
func (d *Detector) OnSuspect(from, x Member) {
	switch {
	case x == d.host.Self():
		// The request itself proves this member alive.
		d.host.SendVerdict(from, x, false)
	case d.host.Departed(x) || d.IsFailed(x):
		d.host.SendVerdict(from, x, true)
	default:
		d.StartFinalCheck(x, from)
	}
}

// StartFinalCheck asks the suspect for a sign of life; it is failed if none arrives within the
// failure-detection timeout. requester (if valid) learns the verdict.
func (d *Detector) StartFinalCheck(x Member, requester Member) {
	if i := d.checkIndex(x); i >= 0 {
		if requester.Valid() {
			d.checks[i].notify = append(d.checks[i].notify, requester)
		}
		return
	}
	c := finalCheck{suspect: x, started: d.host.Now()}
	if requester.Valid() {
		c.notify = []Member{requester}
	}
	c.timer = d.host.ArmFinalCheck(x)
	d.checks = append(d.checks, c)
	d.host.SendCheckRequest(x)
}

// RestartChecks starts every final check under way again from now: they timed out while this
// member was frozen (a pause), not while their suspects were silent, whose answers may be waiting
// unread.
func (d *Detector) RestartChecks() {
	now := d.host.Now()
	for i := range d.checks {
		c := &d.checks[i]
		d.host.CancelTimer(c.timer)
		c.started = now
		c.timer = d.host.ArmFinalCheck(c.suspect)
		d.host.SendCheckRequest(c.suspect)
	}
}

// HeardDuringCheck: the suspect answered a final check, so it is alive and hears this member. The
// answer, not any message: a member cut off in one direction still sends (its heartbeats arrive)
// but hears nothing, and the side it can no longer hear has removed it or will; only a round trip
// shows that both directions work, as GemFire's final check over a new TCP connection does.
func (d *Detector) HeardDuringCheck(from Member) {
	i := d.checkIndex(from)
	if i < 0 {
		return
	}
	c := d.checks[i]
	d.checks = append(d.checks[:i], d.checks[i+1:]...)
	d.host.CancelTimer(c.timer)
	for _, m := range c.notify {
		d.host.SendVerdict(m, from, false)
	}
}

// OnFinalCheckTimer: the suspect did not answer in time. Every member of the view learns that it
// failed (so that its neighbours close the ring around it and the decider acts).
func (d *Detector) OnFinalCheckTimer(id protocol.TimerID) {
	i := -1
	for k, c := range d.checks {
		if c.timer == id {
			i = k
		}
	}
	if i < 0 {
		return
	}
	c := d.checks[i]
	d.checks = append(d.checks[:i], d.checks[i+1:]...)
	x := c.suspect
	d.host.AnnounceFailure(x, c.started)
	d.MarkFailed(x)
	for i := range d.failed {
		if d.failed[i].Member == x {
			d.failed[i].Announced = true
		}
	}
	told := []Member{d.host.Self(), x}
	tell := func(m Member) {
		for _, t := range told {
			if t == m {
				return
			}
		}
		told = append(told, m)
		d.host.SendVerdict(m, x, true)
	}
	for _, m := range d.host.Members() {
		tell(m)
	}
	for _, m := range c.notify {
		tell(m)
	}
	d.RefreshWatch()
	d.host.ActOnFailures()
}

// OnVerdict: a checker's answer to a suspicion, or its announcement that a member failed.
func (d *Detector) OnVerdict(from, x Member, failed bool) {
	reported := false
	if i := d.reportIndex(x); i >= 0 {
		reported = d.reports[i].checker == from
		d.reports = append(d.reports[:i], d.reports[i+1:]...)
	}
	if !failed {
		// Alive as seen from the checker: give the neighbour another full timeout, and drop a
		// finding that it failed (the checker that made it takes it back, see RetractFailure).
		if now := d.host.Now(); x == d.watching && d.host.LastHeard(x.ID) < now {
			d.host.SetLastHeard(x.ID, now)
		}
		d.ForgetFailure(x)
		return
	}
	if x == d.host.Self() || d.host.Rank(x) < 0 {
		// A verdict on this member is wrong by definition (the view removing it, if any, will
		// disconnect it); one on a non-member has nothing left to act on.
		return
	}
	d.MarkFailed(x)
	if f := d.Failure(x); reported && f != nil {
		f.Confirmed = true
	}
	d.RefreshWatch()
	d.host.ActOnFailures()
}

// MarkFailed records that m failed, now.
func (d *Detector) MarkFailed(m Member) {
	now := d.host.Now()
	if f := d.Failure(m); f != nil {
		f.At = now
		return
	}
	d.failed = append(d.failed, FailedMember{Member: m, At: now})
}

// RetractFailure: this member told the view that m failed, and now hears from it (a paused member
// that resumed). It tells every member m is alive after all; otherwise the members that hear
// nothing from m directly (only m's watcher does) would hold it failed, and wait, forever. It
// reports whether it took a finding back.
func (d *Detector) RetractFailure(m Member) bool {
	retracted := false
	for i, f := range d.failed {
		if f.Member != m || !f.Announced || d.host.LastHeard(m.ID) > f.At {
			continue
		}
		d.failed[i].Announced = false
		retracted = true
		self := d.host.Self()
		for _, o := range d.host.Members() {
			if o != self && o != m {
				d.host.SendVerdict(o, m, false)
			}
		}
	}
	return retracted
}

// ForgetFailure drops the finding that m failed.
func (d *Detector) ForgetFailure(m Member) {
	for i, f := range d.failed {
		if f.Member == m {
			d.failed = append(d.failed[:i], d.failed[i+1:]...)
			return
		}
	}
}

// ForgetDeparted drops failure records of members no longer in the view and moves the watch.
func (d *Detector) ForgetDeparted() {
	keep := d.failed[:0]
	for _, f := range d.failed {
		if d.host.Rank(f.Member) >= 0 {
			keep = append(keep, f)
		}
	}
	d.failed = keep
	d.RefreshWatch()
}
