package kv

import "testing"

// KeepsQuorumWithout is what the fault injectors ask before a kill, a pause or a split. It must
// take the worst case of the joins the coordinator has in hand: a joiner that died since is
// admitted and then removed with the others (its weight joins the loss and the whole alike), while
// a live joiner's weight is not counted on (cascading-failures seed 13: a member killed right
// after its restart was admitted dead, and its removal with another's lost half of the view).
func TestKeepsQuorumWithoutTakesTheWorstCaseOfTheJoins(t *testing.T) {
	cfg := harnessConfig()
	cfg.Partition.Rule = WeightedQuorum
	h := newHarness(t, cfg)
	s0 := h.server("s0") // view s0, s1, s2: weight 15+10+10 = 35
	s1, s2 := Member{ID: 1}, Member{ID: 2}
	deadJoiner, liveJoiner := Member{ID: 3, Inc: 1}, Member{ID: 4, Inc: 1}
	goneOf := func(gone ...Member) func(Member) bool {
		return func(m Member) bool { return containsMember(gone, m) }
	}
	for _, c := range []struct {
		name    string
		joining []Member
		gone    []Member
		want    bool
	}{
		{"nothing gone", nil, nil, true},
		{"one member of three gone: 10 of 35", nil, []Member{s1}, true},
		{"two members gone: 20 of 35", nil, []Member{s1, s2}, false},
		{"one member and a dead joiner: 20 of 45", []Member{deadJoiner}, []Member{s1, deadJoiner}, true},
		{"one member and two dead joiners: 30 of 55", []Member{deadJoiner, {ID: 5, Inc: 1}}, []Member{s1, deadJoiner, {ID: 5, Inc: 1}}, false},
		{"a live joiner is not counted on: 20 of 35", []Member{liveJoiner}, []Member{s1, s2}, false},
		{"a joiner already in the view counts once", []Member{s1}, []Member{s1}, true},
	} {
		if got := s0.gms.KeepsQuorumWithout(c.joining, goneOf(c.gone...)); got != c.want {
			t.Errorf("%s: KeepsQuorumWithout = %v, want %v", c.name, got, c.want)
		}
	}
	cfg.Partition.Rule = NoQuorum
	if !newHarness(t, cfg).server("s0").gms.KeepsQuorumWithout(nil, goneOf(s1, s2)) {
		t.Error("under NoQuorum every change keeps the quorum")
	}
}
