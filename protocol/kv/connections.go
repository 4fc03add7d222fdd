package kv

import "github.com/stateflush/stateflush/protocol"

// Connection loss. The store's channels between servers are TCP connections: reliable and FIFO
// while they last. When one breaks (protocol.ConnectionLost: a reset, a NIC flap), what was on it
// is lost, and the store cannot tell which writes, acknowledgements, flush records or views went
// with it; the two members would disagree from then on about what the other has. So the store
// treats a broken connection as GemFire treats a member that stops acknowledging: it removes one
// end from the view, which every protocol step already survives (a departed recipient counts as
// having acknowledged, a departed flusher as flushed; the removed member learns of it, disconnects
// and rejoins as a new member). The older end of the connection reports it and the younger one is
// removed: the coordinator is the oldest member, so it is never the one removed by its own report,
// and a member never has to ask the coordinator to remove the coordinator. The removal does not
// wait for the failure detector: the member is alive and answers every check, and that is exactly
// what must not keep it.

//
// Until the removal, neither end takes another bucket message from the other: what arrives over
// the new connection may follow a gap (a later write of a key whose earlier write, with its event
// id, was lost), and applying it would leave a copy that looks current but has forgotten a write's
// event id, so that a retry of that write would be applied twice. Membership messages (views,
// heartbeats, checks, takeovers) still pass: each carries its whole state and no gap can hurt it.

// onConnectionLost: this server's transport reports that its connection to peer broke.
func (g *GroupMembership) onConnectionLost(peer protocol.NodeID) {
	if !g.srv.joined || g.srv.stopped || g.srv.cfg.Mutants.Has(IgnoreConnectionLoss) {
		return
	}
	m, ok := g.srv.view.member(peer)
	if !ok {
		return
	}
	if inc := g.srv.newestInc[peer]; inc > m.Inc {
		// The connection was with a later incarnation of peer than this view lists: peer restarted
		// and asked to join, and a view admitting it, as the youngest member, has not reached this
		// server. Taken for the member listed (older than this server), the loss would have this
		// server ask for its own removal, and the coordinator would remove both ends (steady-monkey
		// seeds 4167 and 8821: with a crashed member, that lost half of the weight and shut the
		// cluster down). This server is the older end: it has the joiner removed, asking until a
		// view carries it out (the coordinator may not have admitted it yet, and the joiner, outside
		// any view, ignores the loss; steady-monkey seed 4660: nobody asked, and this server
		// refused the joiner's bucket messages for good).
		j := Member{ID: peer, Inc: inc}
		g.brokenWith = append(g.brokenWith, j)
		g.srv.emit(EventConnectionLost, a("member", j))
		g.requestEviction(j)
		return
	}
	g.brokenWith = append(g.brokenWith, m)
	if g.srv.view.rank(m) < g.srv.view.rank(g.srv.self) {
		// The older end: peer reports it. But peer may not have installed a view listing this
		// server yet (the connection broke while this server was joining): it then ignores the
		// loss, and without a removal this server would refuse peer's bucket messages forever.
		// So the younger end asks for its own removal too.
		g.requestEviction(g.srv.self)
		return
	}
	g.srv.emit(EventConnectionLost, a("member", m))
	g.requestEviction(m)
}

// requestEviction has the coordinator remove m, or removes it when this server coordinates. The
// request is repeated at every heartbeat until a view without m is installed (the coordinator may
// be busy with a takeover, or die).
func (g *GroupMembership) requestEviction(m Member) {
	if !containsMember(g.evicting, m) {
		g.evicting = append(g.evicting, m)
	}
	if g.IsCoordinator() {
		g.actOnFailures()
		return
	}
	if c := g.srv.view.coordinator(); c != g.srv.self {
		g.srv.send(c, &EvictRequest{Hdr: g.srv.hdr(c), Member: m})
	}
}

// onEvictRequest: a member lost its connection to m and asks the coordinator to remove m.
func (g *GroupMembership) onEvictRequest(from Member, r *EvictRequest) {
	if !g.srv.view.hasMember(r.Member) || r.Member == g.srv.self {
		return
	}
	if !containsMember(g.evicting, r.Member) {
		g.evicting = append(g.evicting, r.Member)
	}
	if g.IsCoordinator() {
		g.actOnFailures()
	}
}

// brokenConnection reports whether this server's connection to m broke (and m is still in the
// view): m's bucket messages are refused.
func (g *GroupMembership) brokenConnection(m Member) bool { return containsMember(g.brokenWith, m) }

// retryEvictions drops the evictions and broken connections a view has settled (their member left)
// and repeats the other eviction requests.
func (g *GroupMembership) retryEvictions() {
	broken := g.brokenWith[:0]
	brokenInView := false
	for _, m := range g.brokenWith {
		if g.srv.view.hasMember(m) {
			broken = append(broken, m)
			brokenInView = true
		} else if g.awaitingAdmission(m) {
			broken = append(broken, m) // the view admitting it is still to come (onConnectionLost)
		}
	}
	g.brokenWith = broken
	keep := g.evicting[:0]
	for _, m := range g.evicting {
		// This server's own removal is wanted only while a connection to an older member is
		// still broken (that member left otherwise, and the gap with it).
		if (g.srv.view.hasMember(m) || g.awaitingAdmission(m)) && (m != g.srv.self || brokenInView) {
			keep = append(keep, m)
		}
	}
	g.evicting = keep
	if len(g.evicting) == 0 || g.IsCoordinator() {
		return
	}
	if c := g.srv.view.coordinator(); c != g.srv.self {
		for _, m := range g.evicting {
			g.srv.send(c, &EvictRequest{Hdr: g.srv.hdr(c), Member: m})
		}
	}
}

// awaitingAdmission reports whether m is a later incarnation of a server than the one the view
// lists (if any), the newest this server has heard from, and has not left a view this server
// installed: a restarted server whose admission has not reached this server yet.
func (g *GroupMembership) awaitingAdmission(m Member) bool {
	listed, ok := g.srv.view.member(m.ID)
	return (!ok || listed.Inc < m.Inc) && m.Inc >= g.srv.newestInc[m.ID] && !g.srv.departed[m]
}

// evictedInView lists, in view order, the members to remove for a broken connection.
func (g *GroupMembership) evictedInView() []Member {
	var out []Member
	for _, m := range g.srv.view.Members {
		if m != g.srv.self && containsMember(g.evicting, m) {
			out = append(out, m)
		}
	}
	return out
}

func containsMember(ms []Member, m Member) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}
