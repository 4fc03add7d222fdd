package kv

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/stateflush/stateflush/protocol"
)

// View is what the coordinator decides and distributes: the members (oldest first; the first is the
// coordinator) and each bucket's metadata. A View is immutable once sent; the coordinator changes
// a clone.
type View struct {
	Version ConfigVersion
	Members []Member
	Buckets []BucketMeta

	// names caches memberNames: a view is immutable once sent, and every member that installs it
	// names its members in a view-change event.
	names string
	// rankByID caches each node id's position in Members (-1: not a member), built on first use:
	// every message a server receives looks its sender up, and a scan of the members made that
	// cost grow with the cluster.
	rankByID []int32
	// bucketsByID caches, per node id, the buckets whose holders include that id (any
	// incarnation), built on first use by installedBucketsOf: every member that installs the view
	// reconciles the buckets it is listed for, and finding them by a scan of every bucket made each
	// view cost every member the cluster's buckets.
	bucketsByID [][]int
}

// BucketMeta is the coordinator's record of one bucket.
type BucketMeta struct {
	// Holders lists every member with a copy, initialized or being created, sorted by node id.
	Holders []HolderMeta
	// Primary serves the bucket's operations (noMember while no initialized copy can be primary).
	Primary Member
	// Epoch counts primary assignments; it is the first component of every version the primary writes.
	Epoch uint64
	// Lost: no initialized copy was left; the bucket's data is gone and its operations fail.
	Lost bool
	// MoveTarget is the copy a rebalance is creating; when it is initialized one old copy is removed.
	MoveTarget Member
}

// HolderMeta is one copy of a bucket.
type HolderMeta struct {
	Member      Member
	Initialized bool
	// Since is the version of the view that assigned the copy. A holder drops the copy's profile
	// only on a newer view that no longer lists it: an older view, overtaken on another channel by
	// the new copy's announce, must not undo the announce.
	Since ConfigVersion
}

// initialView is the view every first-incarnation server starts with: all servers, bucket b on
// servers b, b+1, ... (mod Servers), primary on server b mod Servers.
func initialView(cfg Config) *View {
	v := &View{Version: ConfigVersion{Term: 1, Seq: 1}}
	for id := 0; id < cfg.Servers; id++ {
		v.Members = append(v.Members, Member{ID: protocol.NodeID(id)})
	}
	for b := 0; b < cfg.Buckets; b++ {
		meta := BucketMeta{Primary: Member{ID: protocol.NodeID(b % cfg.Servers)}, Epoch: 1, MoveTarget: noMember}
		for i := 0; i < cfg.Redundancy; i++ {
			meta.Holders = append(meta.Holders, HolderMeta{
				Member:      Member{ID: protocol.NodeID((b + i) % cfg.Servers)},
				Initialized: true,
				Since:       v.Version,
			})
		}
		sortHolders(meta.Holders)
		v.Buckets = append(v.Buckets, meta)
	}
	return v
}

func (v *View) clone() *View {
	c := &View{Version: v.Version, Members: append([]Member(nil), v.Members...)}
	// The buckets' holder lists are shared, copy on write: a view change touches a few buckets, and
	// copying every list made each change cost the whole cluster's buckets in allocations. The
	// capacity is cut to the length so that an append copies; the few in-place edits copy first
	// (ownHolders).
	c.Buckets = make([]BucketMeta, len(v.Buckets))
	for i, b := range v.Buckets {
		b.Holders = b.Holders[:len(b.Holders):len(b.Holders)]
		c.Buckets[i] = b
	}
	return c
}

func (v *View) coordinator() Member { return v.Members[0] }

// member returns the member with node id id, if any.
func (v *View) member(id protocol.NodeID) (Member, bool) {
	if r := v.rankOfID(id); r >= 0 {
		return v.Members[r], true
	}
	return noMember, false
}

func (v *View) hasMember(m Member) bool { return v.rank(m) >= 0 }

// rank is the member's age rank (0 = oldest), or -1.
func (v *View) rank(m Member) int {
	if r := v.rankOfID(m.ID); r >= 0 && v.Members[r] == m {
		return r
	}
	return -1
}

// rankOfID is the position in Members of the member with node id id, or -1.
func (v *View) rankOfID(id protocol.NodeID) int {
	if r := v.cachedRank(id); r < 0 || (r < len(v.Members) && v.Members[r].ID == id) {
		return r
	}
	// Members were reordered in place after the cache was built (a takeover moves the new
	// coordinator to the front): build it again.
	v.rankByID = nil
	return v.cachedRank(id)
}

// membersChanged drops the caches of a view under construction whose members were added or
// removed.
func (v *View) membersChanged() { v.rankByID, v.names = nil, "" }

func (v *View) cachedRank(id protocol.NodeID) int {
	if v.rankByID == nil {
		top := protocol.NodeID(0)
		for _, m := range v.Members {
			top = max(top, m.ID+1)
		}
		v.rankByID = make([]int32, top)
		for i := range v.rankByID {
			v.rankByID[i] = -1
		}
		for i, m := range v.Members {
			v.rankByID[m.ID] = int32(i)
		}
	}
	if id < 0 || int(id) >= len(v.rankByID) {
		return -1
	}
	return int(v.rankByID[id])
}

// installedBucketsOf lists, in bucket order, the buckets whose holders include node id (any
// incarnation). It is only for a view that has been published: the list is built once and a view
// under construction (changed in place by the coordinator) would leave it stale.
func (v *View) installedBucketsOf(id protocol.NodeID) []int {
	if v.bucketsByID == nil {
		// Two passes, so that every member's list is a window of one array.
		top := protocol.NodeID(0)
		total := 0
		for i := range v.Buckets {
			for _, h := range v.Buckets[i].Holders {
				top = max(top, h.Member.ID+1)
				total++
			}
		}
		counts := make([]int, top+1)
		for i := range v.Buckets {
			for _, h := range v.Buckets[i].Holders {
				counts[h.Member.ID+1]++
			}
		}
		for id := 1; id <= int(top); id++ {
			counts[id] += counts[id-1]
		}
		flat := make([]int, total)
		v.bucketsByID = make([][]int, top)
		for id := range v.bucketsByID {
			v.bucketsByID[id] = flat[counts[id]:counts[id]:counts[id+1]]
		}
		for i := range v.Buckets {
			for _, h := range v.Buckets[i].Holders {
				if l := v.bucketsByID[h.Member.ID]; len(l) == 0 || l[len(l)-1] != i {
					v.bucketsByID[h.Member.ID] = append(l, i)
				}
			}
		}
	}
	if id < 0 || int(id) >= len(v.bucketsByID) {
		return nil
	}
	return v.bucketsByID[id]
}

func (v *View) memberNames() string {
	if v.names != "" {
		return v.names
	}
	names := make([]string, len(v.Members))
	for i, m := range v.Members {
		names[i] = m.String()
	}
	v.names = strings.Join(names, ",")
	return v.names
}

// holdings counts the copies each member holds (its load, for placing new copies).
func (v *View) holdings(m Member) int {
	n := 0
	for i := range v.Buckets {
		if v.Buckets[i].holder(m) >= 0 {
			n++
		}
	}
	return n
}

// loads counts the copies each member holds, in one pass over the buckets.
func (v *View) loads() map[Member]int {
	n := make(map[Member]int, len(v.Members))
	for i := range v.Buckets {
		for _, h := range v.Buckets[i].Holders {
			n[h.Member]++
		}
	}
	return n
}

// holder returns the index of m in Holders, or -1.
func (b *BucketMeta) holder(m Member) int {
	for i, h := range b.Holders {
		if h.Member == m {
			return i
		}
	}
	return -1
}

func (b *BucketMeta) initializedHolders() []Member {
	var out []Member
	for _, h := range b.Holders {
		if h.Initialized {
			out = append(out, h.Member)
		}
	}
	return out
}

// creating reports whether a copy of the bucket is being created (an uninitialized holder exists).
func (b *BucketMeta) creating() bool {
	for _, h := range b.Holders {
		if !h.Initialized {
			return true
		}
	}
	return false
}

func (b *BucketMeta) removeHolder(m Member) {
	if i := b.holder(m); i >= 0 {
		b.ownHolders()
		b.Holders = slices.Delete(b.Holders, i, i+1)
	}
}

// ownHolders gives b a holder list of its own before an edit in place: after clone it shares the
// list with the view it was cloned from, which may have been sent already.
func (b *BucketMeta) ownHolders() { b.Holders = slices.Clone(b.Holders) }

func sortHolders(hs []HolderMeta) {
	slices.SortFunc(hs, func(x, y HolderMeta) int { return cmp.Compare(x.Member.ID, y.Member.ID) })
}

func sortMembers(ms []Member) { slices.SortFunc(ms, compareMembers) }

// bucketSummary renders every bucket's holders: "0:[s0* s1 s2?]" (* primary, ? uninitialized),
// "1:lost".
func (v *View) bucketSummary() string {
	parts := make([]string, len(v.Buckets))
	for i, b := range v.Buckets {
		if b.Lost {
			parts[i] = strconv.Itoa(i) + ":lost"
			continue
		}
		hs := make([]string, len(b.Holders))
		for k, h := range b.Holders {
			hs[k] = h.Member.String()
			if h.Member == b.Primary {
				hs[k] += "*"
			}
			if !h.Initialized {
				hs[k] += "?"
			}
		}
		parts[i] = strconv.Itoa(i) + ":[" + strings.Join(hs, " ") + "]"
	}
	return strings.Join(parts, " ")
}
