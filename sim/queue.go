package sim

import "github.com/stateflush/stateflush/protocol"

// eventKind says what a queued event does when its time comes.
type eventKind uint8

const (
	evDeliver eventKind = iota + 1 // hand msg from peer to node (or drop it)
	evTimer                        // fire timer id at node, unless cancelled
	evAction                       // run the control action actions[id]
)

// event is one entry of the event queue. It is a plain value so that the queue, a slice of events,
// never boxes or allocates per event.
type event struct {
	at  protocol.Time
	seq uint64 // insertion order: breaks ties between events at the same time
	msg protocol.Message
	// id is the message ID (evDeliver), the timer ID (evTimer) or the index into Sim.actions
	// (evAction).
	id uint64
	// cause is the Seq of the send record (evDeliver) or timer-set record (evTimer).
	cause uint64
	tag   protocol.TimerTag
	kind  eventKind
	// background marks a delivery of background traffic (protocol.BackgroundMessage): it does not
	// count as in flight for quiescence.
	background bool
	node       protocol.NodeID // receiver (evDeliver) or owner (evTimer)
	peer       protocol.NodeID // sender (evDeliver)
	// peerIncarnation is the sender's incarnation when it sent (evDeliver), to drop messages of an
	// incarnation that has since been replaced.
	peerIncarnation uint32
	// nodeCrashes is the receiver's crash count when the message was sent (evDeliver): if it has
	// grown by delivery time, the receiver crashed while the message was in flight.
	nodeCrashes uint32
	// arrived marks a delivery that reached its receiver while it was paused (evDeliver): it is in
	// the receiver's buffers, no longer in flight, so its sender's host crashing loses it no more.
	arrived bool
}

// eventQueue is a binary min-heap of events ordered by (at, seq), kept in a slice of values.
type eventQueue []event

func (q eventQueue) before(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}

func (q *eventQueue) push(e event) {
	*q = append(*q, e)
	h := *q
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !h.before(i, parent) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

// pop removes and returns the earliest event. The queue must not be empty.
func (q *eventQueue) pop() event {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = event{} // drop the message reference so the garbage collector can reclaim it
	h = h[:last]
	i := 0
	for {
		left := 2*i + 1
		if left >= len(h) {
			break
		}
		smallest := left
		if right := left + 1; right < len(h) && h.before(right, left) {
			smallest = right
		}
		if !h.before(smallest, i) {
			break
		}
		h[i], h[smallest] = h[smallest], h[i]
		i = smallest
	}
	*q = h
	return top
}
