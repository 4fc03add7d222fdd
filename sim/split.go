package sim

import (
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// Split cuts group a off from group b until Mend is called with the same groups: both ways, or,
// with oneWay, only what a sends to b (a's heartbeats are lost while it hears b, the partition
// that a failure detector finds hardest). Messages sent across the cut are dropped as
// DropPartition; messages already in flight still arrive. Unlike Partition and Heal, a split
// names who made it (by, in its fault record, so that monitoring can tell planned work from a
// real failure), and mending it leaves every other cut in place (a client's partition, another
// split). Errors as for Partition.
func (s *Sim) Split(a, b []protocol.NodeID, oneWay bool, by string) error {
	if err := s.checkGroups("a", a, "b", b); err != nil {
		return err
	}
	s.cut(a, b, oneWay, true)
	s.splitRecord("split", a, b, oneWay, by)
	return nil
}

// Mend undoes a Split of the same groups (both directions, whichever the split cut). Errors as for
// Partition.
func (s *Sim) Mend(a, b []protocol.NodeID, by string) error {
	if err := s.checkGroups("a", a, "b", b); err != nil {
		return err
	}
	s.cut(a, b, false, false)
	s.splitRecord("mend", a, b, false, by)
	return nil
}

func (s *Sim) cut(a, b []protocol.NodeID, oneWay, blocked bool) {
	for _, x := range a {
		for _, y := range b {
			s.blocked[int(x)*s.n+int(y)] = blocked
			if !oneWay {
				s.blocked[int(y)*s.n+int(x)] = blocked
			}
		}
	}
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
