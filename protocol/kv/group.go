package kv

import (
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/membership"
)

// GroupMembership is a server's part in the membership, named after GemFire's group membership
// service: heartbeats and failure detection (detector.go), acting on failures, joins, views and
// their publication, coordinator takeover, the partition rule (partition.go), lapses (lapse.go)
// and broken connections (connections.go). It decides which view the server installs; installing
// it (Server.installView) and what it means for the buckets is the store's. The view itself, and
// the members that left it, stay with the server, since every part of the store reads them.
type GroupMembership struct {
	srv     *Server
	maxTerm uint64 // highest coordinator term seen (views and takeover queries)
	// coordHint is a member taking over as coordinator (from its query), used while no view of its
	// term has arrived.
	coordHint     Member
	coordHintTerm uint64
	coordHintAt   protocol.Time // when it promised coordHintTerm
	// refusedViews are the views refused while the promise held, for when it lapses (partition.go).
	refusedViews []*ViewMsg
	// evicting lists the members to remove for a broken connection, and brokenWith the members
	// whose connection to this server broke (connections.go).
	evicting   []Member
	brokenWith []Member

	// lastHeartbeatAt is when this server last sent its watcher a heartbeat (or joined), and
	// quarantineUntil when a lapse's quarantine ends (lapse.go).
	lastHeartbeatAt protocol.Time
	quarantineUntil protocol.Time
	// lastHeartbeat is the heartbeat sent last; messages are never changed once sent, so the next
	// one to the same watcher incarnation under the same view is the same message.
	lastHeartbeat *Heartbeat
	det           membership.Detector
	// confirm is the coordinator's confirmation round under the weighted partition rule
	// (partition.go).
	confirm        confirmation
	heartbeatTimer protocol.TimerID
	joinTimer      protocol.TimerID

	takeover      *takeoverState
	deferredCoord []deferredMessage // coordinator work received during a takeover
}

// Membership is this server's part in the membership: who coordinates, what its view lists, the
// partition rule.
func (s *Server) Membership() *GroupMembership { return &s.gms }

// coordinator is the member this server sends coordinator work to.
func (g *GroupMembership) coordinator() Member {
	if g.hintActive() {
		return g.coordHint
	}
	return g.srv.view.coordinator()
}

// IsCoordinator reports whether this server currently acts as the membership coordinator: it is
// the oldest member of its view, takes over from nobody and has no takeover of its own under way.
// Tools use it to route operator requests (rebalance) and to name roles (the chaos monkey's blind
// spots).
func (g *GroupMembership) IsCoordinator() bool {
	return g.srv.joined && !g.srv.stopped && g.takeover == nil && g.srv.view.coordinator() == g.srv.self && !g.hintActive()
}

// hintActive reports whether the member taking over that this server answered still stands in for
// the coordinator: no view of its term has arrived, and the takeover may still complete (twice the
// detection timeout, as for promisedNewerTerm). A takeover given up (its suspect was heard again)
// publishes no view of its term: without the lapse, coordinator work (a copy's Initialized report,
// say) would go to a member that is not the coordinator for the rest of the run. (Found by a
// helper on seeds 350 and 462 of the default scenario.)
func (g *GroupMembership) hintActive() bool {
	return g.coordHint.Valid() && g.coordHintTerm > g.srv.view.Version.Term &&
		g.srv.env.Now()-g.coordHintAt <= protocol.Time(2*g.srv.cfg.FailureDetectionTimeout)
}

// ViewRank is the position of server id in the view this server holds (0: the coordinator), or -1.
func (g *GroupMembership) ViewRank(id protocol.NodeID) int {
	if !g.srv.joined {
		return -1
	}
	return g.srv.view.rankOfID(id)
}

// ViewMember returns the incarnation of server id that this server's view lists, if any.
func (g *GroupMembership) ViewMember(id protocol.NodeID) (Member, bool) {
	if !g.srv.joined {
		return noMember, false
	}
	return g.srv.view.member(id)
}

// EvictionRequested reports whether this server asks for m's removal for a broken connection
// (connections.go).
func (g *GroupMembership) EvictionRequested(m Member) bool { return containsMember(g.evicting, m) }

// InView reports whether the view this server holds lists member m.
func (g *GroupMembership) InView(m Member) bool { return g.srv.joined && g.srv.view.hasMember(m) }
