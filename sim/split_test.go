package sim_test

import (
	"errors"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/trace"
)

// A one-way split cuts only what its first group sends; mending it restores the links it cut and
// leaves another cut (a client's partition) in place; both records name who made them.
func TestSplitOneWayAndMendLeaveOtherCutsInPlace(t *testing.T) {
	got := map[protocol.NodeID][]protocol.Time{}
	s := newCluster(t, 4, broadcaster(10, got), nil)
	s.At(0, "split", func() {
		if err := s.Split([]protocol.NodeID{0}, []protocol.NodeID{1, 2}, true, "nemesis"); err != nil {
			t.Fatal(err)
		}
		if err := s.Partition([]protocol.NodeID{3}, []protocol.NodeID{0}); err != nil {
			t.Fatal(err)
		}
		if !s.Partitioned(0, 1) || s.Partitioned(1, 0) || !s.Partitioned(0, 3) {
			t.Fatal("Partitioned disagrees with the one-way split")
		}
	})
	s.At(4*ms+500, "mend", func() {
		if err := s.Mend([]protocol.NodeID{0}, []protocol.NodeID{1, 2}, "nemesis"); err != nil {
			t.Fatal(err)
		}
	})
	s.Run()
	for _, id := range []protocol.NodeID{1, 2} {
		if len(got[id]) != 5 || got[id][0] != 6*ms {
			t.Fatalf("node %d: received at %v, want the 5 sends after the mend (from 6ms)", id, got[id])
		}
	}
	if len(got[3]) != 0 {
		t.Fatalf("node 3 received %v across a partition the mend must leave in place", got[3])
	}
	faults := recordsOf(s.Trace(), trace.KindFault, "")
	var names []string
	for _, f := range faults {
		names = append(names, f.Name)
	}
	if len(faults) != 3 || faults[0].Name != "split" || faults[2].Name != "mend" {
		t.Fatalf("fault records %v, want split, partition, mend", names)
	}
	if by, _ := faults[0].Get("by"); by != "nemesis" {
		t.Fatalf("split record by = %q, want nemesis", by)
	}
	if ow, _ := faults[0].Get("one-way"); ow != "true" {
		t.Fatalf("split record one-way = %q, want true", ow)
	}
}

func TestSplitRejectsBadGroups(t *testing.T) {
	s := newCluster(t, 3, broadcaster(1, map[protocol.NodeID][]protocol.Time{}), nil)
	for _, c := range []struct {
		name string
		a, b []protocol.NodeID
	}{
		{"empty group", nil, []protocol.NodeID{1}},
		{"unknown node", []protocol.NodeID{0}, []protocol.NodeID{7}},
		{"node in both groups", []protocol.NodeID{0, 1}, []protocol.NodeID{1}},
	} {
		var pe *sim.ParamError
		if err := s.Split(c.a, c.b, false, ""); !errors.As(err, &pe) {
			t.Errorf("%s: Split error %v, want a ParamError", c.name, err)
		}
		if err := s.Mend(c.a, c.b, ""); !errors.As(err, &pe) {
			t.Errorf("%s: Mend error %v, want a ParamError", c.name, err)
		}
	}
}
