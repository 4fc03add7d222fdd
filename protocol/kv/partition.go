package kv

import (
	"fmt"
	"slices"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/membership"
)

// The network partition rule (membership.PartitionConfig: GemFire's weighted rule) as the store
// applies it: a coordinator, or a member taking over, that is about to publish a view removing at
// least half of the previous view's weight at once shuts its side down instead. It tells every
// member of the view it would have published to disconnect, and disconnects itself. A side that
// shut down comes back member by member (a service manager restarts its servers) and joins the
// surviving side once the partition heals.

// The rule's names, kept in this package for configurations written against it.
type (
	PartitionRule   = membership.PartitionRule
	PartitionConfig = membership.PartitionConfig
)

const (
	NoQuorum       = membership.NoQuorum
	WeightedQuorum = membership.WeightedQuorum
)

// ErrUnknownPartitionRule is the sentinel of ParsePartitionRule.
var ErrUnknownPartitionRule = membership.ErrUnknownPartitionRule

// ParsePartitionRule turns "none" or "weights" into a PartitionRule.
func ParsePartitionRule(name string) (PartitionRule, error) {
	return membership.ParsePartitionRule(name)
}

// DefaultPartitionConfig is GemFire's: the weighted rule with weights 10 and 5 more for the lead.
func DefaultPartitionConfig() PartitionConfig { return membership.DefaultPartitionConfig() }

// partitionShutdown applies the partition rule to a view change from prev that removes removed:
// when the change loses at least half of prev's weight, this side of the partition (the members
// of prev it keeps) shuts down, and partitionShutdown reports true (the caller publishes nothing,
// and declares nothing lost). byTakeover says the change is a takeover's.
func (g *GroupMembership) partitionShutdown(prev *View, removed []Member, byTakeover bool) bool {
	rule := g.srv.cfg.Partition
	if rule.Rule != WeightedQuorum || len(removed) == 0 || (byTakeover && g.srv.cfg.Mutants.Has(TakeoverSkipsQuorum)) {
		return false
	}
	lost, total := rule.Loss(prev.Members, removed)
	if 2*lost < total {
		return false
	}
	g.srv.emit(EventNetworkPartition, a("view", prev.Version), a("lost", lost), a("weight", total), a("removed", memberList(removed)))
	for _, m := range prev.Members {
		if m != g.srv.self && !slices.Contains(removed, m) {
			g.srv.send(m, &PartitionShutdown{Hdr: g.srv.hdr(m), View: prev.Version, Lost: lost, Weight: total})
		}
	}
	g.forcedDisconnect(prev, fmt.Sprintf("network partition: the view change would lose %d of %d weight", lost, total))
	return true
}

// onPartitionShutdown: a member of this server's side found that the side lost at least half of the
// cluster's weight. It obeys unless the notice is older than its view's term (a side it has since
// left behind).
func (g *GroupMembership) onPartitionShutdown(from Member, m *PartitionShutdown) {
	if g.srv.view == nil || m.View.Term < g.srv.view.Version.Term {
		g.srv.drops.StaleView++
		return
	}
	g.forcedDisconnect(g.srv.view, fmt.Sprintf("network partition detected by %s: its side lost %d of %d weight", from, m.Lost, m.Weight))
}

// KeepsQuorumWithout reports whether a view change from this server's view that first admitted
// joining (members the view does not list yet: a coordinator admits a join it has in hand before
// it notices that the joiner has died since) and then removed at once every member gone says is
// gone would keep the partition rule satisfied (always, under NoQuorum). Fault injectors use it to
// stay within the cluster's quorum as they stay within its redundancy.
func (g *GroupMembership) KeepsQuorumWithout(joining []Member, gone func(Member) bool) bool {
	if g.srv.cfg.Partition.Rule != WeightedQuorum || g.srv.view == nil {
		return true
	}
	lost, total := g.srv.cfg.Partition.Loss(g.srv.view.Members, nil)
	removed := false
	for _, m := range g.srv.view.Members {
		if gone(m) {
			lost += g.srv.cfg.Partition.Weight(g.srv.view.Members, m)
			removed = true
		}
	}
	// The worst case admits every joiner that is gone and none that is not: a live joiner
	// admitted adds weight that stays, a dead one adds as much to the loss as to the whole.
	for _, m := range joining {
		if !g.srv.view.hasMember(m) && gone(m) {
			total += g.srv.cfg.Partition.MemberWeight // a joiner is never the oldest member
			lost += g.srv.cfg.Partition.MemberWeight
			removed = true
		}
	}
	return !removed || 2*lost < total
}

// confirmingRemoval: under the weighted rule, a coordinator about to remove failed members first
// checks every other member of its view, and removes those that do not answer in the same change,
// as GemFire's coordinator removes the members that do not answer its view preparation. A
// coordinator cut off from most of the cluster finds its suspects failed one at a time (its final
// checks end when they end); without the round each view change would lose a little, none of them
// half, and the cut-off coordinator would go on alone. The suspects that another member found
// failed are checked again too: a checker cut off in one direction finds live members failed, and
// under the rule a wrong removal can shut a side down. It reports true while the round runs; the
// heartbeat timer (in the foreground meanwhile, anyOverdue) and each check's end ask again.
func (g *GroupMembership) confirmingRemoval(suspects []Member) bool {
	if g.srv.cfg.Partition.Rule != WeightedQuorum {
		return false
	}
	if g.confirm.members == nil {
		g.confirm.suspects, g.confirm.at = slices.Clone(suspects), g.srv.env.Now()
		g.confirm.silentRestarts = 0
		g.startConfirmationRound(func(m Member) bool { return !slices.Contains(suspects, m) || !g.foundFailedItself(m) })
	}
	for _, m := range g.confirm.members {
		if g.det.Checking(m) {
			return true
		}
	}
	if g.confirm.healed {
		// A member found failed came back while the round ran: the cut that silenced the
		// others may have healed too, their answers still in flight (the checks counted the
		// time the requests were held). Removing them now would remove part of the other side
		// without the rule seeing that half was lost; check everyone again, suspects included.
		g.confirm.healed = false
		g.startConfirmationRound(func(Member) bool { return true })
		return true
	}
	// A suspect that another member's verdict found failed after this round's check of it was
	// answered is checked again: the verdict may come from a member cut off in one direction.
	// Taken on trust, it had the coordinator remove a live member that had just answered, together
	// with the members really gone, and the change lost half of the weight (partitions seed 74).
	again := false
	for _, m := range suspects {
		if !containsMember(g.evicting, m) && !g.foundFailedItself(m) {
			g.det.StartFinalCheck(m, noMember)
			if !containsMember(g.confirm.members, m) {
				g.confirm.members = append(g.confirm.members, m)
			}
			again = true
		}
	}
	if again {
		return true
	}
	if g.confirm.silentRestarts < maxSilentRestarts && g.wentSilentDuringRound(suspects) {
		// The round found failed a member that had been heard from shortly before it began: its
		// silence began around the round, after (or as) the others answered, and the event that
		// silenced it (a split) may have cut some of them off too. Their answers predate it, so
		// before removing anyone, or shutting down, check them again (GemFire prepares the view
		// again with the members that did not answer the preparation). Without this round a
		// coordinator cut off from most of the cluster removes less than half, keeping members
		// it has lost, and goes on alone (partitions seed 943: s0 kept s2 and s3, whose answers
		// came before the split that also silenced s4); or it shuts down and takes a member of
		// the other side with it (seed 131: s0 told s3, which had answered just before the
		// split, to shut down, and the side left with s1 and s2 lost the quorum).
		g.confirm.suspects, g.confirm.at = slices.Clone(suspects), g.srv.env.Now()
		g.confirm.silentRestarts++
		g.startConfirmationRound(func(m Member) bool { return !slices.Contains(suspects, m) })
		return true
	}
	g.confirm.members = nil
	return false
}

// confirmation is a coordinator's confirmation round under the weighted rule: the members it
// checks before it removes anyone (members; nil while no round runs), the suspects the round
// started for and when (suspects, at), how often it began again because a member went silent
// during it (at most maxSilentRestarts), and whether a member found failed was heard from again
// while it ran (healed: a split healed part-way through it, so its silences may be stale).
type confirmation struct {
	members        []Member
	suspects       []Member
	at             protocol.Time
	silentRestarts int
	healed         bool
}

// maxSilentRestarts bounds how often one confirmation round begins again because a member went
// silent during it. A split silences its side within a detection timeout, so one or two more
// rounds see all of it; in a large cluster something fails during every round (at 100 servers,
// the monkey, host failures and connection losses), and unbounded restarts kept members that had
// asked for their own removal in the view for seven rounds (566 ms, past the monitor's grace).
// Failures after the last restart go into the next change, as GemFire leaves members that fail
// while a view is prepared to the next view.
const maxSilentRestarts = 2

// startConfirmationRound starts a round: a final check of every other member of the view that
// check accepts, except those this server has asked to remove.
func (g *GroupMembership) startConfirmationRound(check func(Member) bool) {
	g.confirm.members = []Member{}
	for _, m := range g.srv.view.Members {
		if m != g.srv.self && !containsMember(g.evicting, m) && check(m) {
			g.det.StartFinalCheck(m, noMember)
			g.confirm.members = append(g.confirm.members, m)
		}
	}
}

// wentSilentDuringRound reports whether the confirmation round found failed a member it did not
// start for, one heard from within a detection timeout before the round began. A member silent for
// longer was cut off or dead before the round, and the others' answers came after that, so they
// show the others survived whatever silenced it.
func (g *GroupMembership) wentSilentDuringRound(suspects []Member) bool {
	for _, m := range suspects {
		if !slices.Contains(g.confirm.suspects, m) && g.srv.lastHeard[m.ID]+protocol.Time(g.srv.cfg.FailureDetectionTimeout) >= g.confirm.at {
			return true
		}
	}
	return false
}

// promisedNewerTerm reports whether this server, under the weighted rule, answered a takeover of a
// newer term than view v's, recently enough that the takeover may still complete: it then refuses
// v (it is not installed, and a removal in it does not disconnect this server). Two coordinators
// can each lose less than half of their own previous view at once, the old one because its
// removals end after a split mends and the new one because it counted the other side's losses
// only: a member both ask must side with one, and it promised the newer. The promise lapses
// after twice the detection timeout, the longest a live takeover takes, so that a member whose
// promised coordinator died goes back to its old one.
//
// The promise also ends when v lists a newer incarnation of the promised coordinator: that
// incarnation restarted (the view of the older term removed it, and it disconnected) and joined as
// a new member, so its takeover is over. Refusing on, this server would keep serving a view the
// surviving lineage has left, helping that lineage create copies while it does not follow it.
func (g *GroupMembership) promisedNewerTerm(v *View) bool {
	if m, ok := v.member(g.coordHint.ID); ok && g.coordHint.Valid() && m.Inc > g.coordHint.Inc {
		return false
	}
	return g.srv.cfg.Partition.Rule == WeightedQuorum && g.coordHint.Valid() && v.Version.Term < g.coordHintTerm &&
		v.coordinator() != g.coordHint && g.srv.env.Now()-g.coordHintAt <= protocol.Time(2*g.srv.cfg.FailureDetectionTimeout)
}

// releasePromise: the member this server promised a newer term sends a view of an older term, so
// it has given up its takeover and stays in that view (abandonTakeover): the promise ends at once,
// and the views it made this server refuse are taken up again.
func (g *GroupMembership) releasePromise(from Member, v *View) {
	if !g.coordHint.Valid() || from != g.coordHint || v.Version.Term >= g.coordHintTerm {
		return
	}
	g.coordHint = noMember
	g.reconsiderRefusedViews()
}

// reconsiderRefusedViews: once the promise has lapsed (the newer takeover did not complete in
// time), the views it made this server refuse are taken up again, in the order they came, those
// still newer than its view: one of them may be the only notice that it was removed (the others
// tell a departed member once).
func (g *GroupMembership) reconsiderRefusedViews() {
	if len(g.refusedViews) == 0 || (g.coordHint.Valid() && g.srv.env.Now()-g.coordHintAt <= protocol.Time(2*g.srv.cfg.FailureDetectionTimeout)) {
		return
	}
	refused := g.refusedViews
	g.refusedViews = nil
	for _, m := range refused {
		if !g.srv.stopped && g.srv.joined && m.View.Version.Compare(g.srv.view.Version) > 0 {
			g.onView(m)
		}
	}
}

// foundFailedItself reports whether this server's own final check found m failed (rather than
// another member's verdict).
func (g *GroupMembership) foundFailedItself(m Member) bool {
	f := g.det.Failure(m)
	return f != nil && f.Announced
}

// confirmedItself reports whether this server has evidence of its own that m failed: its own final
// check found it failed, or it watched m, heard nothing from it for the timeout, and the checker it
// reported m to found it failed too.
func (g *GroupMembership) confirmedItself(m Member) bool {
	f := g.det.Failure(m)
	return f != nil && (f.Confirmed || f.Announced)
}

// verifyingOlderVerdicts: under the weighted rule, a member about to take over first checks, itself,
// every older member it holds failed only on another member's verdict, and waits for those checks
// (each one's end acts on the failures again). A verdict from a checker that was cut off from the
// suspect, on the side of a split that then shut down, reaches this side when the split mends:
// taken on trust, it made a member take over in place of a live older member of its own side,
// remove that member with the other side and, losing half of the weight, shut its side down, so
// that neither side served (seeds 5757, 8094). An older member this server watched itself and
// reported, and whose checker confirmed the silence, is not checked again: that is the usual
// failover (the coordinator's watcher and the coordinator's checker), which stays as fast as it
// was; checking it again gave a member cut off in one direction the time to finish a takeover of
// its own (partitions seed 871).
func (g *GroupMembership) verifyingOlderVerdicts(older []Member) bool {
	if g.srv.cfg.Partition.Rule != WeightedQuorum {
		return false
	}
	waiting := false
	for _, m := range older {
		if g.confirmedItself(m) || containsMember(g.evicting, m) {
			continue
		}
		g.det.StartFinalCheck(m, noMember)
		waiting = true
	}
	return waiting
}
