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
func (h *detectorHost) ActOnFailures()                    { h.server().actOnFailures() }

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
func (s *Server) retractFailure(m Member) {
	if s.det.RetractFailure(m) && s.confirm.members != nil {
		s.confirm.healed = true
	}
}

func (s *Server) armHeartbeat() {
	s.heartbeatTimer = s.setTimer(s.cfg.HeartbeatInterval, timerHeartbeat, 0, !s.anyOverdue())
}

// anyOverdue reports a watched neighbour not heard from for two heartbeat intervals, a suspicion or
// final check under way, a failed member still in the view, a takeover under way, or coordinator work
// deferred to the end of a quarantine. The heartbeat
// timer is then a foreground timer, so that a run does not count as quiescent while a crash is
// still to be detected and acted on.
func (s *Server) anyOverdue() bool {
	if s.takeover != nil || s.det.Busy() || len(s.det.FailedInView()) > 0 || len(s.evicting) > 0 || len(s.refusedViews) > 0 {
		return true
	}
	if len(s.deferredCoord) > 0 && s.quarantined() {
		return true // coordinator work waits for the quarantine's end, at a heartbeat
	}
	w := s.det.Watching()
	return w.Valid() && s.env.Now()-s.lastHeard[w.ID] > protocol.Time(2*s.cfg.HeartbeatInterval)
}

func (s *Server) onHeartbeatTimer() {
	s.det.RefreshWatch()
	if w := s.det.Watcher(); w.Valid() {
		hb := s.lastHeartbeat
		if hb == nil || hb.Hdr != s.hdr(w) || hb.View != s.view.Version {
			hb = &Heartbeat{Hdr: s.hdr(w), View: s.view.Version}
			s.lastHeartbeat = hb
		}
		s.send(w, hb)
	}
	s.lastHeartbeatAt = s.env.Now()
	s.endQuarantine()
	s.det.SuspectNeighbour()
	s.det.RetryUnansweredReports()
	s.det.RecheckLingeringFailures()
	s.retryEvictions()
	s.reconsiderRefusedViews()
	s.actOnFailures()
	if !s.stopped && s.joined { // a member that left to rejoin arms it again when it is admitted
		s.armHeartbeat()
	}
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
