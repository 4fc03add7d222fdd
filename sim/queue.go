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

// eventQueue is a binary min-heap of events ordered by (at, seq). The heap orders small keys
// (time, sequence number, slot) and the events themselves stay put in a slab: an event is 96
// bytes, and moving whole events at every level of every push and pop was a tenth of the
// simulator's cost per message (BenchmarkPingPong8). Slots are reused, so a steady run allocates
// nothing.
type eventQueue struct {
	heap []queuedEvent
	slab []event
	free []int32
}

type queuedEvent struct {
	at   protocol.Time
	seq  uint64
	slot int32
}

func newEventQueue(capacity int) eventQueue {
	return eventQueue{heap: make([]queuedEvent, 0, capacity), slab: make([]event, 0, capacity)}
}

func (q *eventQueue) len() int { return len(q.heap) }

// nextAt is the time of the earliest event. The queue must not be empty.
func (q *eventQueue) nextAt() protocol.Time { return q.heap[0].at }

// each calls f for every queued event, in the heap's order (which depends only on the run).
func (q *eventQueue) each(f func(*event)) {
	for _, k := range q.heap {
		f(&q.slab[k.slot])
	}
}

func (k queuedEvent) before(o queuedEvent) bool {
	if k.at != o.at {
		return k.at < o.at
	}
	return k.seq < o.seq
}

// push queues a copy of *e.
func (q *eventQueue) push(e *event) {
	var slot int32
	if n := len(q.free); n > 0 {
		slot = q.free[n-1]
		q.free = q.free[:n-1]
		q.slab[slot] = *e
	} else {
		slot = int32(len(q.slab))
		q.slab = append(q.slab, *e)
	}
	k := queuedEvent{at: e.at, seq: e.seq, slot: slot}
	q.heap = append(q.heap, k)
	h := q.heap
	i := len(h) - 1
	for i > 0 { // sift the hole up, then place the key once
		parent := (i - 1) / 2
		if !k.before(h[parent]) {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = k
}

// pop removes and returns the earliest event. The queue must not be empty.
func (q *eventQueue) pop() event {
	slot := q.popSlot()
	e := q.slab[slot]
	q.release(slot)
	return e
}

// event is the event in a slot popSlot returned, until release.
func (q *eventQueue) event(slot int32) *event { return &q.slab[slot] }

// release frees a slot popSlot returned.
func (q *eventQueue) release(slot int32) {
	q.slab[slot] = event{} // drop the message reference so the garbage collector can reclaim it
	q.free = append(q.free, slot)
}

// popSlot removes the earliest event from the order and returns its slot, where the event stays
// until release: the simulator handles it in place rather than copying 96 bytes out. The queue
// must not be empty.
func (q *eventQueue) popSlot() int32 {
	h := q.heap
	top := h[0]
	last := len(h) - 1
	k := h[last]
	h = h[:last]
	if last > 0 {
		i := 0
		for { // sift the hole down, then place the last key once
			left := 2*i + 1
			if left >= len(h) {
				break
			}
			smallest := left
			if right := left + 1; right < len(h) && h[right].before(h[left]) {
				smallest = right
			}
			if !h[smallest].before(k) {
				break
			}
			h[i] = h[smallest]
			i = smallest
		}
		h[i] = k
	}
	q.heap = h
	return top.slot
}
