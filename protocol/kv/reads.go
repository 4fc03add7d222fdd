package kv

import "github.com/stateflush/stateflush/protocol"

// The read fence. A primary that answered gets from its own copy alone would be linearizable only
// as long as it is still the primary the cluster accepts, and it cannot know that by itself: cut
// off by a partition (or only in one direction, its heartbeats lost while it hears everyone), it is
// removed, a newer primary is made on the other side and acknowledges writes, and the old one goes
// on answering gets with values those writes replaced. Writes are safe without help (they need
// every holder's acknowledgement, and the newer primary fences the holders before it serves), and
// reads get the same guarantee from the same holders: before answering a get, the primary asks
// every recipient of its writes (every holder with a profile) whether it still accepts this primary
// at this epoch. The value is read when the get is served (after every write to its key is
// acknowledged, as before); the answer goes out once every recipient has confirmed. One refusal, a
// recipient that holds no copy or one that left, and the client is told to retry: the primary may
// be stale. A newer primary fences every holder of its view before it serves, and it is itself a
// holder the old primary asks, so a confirmed read was not overtaken by any write of a newer
// primary. The fence costs one round trip per get to the bucket's other copies.

// pendingRead is a get served and waiting for its fence.
type pendingRead struct {
	id       uint64
	epoch    uint64
	client   protocol.NodeID
	seq      uint64
	found    bool
	value    string
	awaiting memberSet
	failed   bool
}

// fenceRead serves a get whose key has no write in progress: it reads the value now and answers
// once every recipient confirms this primary (at once when the copy has no other holder).
func (s *Server) fenceRead(b *bucketState, client protocol.NodeID, seq uint64, key string) {
	recipients := b.profileMembersIn(s.memberPieces.take(len(b.profiles)))
	if len(recipients) == 0 || s.cfg.Mutants.Has(LocalReads) {
		s.replyRead(client, seq, b, key)
		return
	}
	found, value := b.read(key)
	s.nextReadID++
	// profileMembers lists them sorted and distinct, as a memberSet is: the list is the set.
	r := s.readSlab.next()
	*r = pendingRead{id: s.nextReadID, epoch: b.epoch, client: client, seq: seq, found: found, value: value, awaiting: memberSet(recipients)}
	for _, m := range recipients {
		fence := s.fences.next()
		*fence = ReadFence{Hdr: s.hdr(m), Bucket: b.index, Epoch: b.epoch, ReadID: r.id}
		s.send(m, fence)
	}
	b.reads = append(b.reads, r)
}

// onReadFence: the primary of a bucket asks whether this copy still accepts it. A copy that had
// not heard of the sender's newer epoch accepts it, as a replicated write would make it.
func (s *Server) onReadFence(from Member, m *ReadFence) {
	reply := s.fenceReplies.next()
	*reply = ReadFenceReply{Hdr: s.hdr(from), Bucket: m.Bucket, ReadID: m.ReadID}
	b := s.buckets[m.Bucket]
	switch {
	case b == nil:
		reply.Outcome = ackNotHolder
	default:
		if m.Epoch > b.epoch {
			s.adoptPrimary(b, from, m.Epoch)
		}
		if from != b.primary || m.Epoch != b.epoch {
			reply.Outcome, reply.Primary, reply.Epoch = ackRejected, b.primary, b.epoch
		}
	}
	s.send(from, reply)
}

func (s *Server) onReadFenceReply(from Member, m *ReadFenceReply) {
	b := s.buckets[m.Bucket]
	if b == nil {
		return
	}
	for _, r := range b.reads {
		if r.id != m.ReadID || !r.awaiting.has(from) {
			continue
		}
		r.awaiting.remove(from)
		if m.Outcome != ackApplied {
			r.failed = true
		}
		if m.Outcome == ackRejected {
			s.adoptPrimary(b, m.Primary, m.Epoch) // steps down: every pending read fails below
		}
		break
	}
	s.settleReads(b)
}

// settleReads answers every fenced read whose recipients have all answered, and fails every
// pending read once the copy no longer serves at the read's epoch or a recipient left (its
// confirmation can no longer come, and the view change may have made a newer primary).
func (s *Server) settleReads(b *bucketState) {
	keep := b.reads[:0]
	for _, r := range b.reads {
		if r.awaiting.removeIf(func(m Member) bool { return b.profiles[m] == nil }) {
			r.failed = true
		}
		stale := b.role != roleServing || b.epoch != r.epoch
		switch {
		case stale || (r.failed && len(r.awaiting) == 0):
			s.replyClient(r.client, r.seq, replyRetry, b.index)
		case len(r.awaiting) == 0:
			reply := s.replies.next()
			*reply = ClientReply{Seq: r.seq, Status: replyOK, Read: true, Found: r.found, Value: r.value, Bucket: b.index, Primary: -1}
			s.env.Send(r.client, reply)
		default:
			keep = append(keep, r)
		}
	}
	clear(b.reads[len(keep):])
	b.reads = keep
}
