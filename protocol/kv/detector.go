package kv

import (
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/membership"
)

// Failure detection: membership.Detector (GemFire's ring of heartbeats, suspicion, a final check by
// another member before a removal) runs on each server through detectorHost, which gives it the
// server's clock, view and last-heard times and sends its messages (Suspect, Verdict,
// CheckRequest) with the server's incarnation headers. What stays here is the heartbeat itself:
// when it is sent, to whom (the detector's watcher), and the membership work each heartbeat timer
// drives.

// detectorHost is the server as its failure detector sees it (membership.DetectorHost). It is a
// type of its own so that the detector's view of the server is one small interface, not the
// server's methods.
type detectorHost Server

func (h *detectorHost) server() *Server                   { return (*Server)(h) }
func (h *detectorHost) Now() protocol.Time                { return h.env.Now() }
func (h *detectorHost) Self() membership.Member           { return h.self }
func (h *detectorHost) Rank(m membership.Member) int      { return h.view.rank(m) }
func (h *detectorHost) Departed(m membership.Member) bool { return h.departed[m] }
func (h *detectorHost) CancelTimer(id protocol.TimerID)   { h.env.CancelTimer(id) }
func (h *detectorHost) ActOnFailures()                    { h.server().gms.actOnFailures() }

func (h *detectorHost) Members() []membership.Member {
	if h.view == nil {
		return nil
	}
	return h.view.Members
}

func (h *detectorHost) LastHeard(id protocol.NodeID) protocol.Time { return h.lastHeard[id] }
func (h *detectorHost) SetLastHeard(id protocol.NodeID, at protocol.Time) {
	h.lastHeard[id] = at
}

func (h *detectorHost) SendSuspect(to, suspect membership.Member) {
	s := h.server()
	s.send(to, &Suspect{Hdr: s.hdr(to), Suspect: suspect})
}

func (h *detectorHost) SendVerdict(to, suspect membership.Member, failed bool) {
	s := h.server()
	s.send(to, &Verdict{Hdr: s.hdr(to), Suspect: suspect, Failed: failed})
}

func (h *detectorHost) SendCheckRequest(to membership.Member) {
	s := h.server()
	s.send(to, &CheckRequest{Hdr: s.hdr(to)})
}

func (h *detectorHost) ArmFinalCheck(suspect membership.Member) protocol.TimerID {
	return h.server().setTimer(h.cfg.FailureDetectionTimeout, timerFinalCheck, int64(suspect.ID), false)
}

func (h *detectorHost) AnnounceFailure(x membership.Member, checkedSince protocol.Time) {
	h.server().emit(EventMemberFailed, a("member", x), a("checked_since", checkedSince))
}

// retractFailure takes back this server's finding that m failed, now that m is heard from; a
// confirmation round under way learns that a split may have healed (partition.go).
func (g *GroupMembership) retractFailure(m Member) {
	if g.det.RetractFailure(m) && g.confirm.members != nil {
		g.confirm.healed = true
	}
}

func (g *GroupMembership) armHeartbeat() {
	g.heartbeatTimer = g.srv.setTimer(g.srv.cfg.HeartbeatInterval, timerHeartbeat, 0, !g.anyOverdue())
}

// anyOverdue reports a watched neighbour not heard from for two heartbeat intervals, a suspicion or
// final check under way, a failed member still in the view, a takeover under way, or coordinator work
// deferred to the end of a quarantine. The heartbeat
// timer is then a foreground timer, so that a run does not count as quiescent while a crash is
// still to be detected and acted on.
func (g *GroupMembership) anyOverdue() bool {
	if g.takeover != nil || g.det.Busy() || len(g.det.FailedInView()) > 0 || len(g.evicting) > 0 || len(g.refusedViews) > 0 {
		return true
	}
	if len(g.deferredCoord) > 0 && g.quarantined() {
		return true // coordinator work waits for the quarantine's end, at a heartbeat
	}
	w := g.det.Watching()
	return w.Valid() && g.srv.env.Now()-g.srv.lastHeard[w.ID] > protocol.Time(2*g.srv.cfg.HeartbeatInterval)
}

func (g *GroupMembership) onHeartbeatTimer() {
	g.det.RefreshWatch()
	if w := g.det.Watcher(); w.Valid() {
		hb := g.lastHeartbeat
		if hb == nil || hb.Hdr != g.srv.hdr(w) || hb.View != g.srv.view.Version {
			hb = &Heartbeat{Hdr: g.srv.hdr(w), View: g.srv.view.Version}
			g.lastHeartbeat = hb
		}
		g.srv.send(w, hb)
	}
	g.lastHeartbeatAt = g.srv.env.Now()
	g.endQuarantine()
	g.det.SuspectNeighbour()
	g.det.RetryUnansweredReports()
	g.det.RecheckLingeringFailures()
	g.retryEvictions()
	g.reconsiderRefusedViews()
	g.actOnFailures()
	if !g.srv.stopped && g.srv.joined { // a member that left to rejoin arms it again when it is admitted
		g.armHeartbeat()
	}
}

func (g *GroupMembership) onCheckRequest(from Member) {
	g.srv.send(from, &CheckReply{Hdr: g.srv.hdr(from)})
	g.tellNonMember(from)
}

// tellNonMember sends the view to a server that takes part in failure detection (heartbeats,
// suspicions, checks) from a view this server has left behind: it was removed, or its admission
// died with the coordinator that granted it, and nobody else tells it so, since no member
// heartbeats a non-member. Without the view it would watch and check members forever.
func (g *GroupMembership) tellNonMember(from Member) {
	if g.srv.joined && !g.srv.stopped && from != g.srv.self && IsServer(g.srv.cfg, from.ID) && !g.srv.view.hasMember(from) {
		g.srv.send(from, &ViewMsg{Hdr: g.srv.hdr(from), View: g.srv.view})
	}
}
