package kv

import "github.com/stateflush/stateflush/protocol"

// Lapses: a server whose process was paused (a long garbage collection, a frozen virtual machine)
// resumes with a view and roles that may be stale, since the others may have removed it meanwhile.
// It cannot tell from the inside whether they did, but it can tell that they could have: removal
// needs its watcher to have heard nothing from it for Config.FailureDetectionTimeout, and it sends
// its watcher a heartbeat every Config.HeartbeatInterval, so the others cannot have removed it
// while the time since its last heartbeat is below lapseLimit. Past that, it has lapsed: like a
// region server whose session expired during a pause, it stops acting on what it believed, and
// waits for the membership to settle (quarantine) before it serves again.

// lapseLimit is how long a joined server may go without sending a heartbeat before the others could
// have removed it.
func (g *GroupMembership) lapseLimit() protocol.Duration {
	return g.srv.cfg.FailureDetectionTimeout - g.srv.cfg.HeartbeatInterval
}

// quarantineLength is how long a lapsed server stays out of service: long enough for any removal
// decided while it was silent to reach it (a suspicion under way when it resumed ends within a
// final check, two relays and a view; retried reports take twice the timeout), after which the
// view it holds is the one the others act on.
func (g *GroupMembership) quarantineLength() protocol.Duration {
	return 3 * g.srv.cfg.FailureDetectionTimeout
}

// checkLapse runs before this server handles anything: a joined server silent past the lapse
// limit gives every member a fresh timeout (its own observations of the others are as stale as
// theirs of it), restarts its final checks, abandons a takeover under way, tells every member it is
// alive, and goes into quarantine.
func (g *GroupMembership) checkLapse() {
	if !g.srv.joined || g.srv.stopped || g.srv.cfg.Mutants.Has(IgnoreLapse) {
		return
	}
	now := g.srv.env.Now()
	silent := protocol.Duration(now - g.lastHeartbeatAt)
	if silent <= g.lapseLimit() {
		return
	}
	g.lastHeartbeatAt = now // one lapse per silence
	g.quarantineUntil = now + protocol.Time(g.quarantineLength())
	for _, m := range g.srv.view.Members {
		g.srv.lastHeard[m.ID] = now
	}
	// A final check under way timed out while this server was frozen, not while the suspect was
	// silent: its answer may be waiting unread. Each starts again, or it would announce a live
	// member failed (and another member act on that before the retraction).
	g.det.RestartChecks()
	// A takeover begun before the silence rests on suspicions as stale: finishing it would publish
	// a view of a new term over whatever the others did meanwhile.
	g.takeover = nil
	// Every member may have found it failed meanwhile, and only its watcher hears its heartbeats:
	// it tells them all it is alive, or those that keep it failed would wait forever for a decider
	// that keeps it.
	for _, m := range g.srv.view.Members {
		if m != g.srv.self {
			g.srv.send(m, &Heartbeat{Hdr: g.srv.hdr(m), View: g.srv.view.Version})
		}
	}
	g.srv.emit(EventLapse, a("silent_us", int64(silent)), a("until", int64(g.quarantineUntil)), a("view", g.srv.view.Version))
}

// quarantined reports whether this server is out of service after a lapse: it answers no client,
// acts on no failure, admits no joiner and defers the rest of a coordinator's work (recording new
// copies, rebalance requests, failed creations) to the quarantine's end, as it does during a
// takeover: a lapsed coordinator may have been replaced, and a view it published now could race
// the new coordinator's. It keeps heartbeating, answering checks and installing views, so that it
// is kept or removed as the others decide.
func (g *GroupMembership) quarantined() bool { return g.QuarantinedAt(g.srv.env.Now()) }

// deferringCoordinatorWork reports whether coordinator work that arrives now must wait: during a
// takeover, and during a quarantine.
func (g *GroupMembership) deferringCoordinatorWork() bool {
	return g.takeover != nil || g.quarantined()
}

// endQuarantine runs, at the first heartbeat after a quarantine, the coordinator work deferred
// during it.
func (g *GroupMembership) endQuarantine() {
	if g.quarantineUntil != 0 && !g.quarantined() && g.takeover == nil {
		g.quarantineUntil = 0
		g.runDeferredCoordinatorWork()
	}
}

// QuarantinedAt reports whether this server is out of service after a lapse at time now (for
// callers outside its steps, which have no clock of their own).
func (g *GroupMembership) QuarantinedAt(now protocol.Time) bool { return now < g.quarantineUntil }
