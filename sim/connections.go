package sim

import (
	"fmt"
	"strconv"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// Connection loss between two processes, as in a data center: a middlebox resets a TCP connection,
// a NIC flaps. Both processes live on; what was on the wire between them is gone, and each end
// learns of it only some time later, from its own transport. Until then it writes into a dead
// socket.

// connEnd is one node's end of its connection to one peer, and the directed link from it to that
// peer. Sim.conns holds one per ordered pair (from*n + to), allocated on the first break.
type connEnd struct {
	// notice is the message ID of the latest ConnectionLost queued for this end (0: its connection
	// never broke), and told whether that one has been delivered. The end is broken from the break
	// until it is told about the latest break: a second break before the first notice arrives must
	// not let the first notice reopen a connection the second broke.
	notice uint64
	told   bool
	// crashes and peerCrashes are the two ends' crash counts at the break. A crash of either end
	// ends the broken state: a new incarnation opens fresh connections, and the survivor's next
	// message goes to a process that was not there when the connection broke.
	crashes, peerCrashes uint32
	// lostUpTo: messages on this directed link with IDs up to this one were on the wire when the
	// connection last broke, and are lost unless they had already reached a paused receiver.
	// Message IDs grow with every send, so these are exactly the ones sent before the break.
	lostUpTo uint64
}

// BreakConnection breaks the connection between nodes a and b now (both directions: a TCP
// connection is one bidirectional pipe). Every message between them still in flight is lost
// (dropped on arrival as DropConnectionLost), except what already reached a paused receiver's
// buffers, as for CrashHost. After notice, each end's transport tells it: the simulator delivers a
// *protocol.ConnectionLost{Peer: the other end} from protocol.External, never lost, delayed or
// partitioned; a paused end gets it when it resumes. Until an end is told, every message it sends
// to the other is lost too (DropConnectionLost at the send: a dead socket swallows it); once told,
// its messages go over a new connection and flow as before (a FIFO link stays FIFO: nothing sent
// later overtakes what is still delivered). A crash or restart of either end before an end is told
// ends the broken state (a new incarnation has fresh connections); a crashed or restarted end is
// never told about the old connection (its notice is dropped as for any message to it), the
// survivor still is. A fault record "connection-broken" (attrs a, b, notice, by) marks the break
// and counts in Stats.Faults; a "connection-told" record marks each notice delivered, just before
// its delivery. Errors: unknown node, a == b, notice <= 0; ErrNotAlive if either end is down.
func (s *Sim) BreakConnection(a, b protocol.NodeID, notice protocol.Duration, by string) error {
	if !s.known(a) {
		return s.unknownNode("a", a)
	}
	if !s.known(b) {
		return s.unknownNode("b", b)
	}
	if a == b {
		return invalid("b", b, "the same node as a: a connection has two ends")
	}
	if notice <= 0 {
		return invalid("notice", notice, "must be positive: an end learns of a broken connection after it breaks")
	}
	for _, end := range [...]struct {
		param string
		id    protocol.NodeID
	}{{"a", a}, {"b", b}} {
		if ns := &s.nodes[end.id]; !ns.alive {
			return fmt.Errorf("sim: BreakConnection(%s=%d %q): %w", end.param, end.id, ns.spec.Name, ErrNotAlive)
		}
	}
	if s.conns == nil {
		s.conns = make([]connEnd, s.n*s.n)
		s.notices = map[uint64]protocol.NodeID{}
	}
	attrs := []trace.Attr{
		{Key: "a", Value: strconv.Itoa(int(a))},
		{Key: "b", Value: strconv.Itoa(int(b))},
		{Key: "notice", Value: strconv.FormatInt(int64(notice), 10)},
	}
	if by != "" {
		attrs = append(attrs, trace.Attr{Key: "by", Value: by})
	}
	cause := s.fault("connection-broken", a, b, attrs...)
	lostUpTo := s.nextMsgID // before the notices take their IDs
	s.breakEnd(a, b, notice, lostUpTo, cause)
	s.breakEnd(b, a, notice, lostUpTo, cause)
	return nil
}

// breakEnd breaks x's end of its connection to y and queues x's notice, recorded as a send from
// External caused by the break record (as Inject records its messages).
func (s *Sim) breakEnd(x, y protocol.NodeID, notice protocol.Duration, lostUpTo, cause uint64) {
	m := &protocol.ConnectionLost{Peer: y}
	s.nextMsgID++
	id := s.nextMsgID
	s.stats.Sent++
	rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindSend, Node: int32(protocol.External), Peer: int32(x),
		MsgID: id, Cause: cause, Name: m.Type()}
	if s.cfg.Trace == TraceFull {
		rec.Attrs = s.describe(m)
	}
	seq := s.commitMessage(&rec, m)
	s.conns[int(x)*s.n+int(y)] = connEnd{notice: id, crashes: s.nodes[x].crashes, peerCrashes: s.nodes[y].crashes, lostUpTo: lostUpTo}
	s.notices[id] = y
	s.enqueue(&event{kind: evDeliver, at: s.now + protocol.Time(notice), msg: m, id: id, cause: seq, node: x,
		peer: protocol.External, nodeCrashes: s.nodes[x].crashes})
}

// deadSocket reports whether from's connection to `to` is broken and from has not been told: what
// it sends there now is lost.
func (s *Sim) deadSocket(from, to protocol.NodeID) bool {
	if s.conns == nil {
		return false
	}
	e := &s.conns[int(from)*s.n+int(to)]
	return e.notice != 0 && !e.told && e.crashes == s.nodes[from].crashes && e.peerCrashes == s.nodes[to].crashes
}

// lostWithConnection reports whether a delivery between two nodes was on the wire when their
// connection broke (and had not reached a paused receiver's buffers): it never arrives.
func (s *Sim) lostWithConnection(ev *event) bool {
	return s.conns != nil && ev.peer != protocol.External && !ev.arrived &&
		ev.id <= s.conns[int(ev.peer)*s.n+int(ev.node)].lostUpTo
}

// tellIfNotice is called for every delivery from External that is about to be handed to its
// receiver: if it is a ConnectionLost notice, the receiver's end is reconnected (when the notice
// is for the latest break) before the receiver sees it, so that what it sends in reaction goes over
// the new connection, and a "connection-told" record says so. It is not counted as a fault.
func (s *Sim) tellIfNotice(ev *event) {
	if s.notices == nil {
		return
	}
	peer, ok := s.notices[ev.id]
	if !ok {
		return // an injected message, not a notice
	}
	delete(s.notices, ev.id)
	e := &s.conns[int(ev.node)*s.n+int(peer)]
	if e.notice == ev.id {
		e.told = true
	}
	rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindFault, Node: int32(ev.node), Peer: int32(peer),
		Incarnation: s.nodes[ev.node].incarnation, Cause: ev.cause, Name: "connection-told"}
	s.commit(&rec)
}

// forgetNotice is called for every delivery from External that is dropped (its receiver crashed):
// a notice to a dead incarnation is never delivered.
func (s *Sim) forgetNotice(ev *event) {
	if s.notices != nil {
		delete(s.notices, ev.id)
	}
}

// pendingNotice names a notice not yet delivered, for Pending; "" if ev is not a notice.
func (s *Sim) pendingNotice(ev *event) string {
	if s.notices == nil || ev.peer != protocol.External {
		return ""
	}
	peer, ok := s.notices[ev.id]
	if !ok {
		return ""
	}
	return fmt.Sprintf("connection %s-%s not yet told to %s", s.name(ev.node), s.name(peer), s.name(ev.node))
}
