// Package membership is what the components running on a cluster's members share with the
// membership that runs them: who a member is (a server process, one incarnation of it), what a
// component sees of the current view (its version and its members, oldest first, the oldest being
// the elder), the failure detector (Detector: GemFire's ring of heartbeats with a final check by
// another member before a removal; detector.go) and the network partition rule (PartitionConfig:
// GemFire's member weights; partition.go).
//
// The store (protocol/kv) runs the rest of the membership protocol itself today (views, the
// coordinator as the oldest member, takeover, applying the partition rule), driving its Detector through the
// DetectorHost interface; it hands every other component on the same member (the lock service,
// protocol/dlock) a View at each view change, so that those components depend on this small
// interface and not on the store.
package membership

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/stateflush/stateflush/protocol"
)

// Member is one incarnation of a server. A restarted server comes back empty and joins the view as
// a new member, so everything that must not survive a restart is keyed by Member rather than by
// node id.
type Member struct {
	ID  protocol.NodeID
	Inc uint32
}

// None stands for "no member" (no primary, no grantor).
var None = Member{ID: -1}

// Valid reports whether m names a member (is not None).
func (m Member) Valid() bool { return m.ID >= 0 }

// String names a member as its server name, with the incarnation when it is not the first: "s2",
// "s2#1".
func (m Member) String() string {
	if !m.Valid() {
		return "none"
	}
	// A table for the usual ids, strconv beyond: members are named in every view-change event.
	name := serverName(m.ID)
	if m.Inc == 0 {
		return name
	}
	return name + "#" + strconv.FormatUint(uint64(m.Inc), 10)
}

// serverNames are "s0".."s255", built once: naming a member costs no allocation.
var serverNames = func() [256]string {
	var names [256]string
	for i := range names {
		names[i] = "s" + strconv.Itoa(i)
	}
	return names
}()

func serverName(id protocol.NodeID) string {
	if id >= 0 && int(id) < len(serverNames) {
		return serverNames[id]
	}
	return "s" + strconv.Itoa(int(id))
}

// Version orders views: Term grows when a new coordinator takes over, Seq counts the views one
// coordinator issued within its term. Compared lexicographically.
type Version struct {
	Term, Seq uint64
}

// Compare returns -1, 0 or +1.
func (v Version) Compare(o Version) int {
	switch {
	case v.Term != o.Term:
		return cmp.Compare(v.Term, o.Term)
	default:
		return cmp.Compare(v.Seq, o.Seq)
	}
}

// View is what a component sees of one installed view. Members must not be changed: the view it
// comes from is shared.
type View struct {
	Version Version
	// Members lists the view's members oldest first; the first is the elder.
	Members []Member
}

// Elder is the oldest member (None in an empty view).
func (v View) Elder() Member {
	if len(v.Members) == 0 {
		return None
	}
	return v.Members[0]
}

// Has reports whether m is a member of the view.
func (v View) Has(m Member) bool { return slices.Contains(v.Members, m) }

// HasNode reports whether some incarnation of node id is a member, and which.
func (v View) HasNode(id protocol.NodeID) (Member, bool) {
	for _, m := range v.Members {
		if m.ID == id {
			return m, true
		}
	}
	return None, false
}

// String is fmt.Sprintf("t%d.%d", v.Term, v.Seq), concatenated because heartbeats describe it on
// every send.
func (v Version) String() string {
	return "t" + strconv.FormatUint(v.Term, 10) + "." + strconv.FormatUint(v.Seq, 10)
}

// Component is a service that runs on a member beside the one that runs the membership (the lock
// service beside the store): it is told of every view its member installs and of its member
// leaving every view, and handles its own messages and timers, which the host routes to it.
type Component interface {
	// ViewChanged: the member installed v. Left: the member is in no view any more (it asks to
	// join again).
	ViewChanged(env protocol.Env, v View)
	Left(env protocol.Env)
	// Owns reports whether m is one of the component's messages; Receive handles one.
	Owns(m protocol.Message) bool
	Receive(env protocol.Env, from protocol.NodeID, m protocol.Message)
	// TimerKind is the protocol.TimerTag.Kind of the component's timers, apart from its host's;
	// Fire handles one of them.
	TimerKind() int32
	Fire(env protocol.Env, id protocol.TimerID, tag protocol.TimerTag)
}
