package linearizability

import (
	"fmt"

	"github.com/stateflush/stateflush/sim/trace"
)

// VectorClock is a record's vector clock: component n counts the events of node n that happened
// before or at the record. It is indexed by node ID (IDs are dense from 0).
type VectorClock []uint64

// HappenedBefore reports whether the event with clock a happened before the event with clock b
// (a ≤ b componentwise and a ≠ b). Clocks of different lengths compare as if padded with zeros.
func (a VectorClock) HappenedBefore(b VectorClock) bool {
	aSmaller, bSmaller := compareClocks(a, b)
	return aSmaller && !bSmaller
}

// Concurrent reports whether neither event happened before the other (and they are not the same
// event).
func (a VectorClock) Concurrent(b VectorClock) bool {
	aSmaller, bSmaller := compareClocks(a, b)
	return aSmaller && bSmaller
}

// compareClocks reports whether some component of a is smaller than b's, and whether some
// component of b is smaller than a's.
func compareClocks(a, b VectorClock) (aSmaller, bSmaller bool) {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y uint64
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		aSmaller = aSmaller || x < y
		bSmaller = bSmaller || y < x
	}
	return aSmaller, bSmaller
}

// isProcessEvent reports whether a record is a step of a node (and so advances its clock): sends,
// deliveries, timers, crashes, restarts and protocol events. Drops, duplicates, network faults and
// the end of the run are the network's or the driver's doing and have no clock.
func isProcessEvent(r *trace.Record) bool {
	if r.Node < 0 {
		return false
	}
	switch r.Kind {
	case trace.KindSend, trace.KindDeliver, trace.KindTimerSet, trace.KindTimer, trace.KindCrash, trace.KindRestart, trace.KindEvent:
		return true
	}
	return false
}

// VectorClocks computes the vector clock of every record, from the trace's sends and deliveries:
// a node's records are ordered by Seq (a restarted node continues its predecessor's clock, which
// only adds order), and a delivery of message MsgID happens after its send. A duplicated message is
// delivered twice and each delivery happens after the one send.
//
// The result is aligned with records: clocks[i] is records[i]'s clock, nil for records that are
// not steps of a node (drops, duplicates, faults, the end record, and records of negative node
// IDs). It takes one uint64 per node per record. Deliveries of messages injected from outside the
// cluster (Peer < 0, no send record) add no order. Records must be in Seq order; a delivery of a
// message from a node that has no send record before it is an error wrapping ErrMalformedTrace.
func VectorClocks(records []trace.Record) ([]VectorClock, error) {
	return vectorClocks(records, nil, nil)
}

// vectorClocks is VectorClocks where deliveries of messages whose type ignore accepts, or whose
// sender is in environment, add no order (CheckCut ignores the snapshot's own markers: a marker is
// what starts the receiver's recording; and the environment's messages if asked to).
func vectorClocks(records []trace.Record, ignore func(messageType string) bool, environment map[int32]bool) ([]VectorClock, error) {
	if err := checkSeqOrder(records); err != nil {
		return nil, err
	}
	width := 0
	processEvents := 0
	for i := range records {
		r := &records[i]
		if !isProcessEvent(r) {
			continue
		}
		processEvents++
		width = max(width, int(r.Node)+1)
		if r.Kind == trace.KindSend || r.Kind == trace.KindDeliver {
			width = max(width, int(r.Peer)+1)
		}
	}
	// One backing array for every clock: traces have many records and few nodes.
	backing := make([]uint64, processEvents*width)
	clocks := make([]VectorClock, len(records))
	current := make([]VectorClock, width) // each node's latest clock
	sent := make(map[uint64]VectorClock)
	for i := range records {
		r := &records[i]
		if !isProcessEvent(r) {
			continue
		}
		clock := VectorClock(backing[:width:width])
		backing = backing[width:]
		if previous := current[r.Node]; previous != nil {
			copy(clock, previous)
		}
		if r.Kind == trace.KindDeliver && (ignore == nil || !ignore(r.Name)) && !environment[r.Peer] {
			sendClock, ok := sent[r.MsgID]
			switch {
			case ok:
				for n, c := range sendClock {
					clock[n] = max(clock[n], c)
				}
			case r.Peer >= 0:
				return nil, fmt.Errorf("%w: record seq %d: node %d delivers message %d from node %d, which no earlier send record sent",
					ErrMalformedTrace, r.Seq, r.Node, r.MsgID, r.Peer)
			}
		}
		clock[r.Node]++
		if r.Kind == trace.KindSend {
			sent[r.MsgID] = clock
		}
		current[r.Node] = clock
		clocks[i] = clock
	}
	return clocks, nil
}

func checkSeqOrder(records []trace.Record) error {
	for i := 1; i < len(records); i++ {
		if records[i].Seq <= records[i-1].Seq {
			return fmt.Errorf("%w: record seq %d follows seq %d (records must be in Seq order)", ErrMalformedTrace, records[i].Seq, records[i-1].Seq)
		}
	}
	return nil
}
