package sim

import (
	"slices"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// Split cuts group a off from group b until Mend is called with the same groups: both ways, or,
// with oneWay, only what a sends to b (a's heartbeats are lost to b while it hears b, the
// partition a failure detector finds hardest).
//
// A split is a network partition between servers joined by TCP connections, which ride it out:
// what is sent across the cut is not lost but waits (TCP retransmits) and is delivered, in send
// order and with the link's latency, when the split mends. Only the protocol's own reaction can
// lose it: its failure detector removes the members it cannot hear, and their connections' late
// messages then come from members that have left. (A connection that breaks outright, losing what
// it carried, is BreakConnection; a cut that drops messages, as on a client's lossy datagram link,
// is Partition.) Messages already in flight when the split begins still arrive.
//
// Unlike Partition and Heal, a split names who made it (by, in its fault record, so that
// monitoring can tell planned work from a real failure), and mending it leaves every other cut in
// place (a client's partition, another split). Errors as for Partition.
func (s *Sim) Split(a, b []protocol.NodeID, oneWay bool, by string) error {
	if err := s.checkGroups("a", a, "b", b); err != nil {
		return err
	}
	for _, x := range a {
		for _, y := range b {
			s.stalled[int(x)*s.n+int(y)] = true
			if !oneWay {
				s.stalled[int(y)*s.n+int(x)] = true
			}
		}
	}
	s.splitRecord("split", a, b, oneWay, by)
	return nil
}

// Mend undoes a Split of the same groups (both directions, whichever the split cut): what waited
// across the cut is delivered. Errors as for Partition.
func (s *Sim) Mend(a, b []protocol.NodeID, by string) error {
	if err := s.checkGroups("a", a, "b", b); err != nil {
		return err
	}
	s.splitRecord("mend", a, b, false, by)
	var links []int
	for _, x := range a {
		for _, y := range b {
			links = append(links, int(x)*s.n+int(y), int(y)*s.n+int(x))
		}
	}
	s.release(links)
	return nil
}

// Stalled reports whether a split currently holds what from sends to to.
func (s *Sim) Stalled(from, to protocol.NodeID) bool {
	return s.known(from) && s.known(to) && s.stalled[int(from)*s.n+int(to)]
}

// stalledSend is a message sent across a split, waiting for the mend.
type stalledSend struct {
	msg       protocol.Message
	id, cause uint64
	fromInc   uint32
	toCrashes uint32
}

// release ends the stall of the given links and transmits what they held, link by link in index
// order and in send order on each link: what the receiver's side does with it (a sender or a
// receiver that crashed meanwhile, a connection that broke) is decided when it arrives, as for any
// message.
func (s *Sim) release(links []int) {
	slices.Sort(links)
	for _, idx := range links {
		s.stalled[idx] = false
		held := s.stalledMsgs[idx]
		delete(s.stalledMsgs, idx)
		from, to := protocol.NodeID(idx/s.n), protocol.NodeID(idx%s.n)
		for _, h := range held {
			s.transmit(idx, from, to, h.msg, h.id, h.cause, h.fromInc, h.toCrashes)
		}
	}
}

// releaseAllStalled mends every split (Heal).
func (s *Sim) releaseAllStalled() {
	var links []int
	for idx, st := range s.stalled {
		if st {
			links = append(links, idx)
		}
	}
	s.release(links)
}

func (s *Sim) splitRecord(name string, a, b []protocol.NodeID, oneWay bool, by string) {
	s.stats.Faults++
	attrs := []trace.Attr{{Key: "a", Value: formatGroup(a)}, {Key: "b", Value: formatGroup(b)}}
	if oneWay {
		attrs = append(attrs, trace.Attr{Key: "one-way", Value: "true"})
	}
	rec := trace.Record{TimeUS: int64(s.now), Kind: trace.KindFault, Node: int32(protocol.External), Peer: int32(protocol.External),
		Cause: s.cause, Name: name, Attrs: s.controlAttrs(by, attrs...)}
	s.commit(&rec)
}
