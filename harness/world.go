package harness

import (
	"slices"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
)

// The fault injectors' guards. The monkey keeps every bucket within its redundancy and the cluster
// within its quorum, and the nemesis splits the servers only where the cluster is designed to
// survive the split: one side keeps more than half of the view's weight and a complete copy of
// every bucket. Faults beyond that lose data by design (a side that shuts down takes its copies
// with it; there is no persistence), which is what the beyond-redundancy scenario studies.
//
// While a split is under way, only the side that keeps the quorum counts: the other side's members
// and copies will be removed with it.

// split is the nemesis's server partition under way.
type split struct{ a, b []protocol.NodeID }

// healthy reports whether a member of the view runs as listed and serves: alive, its listed
// incarnation, not paused, stopped or quarantined after a lapse, and no server asks for its removal.
// The others will be removed, or may be, before they are of use. A guard's query asks it of every
// member for every server's view, so it is computed once per query for each server's running
// incarnation (health) rather than per question.
func (w *kvWorld) healthy(m kv.Member) bool {
	srv := w.server(m.ID)
	if inc, ok := w.evicted[m.ID]; ok && inc == m.Inc {
		return false // the younger end of a broken connection: the store removes it
	}
	if e, ok := w.mayEvict[m.ID]; ok && e.inc == m.Inc && w.sim.Now() <= e.until {
		return false // it may be the end removed (breakConnection), until the loss is known
	}
	if !w.sim.Alive(m.ID) || w.sim.Incarnation(m.ID) != m.Inc || w.sim.Paused(m.ID) ||
		srv == nil || srv.Stopped() || srv.Membership().QuarantinedAt(w.sim.Now()) {
		return false
	}
	// Last, as it asks every server: a member whose removal another asks for (a broken
	// connection) is on its way out.
	for i := 0; i < w.cfg.Servers; i++ {
		if other := w.server(protocol.NodeID(i)); other != nil && w.sim.Alive(protocol.NodeID(i)) && other.Membership().EvictionRequested(m) {
			return false
		}
	}
	return true
}

// health answers healthy for the servers' members as they are at one instant.
type health struct {
	incs []uint32 // the running incarnation of each server
	ok   []bool   // whether that incarnation is healthy
}

func (w *kvWorld) health() health {
	h := health{incs: make([]uint32, w.cfg.Servers), ok: make([]bool, w.cfg.Servers)}
	for i := range h.ok {
		id := protocol.NodeID(i)
		h.incs[i] = w.sim.Incarnation(id)
		h.ok[i] = w.healthy(kv.Member{ID: id, Inc: h.incs[i]})
	}
	return h
}

func (h health) of(m kv.Member) bool {
	return int(m.ID) >= 0 && int(m.ID) < len(h.ok) && h.incs[m.ID] == m.Inc && h.ok[m.ID]
}

// servers is a set of servers, indexed by id.
type servers []bool

func (w *kvWorld) allServers() servers {
	all := make(servers, w.cfg.Servers)
	for i := range all {
		all[i] = true
	}
	return all
}

func (w *kvWorld) serverSet(ids []protocol.NodeID) servers {
	set := make(servers, w.cfg.Servers)
	for _, id := range ids {
		set[id] = true
	}
	return set
}

func (set servers) has(id protocol.NodeID) bool { return int(id) >= 0 && int(id) < len(set) && set[id] }

// without is the set less the victims.
func (set servers) without(victims ...protocol.NodeID) servers {
	out := slices.Clone(set)
	for _, v := range victims {
		if out.has(v) {
			out[v] = false
		}
	}
	return out
}

// SafeToKill holds when every bucket keeps at least one initialized copy without the victim on a
// healthy member the view lists (on the side keeping the quorum, during a split).
func (w *kvWorld) SafeToKill(victim protocol.NodeID) bool {
	return w.copiesOn(w.survivingSide().without(victim), w.health())
}

// KeepsQuorum reports whether the next view change would keep more than half of the view's weight
// if the victim went down now, with the members already down, paused or out of service (and,
// during a split, the other side): the partition rule would shut the whole cluster down otherwise.
func (w *kvWorld) KeepsQuorum(victim protocol.NodeID) bool {
	return w.keepsQuorumOn(w.survivingSide().without(victim), w.health())
}

// safeToSplit reports whether splitting the servers into a and b leaves one side with the
// quorum and a complete copy of every bucket.
func (w *kvWorld) safeToSplit(a, b []protocol.NodeID) bool {
	h := w.health()
	for _, side := range [][]protocol.NodeID{a, b} {
		in := w.serverSet(side)
		if w.keepsQuorumOn(in, h) && w.copiesOn(in, h) {
			return true
		}
	}
	return false
}

// survivingSide is every server, or during a split the side that keeps the quorum (none when
// neither does).
func (w *kvWorld) survivingSide() servers {
	if w.split == nil {
		return w.allServers()
	}
	h := w.health()
	for _, side := range [][]protocol.NodeID{w.split.a, w.split.b} {
		if in := w.serverSet(side); w.keepsQuorumOn(in, h) {
			return in
		}
	}
	return make(servers, w.cfg.Servers)
}

// keepsQuorumOn reports whether the healthy members among the servers `on` holds keep more than
// half of the coordinator's view's weight, and of the view of every healthy member among them: the
// next view change may be built from any of those (a coordinator that crashes right after
// publishing a view may leave the others on the previous one, and a member taking over removes
// from its own view).
func (w *kvWorld) keepsQuorumOn(on servers, h health) bool {
	id, ok := w.coordinator()
	if !ok {
		return true
	}
	gone := func(m kv.Member) bool { return !on.has(m.ID) || !h.of(m) }
	joining := w.joiners(w.server(id))
	if !w.server(id).Membership().KeepsQuorumWithout(joining, gone) {
		return false
	}
	for i := 0; i < w.cfg.Servers; i++ {
		srv := w.server(protocol.NodeID(i))
		if srv == nil || !on.has(protocol.NodeID(i)) || !srv.Joined() || !h.of(srv.Self()) {
			continue
		}
		if !srv.Membership().KeepsQuorumWithout(joining, gone) {
			return false
		}
	}
	return true
}

// joiners lists the servers that the coordinator's view does not list and that have not joined
// (or died before they did): the coordinator may admit any of them, its join in hand, before it
// removes the members gone, and a dead joiner is then lost weight too (cascading-failures seed 13:
// a member killed right after its restart was admitted, dead, and its removal with another's lost
// half of the view).
func (w *kvWorld) joiners(coord *kv.Server) []kv.Member {
	var joining []kv.Member
	for i := 0; i < w.cfg.Servers; i++ {
		srv := w.server(protocol.NodeID(i))
		if srv != nil && !srv.Joined() && !srv.Stopped() && !coord.Membership().InView(srv.Self()) {
			joining = append(joining, srv.Self())
		}
	}
	return joining
}

// copiesOn reports whether every bucket has an initialized copy on a healthy member that the
// coordinator's view lists, among the servers `on` accepts. A paused member's copies may be removed
// before it resumes, a removed member's are void, and a quarantined member's may still be removed.
func (w *kvWorld) copiesOn(on servers, h health) bool {
	copies := make([]int, w.cfg.Buckets)
	var coord *kv.Server
	if id, ok := w.coordinator(); ok {
		coord = w.server(id)
	}
	for id := 0; id < w.cfg.Servers; id++ {
		node := protocol.NodeID(id)
		srv := w.server(node)
		if !on.has(node) || srv == nil || !h.of(srv.Self()) || (coord != nil && !coord.Membership().InView(srv.Self())) {
			continue
		}
		for _, b := range srv.InitializedBuckets() {
			copies[b]++
		}
	}
	return !slices.Contains(copies, 0)
}

// takesItselfForYounger reports whether server e's view lists an earlier incarnation of server p
// than the one running, ranked older than e: e then asks for its own removal when their
// connection breaks, unless it hears from p's new incarnation first.
func (w *kvWorld) takesItselfForYounger(e, p protocol.NodeID) bool {
	srv := w.server(e)
	if srv == nil {
		return false
	}
	listed, ok := srv.Membership().ViewMember(p)
	return ok && listed.Inc != w.sim.Incarnation(p) && srv.Membership().ViewRank(p) < srv.Membership().ViewRank(e)
}

// safeToRemove reports whether every bucket keeps an initialized copy, and the cluster its quorum,
// without the victims (as SafeToKill and KeepsQuorum for one).
func (w *kvWorld) safeToRemove(victims []protocol.NodeID) bool {
	on, h := w.survivingSide().without(victims...), w.health()
	return w.copiesOn(on, h) && w.keepsQuorumOn(on, h)
}

// younger is whichever of two servers the coordinator's view lists later (the end of a broken
// connection the store removes), or y when the view lists neither. A server whose running
// incarnation the view does not list is joining, and younger than every member: the store removes
// it, not the member it broke with, also when the view still lists its previous incarnation
// (steady-monkey seed 7659: the guard took the member for the younger end, and the monkey then
// killed that member while the joiner's removal was under way, losing half of the weight).
func (w *kvWorld) younger(x, y protocol.NodeID) protocol.NodeID {
	id, ok := w.coordinator()
	if !ok {
		return y
	}
	coord := w.server(id)
	rank := func(n protocol.NodeID) int {
		if srv := w.server(n); srv == nil || !coord.Membership().InView(srv.Self()) {
			return -1
		}
		return coord.Membership().ViewRank(n)
	}
	switch rx, ry := rank(x), rank(y); {
	case rx < 0 && ry >= 0:
		return x
	case ry < 0:
		return y
	case rx > ry:
		return x
	}
	return y
}

// coordinator returns the live server that believes it coordinates the newest view, or the lowest
// live server. Two can believe it at once: a coordinator cut off by a split goes on believing it
// until it learns that the other side took over, and its view still lists the members and copies
// that the takeover removed. The first of them by id was the old one there, and its removed copies
// counted as the survivors' (seed 7985: the monkey killed the only copy of a bucket on the side
// that took over, counting the copy of a coordinator the takeover had removed, which then
// disconnected).
func (w *kvWorld) coordinator() (protocol.NodeID, bool) {
	fallback, found := protocol.NodeID(-1), false
	coord, isCoord := protocol.NodeID(-1), false
	for id := 0; id < w.cfg.Servers; id++ {
		srv := w.server(protocol.NodeID(id))
		if srv == nil {
			continue
		}
		if srv.Membership().IsCoordinator() && (!isCoord || srv.ViewVersion().Compare(w.server(coord).ViewVersion()) > 0) {
			coord, isCoord = protocol.NodeID(id), true
		}
		if !found {
			fallback, found = protocol.NodeID(id), true
		}
	}
	if isCoord {
		return coord, true
	}
	return fallback, found
}
