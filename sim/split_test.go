package sim_test

import (
	"errors"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/trace"
)

// A one-way split holds only what its first group sends, and delivers it, in order, when it mends;
// mending leaves another cut (a client's partition) in place; both records name who made them.
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
		if !s.Stalled(0, 1) || s.Stalled(1, 0) || s.Partitioned(0, 1) || !s.Partitioned(0, 3) {
			t.Fatal("Stalled or Partitioned disagrees with the one-way split")
		}
	})
	s.At(4*ms+500, "mend", func() {
		if err := s.Mend([]protocol.NodeID{0}, []protocol.NodeID{1, 2}, "nemesis"); err != nil {
			t.Fatal(err)
		}
	})
	res := s.Run()
	for _, id := range []protocol.NodeID{1, 2} {
		// Sends at 0..9 ms take 1 ms; the five sent before the mend at 4.5 ms arrive at 5.5 ms.
		want := []protocol.Time{5*ms + 500, 5*ms + 500, 5*ms + 500, 5*ms + 500, 5*ms + 500, 6 * ms, 7 * ms, 8 * ms, 9 * ms, 10 * ms}
		if len(got[id]) != len(want) {
			t.Fatalf("node %d: received at %v, want %v", id, got[id], want)
		}
		for k := range want {
			if got[id][k] != want[k] {
				t.Fatalf("node %d: received at %v, want %v", id, got[id], want)
			}
		}
	}
	if fifoViolations(s.Trace()) != 0 {
		t.Fatal("the mend delivered out of send order")
	}
	checkConservation(t, "split", res.Stats)
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

// What waits across a split is judged when it arrives: what was sent to a receiver that crashed
// afterwards never reaches it, even when it restarted before the mend (the send at 2 ms, made while
// it was down, reaches its restart, as without a split).
func TestSplitHeldMessagesToACrashedReceiverAreDropped(t *testing.T) {
	got := map[protocol.NodeID][]protocol.Time{}
	s := newCluster(t, 4, broadcaster(3, got), nil)
	s.At(0, "split", func() { _ = s.Split([]protocol.NodeID{0}, []protocol.NodeID{1, 2, 3}, false, "") })
	s.At(1*ms+500, "crash", func() { _ = s.Crash(1, "") })
	s.At(2*ms+500, "restart", func() { _ = s.Restart(1) })
	s.At(3*ms, "mend", func() { _ = s.Mend([]protocol.NodeID{0}, []protocol.NodeID{1, 2, 3}, "") })
	res := s.Run()
	if len(got[1]) != 1 || len(got[2]) != 3 {
		t.Fatalf("received %d at the crashed node 1 (want 1) and %d at node 2 (want 3)", len(got[1]), len(got[2]))
	}
	if res.Stats.DroppedReceiverCrashed != 2 {
		t.Fatalf("receiver-crashed drops %d, want 2", res.Stats.DroppedReceiverCrashed)
	}
	checkConservation(t, "split with a crash", res.Stats)
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
