package kv

import (
	"cmp"
	"slices"
)

// memberSet is a small set of members kept sorted by id, then incarnation. The members a write, a
// fenced read or a failover sync waits on are a few each, created on every operation: a map cost
// an allocation per set and a sorted copy for every walk that must not depend on map order.
type memberSet []Member

func compareMembers(x, y Member) int {
	if x.ID != y.ID {
		return cmp.Compare(x.ID, y.ID)
	}
	return cmp.Compare(x.Inc, y.Inc)
}

func (s memberSet) has(m Member) bool {
	_, ok := slices.BinarySearchFunc(s, m, compareMembers)
	return ok
}

func (s *memberSet) add(m Member) {
	if i, ok := slices.BinarySearchFunc(*s, m, compareMembers); !ok {
		*s = slices.Insert(*s, i, m)
	}
}

// remove drops m and reports whether it was there.
func (s *memberSet) remove(m Member) bool {
	i, ok := slices.BinarySearchFunc(*s, m, compareMembers)
	if ok {
		*s = slices.Delete(*s, i, i+1)
	}
	return ok
}

// removeIf drops every member for which drop holds, and reports whether it dropped any.
func (s *memberSet) removeIf(drop func(Member) bool) bool {
	n := len(*s)
	*s = slices.DeleteFunc(*s, drop)
	return len(*s) < n
}
