package kv

import (
	"cmp"
	"fmt"
	"hash/fnv"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/membership"
)

// Member is one incarnation of a server (membership.Member): a restarted server comes back empty
// and joins the view as a new member, so everything that must not survive a restart (holdings,
// channel counts, profiles) is keyed by Member rather than by node id.
type Member = membership.Member

// noMember stands for "no member" (no primary, no move target).
var noMember = membership.None

// ConfigVersion orders views (membership.Version): Term grows when a new coordinator takes over;
// Seq counts the views a coordinator issued within its term.
type ConfigVersion = membership.Version

// Version orders the values of one entry. Epoch is the bucket's primary epoch (assigned by the
// coordinator each time the bucket gets a new primary), Counter counts the primary's writes, and
// Member (the writing primary) breaks the tie between two primaries of one epoch, which only a
// coordinator failover can produce. Compared lexicographically; the zero Version is older than any
// written one.
type Version struct {
	Epoch, Counter uint64
	Member         protocol.NodeID
}

// Compare returns -1, 0 or +1.
func (v Version) Compare(o Version) int {
	switch {
	case v.Epoch != o.Epoch:
		return cmp.Compare(v.Epoch, o.Epoch)
	case v.Counter != o.Counter:
		return cmp.Compare(v.Counter, o.Counter)
	case v.Member != o.Member:
		if v.Member < o.Member {
			return -1
		}
		return 1
	}
	return 0
}

// String formats a version as "epoch.counter@writer", e.g. "2.17@s1".
func (v Version) String() string { return fmt.Sprintf("%d.%d@s%d", v.Epoch, v.Counter, v.Member) }

// Entry is one key's state in a bucket: a value or a tombstone, with the version of the write that
// produced it. Tombstones are kept forever so that a delete can never be undone by an older value
// arriving later (from an image chunk or a late replicated write).
type Entry struct {
	Key       string
	Value     string
	Version   Version
	Tombstone bool
}

func (e Entry) String() string {
	if e.Tombstone {
		return fmt.Sprintf("%s=<deleted>@%s", e.Key, e.Version)
	}
	return fmt.Sprintf("%s=%q@%s", e.Key, e.Value, e.Version)
}

// EventID names one client operation: the client and its sequence number. A retry carries the same
// EventID, so a write is applied at most once.
type EventID struct {
	Client protocol.NodeID
	Seq    uint64
}

// BucketOf maps a key to its bucket: FNV-1a (32 bit) of the key modulo the number of buckets. It is
// stable across runs and platforms.
func BucketOf(key string, buckets int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(buckets))
}

// NodeName names a node of a cluster built from cfg: servers "s0".."s<Servers-1>", then clients
// "c0".."c<Clients-1>", then lock clients "l0".."l<Locks.Clients-1>". protocol.External is
// "external".
func NodeName(cfg Config, id protocol.NodeID) string {
	switch {
	case id == protocol.External:
		return "external"
	case id >= 0 && int(id) < cfg.Servers:
		return fmt.Sprintf("s%d", id)
	case int(id) >= cfg.Servers && int(id) < cfg.Servers+cfg.Clients:
		return fmt.Sprintf("c%d", int(id)-cfg.Servers)
	case IsLockClient(cfg, id):
		return fmt.Sprintf("l%d", int(id)-FirstLockClient(cfg))
	}
	return fmt.Sprintf("n%d", id)
}

// IsClient reports whether id is one of cfg's clients: the store's or the lock service's.
func IsClient(cfg Config, id protocol.NodeID) bool {
	return int(id) >= cfg.Servers && int(id) < Nodes(cfg)
}

// IsStoreClient reports whether id is one of the store's clients.
func IsStoreClient(cfg Config, id protocol.NodeID) bool {
	return int(id) >= cfg.Servers && int(id) < cfg.Servers+cfg.Clients
}

// IsLockClient reports whether id is one of the lock service's clients.
func IsLockClient(cfg Config, id protocol.NodeID) bool {
	return int(id) >= FirstLockClient(cfg) && int(id) < Nodes(cfg)
}

// FirstLockClient is the node id of lock client l0.
func FirstLockClient(cfg Config) int { return cfg.Servers + cfg.Clients }

// Nodes is how many nodes the cluster has: servers, store clients and lock clients.
func Nodes(cfg Config) int { return cfg.Servers + cfg.Clients + cfg.Locks.Clients }

// IsServer reports whether id is one of cfg's servers.
func IsServer(cfg Config, id protocol.NodeID) bool {
	return id >= 0 && int(id) < cfg.Servers
}
