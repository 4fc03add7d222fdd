package kv

import (
	"sort"

	"github.com/stateflush/stateflush/protocol"
)

// Client operations at servers, synchronous replication and the apply queue.
//
// A client write is counted in as in progress at the primary and its recipients chosen (every
// holder with a profile, initialized or not); after Config.DistributionDelay the primary applies it
// locally (with a new version) and puts it on the wire to all of them in one step, and counts it
// out. The client is acknowledged once every recipient has applied it or left. Holders apply
// replicated writes in arrival order, each after Config.ApplyDelay, only from the primary they
// accept.
//
// Why the origin applies atomically with distributing, not before: an image source scans its live
// map while it streams and sends its event-id table with the last chunk. Were a write applied at
// the origin before it is on the wire, an origin that is also the image source could stream a table
// claiming the write (its key's chunk already gone without it) and die before sending it: no holder
// would have the write, yet the new copy would answer the client's retry as already applied, an
// acknowledged write lost. Applied atomically with the sends, a write in an image's table is always
// on the wire to the new copy too (it is among the recipients, or the flush waited for the write).

func (s *Server) onClientRequest(client protocol.NodeID, m *ClientRequest) {
	if !s.joined {
		s.drops.NotJoined++
		return // silent: the client times out and tries another server
	}
	if s.gms.quarantined() {
		s.drops.Quarantined++
		return // silent, as above: this server's view and roles may be stale
	}
	switch m.Op {
	case protocol.OpGet, protocol.OpPut, protocol.OpDelete, protocol.OpAppend:
	default:
		s.drops.Invalid++
		return
	}
	i := BucketOf(m.Key, s.cfg.Buckets)
	if s.view.Buckets[i].Lost {
		s.replyClient(client, m.Seq, replyLost, i)
		return
	}
	b := s.buckets[i]
	switch {
	case b != nil && m.Op == protocol.OpGet && m.AnyCopy && b.initialized && b.role == roleFollower:
		s.replyRead(client, m.Seq, b, m.Key)
	case b != nil && m.Op == protocol.OpGet && !b.initialized && s.cfg.Mutants.Has(ServeUninitialized):
		s.replyRead(client, m.Seq, b, m.Key) // the mutant: a partial copy answers as if it were complete
	case b == nil || b.role == roleFollower:
		s.replyClient(client, m.Seq, replyRedirect, i)
	case b.role == roleSyncing:
		b.held = append(b.held, heldRequest{client: client, req: m})
	default:
		s.serve(b, client, m)
	}
}

// serve runs an operation at the serving primary.
func (s *Server) serve(b *bucketState, client protocol.NodeID, m *ClientRequest) {
	if m.Op == protocol.OpGet {
		if b.keyWrites[m.Key] > 0 {
			// A value not yet on every holder must not be read: the write could still vanish.
			b.waitingGets[m.Key] = append(b.waitingGets[m.Key], clientWait{client: client, seq: m.Seq})
			return
		}
		s.fenceRead(b, client, m.Seq, m.Key)
		return
	}
	ev := EventID{Client: client, Seq: m.Seq}
	if w := b.writeFor(ev); w != nil {
		// A retry of a write still being distributed: it is answered with the write.
		w.clients = append(w.clients, clientWait{client: client, seq: m.Seq})
		return
	}
	if b.events[client] >= m.Seq && !s.cfg.Mutants.Has(NoDedupeWrites) {
		// A retry of a write already applied here: never apply it twice.
		s.replyClient(client, m.Seq, replyOK, b.index)
		return
	}
	if s.cfg.Strategy == Blocking && b.blockedBy.Valid() {
		b.held = append(b.held, heldRequest{client: client, req: m})
		s.emit(protocol.EventWriteBlocked, a("bucket", b.index), a("replica", b.blockedBy), a("client", client), a("seq", m.Seq))
		return
	}
	b.keyWrites[m.Key]++
	w := s.newWrite(b, nil, nil, false)
	w.firstEvent[0] = ev
	w.events = w.firstEvent[:]
	w.op = m
	w.firstClient[0] = clientWait{client: client, seq: m.Seq}
	w.clients = w.firstClient[:]
	s.distribute(b, w)
}

// applyAtOrigin applies a client write at its origin, with a new version, the moment it is put on
// the wire (see the top of this file for why not earlier). An append extends the value current at
// that moment, so appends to one key chain in the order they are distributed.
func (s *Server) applyAtOrigin(b *bucketState, w *write) {
	m := w.op
	cur, has := b.entries[m.Key]
	e := Entry{Key: m.Key, Version: s.nextVersion(b)}
	switch m.Op {
	case protocol.OpPut:
		e.Value = m.Value
	case protocol.OpDelete:
		e.Tombstone = true
		if has && s.cfg.Mutants.Has(TombstoneOldVersion) {
			e.Version = cur.Version
		}
	case protocol.OpAppend:
		e.Value = m.Value
		if has && !cur.Tombstone {
			e.Value = cur.Value + m.Value
		}
	}
	if e.Tombstone && s.cfg.Mutants.Has(NoTombstones) {
		b.remove(e.Key)
	} else {
		b.set(e)
	}
	b.mergeEvents(w.events)
	w.firstEntry[0] = e
	w.entries = w.firstEntry[:1:1]
}

func (s *Server) nextVersion(b *bucketState) Version {
	b.clock.Counter++
	return Version{Epoch: b.clock.Epoch, Counter: b.clock.Counter, Member: s.self.ID}
}

func (s *Server) newWrite(b *bucketState, entries []Entry, events []EventID, sync bool) *write {
	s.nextWriteID++
	w := s.writeSlab.next()
	*w = write{id: s.nextWriteID, bucket: b.index, epoch: b.epoch, entries: entries, events: events, sync: sync}
	return w
}

// distribute counts the write in, then chooses its recipients, then (after the distribution delay)
// applies it locally and puts it on the wire. A profile installed between the two is "started
// before" the write's recipients were chosen and so waits for it in the flush.
func (s *Server) distribute(b *bucketState, w *write) {
	b.outgoing[w.id] = w
	s.writes[w.id] = w
	w.recipients = b.profileMembersIn(s.memberPieces.take(len(b.profiles)))
	s.setTimer(s.cfg.DistributionDelay, timerDistribute, int64(w.id), false)
}

func (s *Server) onDistributeTimer(id uint64) {
	w := s.writes[id]
	if w == nil || w.onWire {
		return
	}
	b := s.buckets[w.bucket]
	if b == nil || b.outgoing[id] != w {
		delete(s.writes, id)
		return
	}
	if w.epoch != b.epoch {
		// A newer primary fenced this copy since the write started: the write is void, neither
		// applied nor sent (its clients were told to retry when this copy stepped down).
		w.failed = true
	} else {
		if w.op != nil {
			s.applyAtOrigin(b, w)
		} else {
			s.applyEntries(b, w.entries, w.events) // a synchronization push: the merged state
		}
		// The recipients are sorted and distinct, so the ones still holding a profile are the
		// awaiting set as they come; it takes over the recipients' array, which nothing reads after.
		awaiting := w.recipients[:0]
		for _, r := range w.recipients {
			if b.profiles[r] == nil {
				continue // left, or removed from the bucket, since the recipients were chosen
			}
			s.contentSent[r]++
			m := s.replicates.next()
			*m = Replicate{Hdr: s.hdr(r), ChannelSeq: s.contentSent[r], Bucket: b.index, Epoch: w.epoch, WriteID: w.id, Entries: w.entries, Events: w.events, Sync: w.sync}
			s.send(r, m)
			awaiting = append(awaiting, r)
		}
		w.awaiting, w.recipients = memberSet(awaiting), nil
		if w.op != nil && s.cfg.Mutants.Has(AckBeforeReplicas) {
			// The mutant: on the wire counts as acknowledged, whatever the recipients will answer.
			for _, c := range w.clients {
				s.replyClient(c.client, c.seq, replyOK, b.index)
			}
			w.clients = nil
		}
	}
	// Count out only now that every message is on the wire.
	delete(b.outgoing, id)
	for _, p := range b.profiles {
		delete(p.startedBefore, id)
	}
	w.onWire = true
	b.pending[id] = w
	s.flush.checkMarkerWaits(b)
	s.checkWriteDone(b, w)
}

func (s *Server) onWriteAck(from Member, m *WriteAck) {
	b := s.buckets[m.Bucket]
	w := s.writes[m.WriteID]
	if b == nil || w == nil || w.bucket != m.Bucket || !w.awaiting.has(from) {
		return
	}
	w.awaiting.remove(from)
	if m.Outcome == ackRejected {
		w.failed = true
		s.adoptPrimary(b, m.Primary, m.Epoch)
	}
	s.checkWriteDone(b, w)
}

// checkWriteDone completes a write once it is on the wire and every recipient answered or left.
func (s *Server) checkWriteDone(b *bucketState, w *write) {
	if !w.onWire || len(w.awaiting) > 0 || b.pending[w.id] != w {
		return
	}
	delete(b.pending, w.id)
	delete(s.writes, w.id)
	status := replyOK
	if w.failed {
		status = replyRetry
	}
	for _, c := range w.clients {
		s.replyClient(c.client, c.seq, status, b.index)
	}
	if w.sync {
		s.syncPushDone(b, w)
	} else {
		key := w.op.Key
		b.keyWrites[key]--
		if b.keyWrites[key] <= 0 {
			delete(b.keyWrites, key)
			s.releaseGets(b, key)
		}
	}
	s.flush.answerDeferredAnnounces(b)
}

func (s *Server) releaseGets(b *bucketState, key string) {
	waiting := b.waitingGets[key]
	delete(b.waitingGets, key)
	for _, c := range waiting {
		if b.role == roleServing {
			s.fenceRead(b, c.client, c.seq, key)
		} else {
			s.replyClient(c.client, c.seq, replyRedirect, b.index)
		}
	}
}

// releaseHeld re-runs the requests held for a sync or a blocking copy.
func (s *Server) releaseHeld(b *bucketState) {
	held := b.held
	b.held = nil
	for _, h := range held {
		s.onClientRequest(h.client, h.req)
	}
}

func (s *Server) unblock(b *bucketState) {
	b.blockedBy = noMember
	s.releaseHeld(b)
}

// replyRead answers a get.
func (s *Server) replyRead(client protocol.NodeID, seq uint64, b *bucketState, key string) {
	found, value := b.read(key)
	reply := s.replies.next()
	*reply = ClientReply{Seq: seq, Status: replyOK, Read: true, Found: found, Value: value, Bucket: b.index, Primary: -1}
	s.env.Send(client, reply)
}

// replyClient answers a client without a read result. Anything but ok carries this server's
// knowledge of the bucket, so the client can follow it.
func (s *Server) replyClient(client protocol.NodeID, seq uint64, status replyStatus, bucket int) {
	r := s.replies.next()
	*r = ClientReply{Seq: seq, Status: status, Bucket: bucket, Primary: -1}
	if status != replyOK {
		meta := &s.view.Buckets[bucket]
		r.View = s.view.Version
		r.Primary = meta.Primary.ID
		if b := s.buckets[bucket]; b != nil && b.epoch > meta.Epoch {
			r.Primary = b.primary.ID
		}
		for _, h := range meta.Holders {
			if h.Initialized {
				r.Holders = append(r.Holders, h.Member.ID)
			}
		}
	}
	s.env.Send(client, r)
}

// onReplicate queues a replicated write for application (in arrival order).
func (s *Server) onReplicate(from Member, m *Replicate) {
	if m.ChannelSeq <= s.contentReceived[from] {
		s.drops.Duplicate++
		return
	}
	s.contentReceived[from] = m.ChannelSeq
	s.applyQueue = append(s.applyQueue, inboundWrite{from: from, msg: m})
	if s.cfg.Mutants.Has(CountOnReceipt) {
		s.flush.checkAllRecordWaits()
	}
	s.armApply()
}

func (s *Server) armApply() {
	if !s.applyArmed && len(s.applyQueue) > 0 {
		s.applyTimer = s.setTimer(s.cfg.ApplyDelay, timerApply, 0, false)
		s.applyArmed = true
	}
}

func (s *Server) onApplyTimer() {
	s.applyArmed = false
	if len(s.applyQueue) > 0 {
		in := s.applyQueue[0]
		// Shift down instead of reslicing from the front, so the queue's array is reused instead of
		// reallocated each time appends reach its end.
		n := copy(s.applyQueue, s.applyQueue[1:])
		s.applyQueue[n] = inboundWrite{}
		s.applyQueue = s.applyQueue[:n]
		s.applyReplicate(in.from, in.msg)
	}
	s.armApply()
}

// applyReplicate applies one replicated write (or rejects it) and acknowledges it. Either way the
// message counts as applied from its sender for the flush.
func (s *Server) applyReplicate(from Member, m *Replicate) {
	s.contentApplied[from]++
	b := s.buckets[m.Bucket]
	ack := s.acks.next()
	*ack = WriteAck{Hdr: s.hdr(from), Bucket: m.Bucket, WriteID: m.WriteID}
	switch {
	case b == nil:
		ack.Outcome = ackNotHolder
	default:
		if m.Epoch > b.epoch {
			s.adoptPrimary(b, from, m.Epoch) // a newer primary we had not heard of yet
		}
		stale := m.Epoch < b.epoch && s.cfg.Mutants.Has(NoEpochFence) // the mutant: no fence
		if !stale && (from != b.primary || m.Epoch != b.epoch) {
			ack.Outcome, ack.Primary, ack.Epoch = ackRejected, b.primary, b.epoch
			break
		}
		s.applyEntries(b, m.Entries, m.Events)
	}
	s.send(from, ack)
	s.flush.checkAllRecordWaits()
}

// applyEntries applies a replicated write's entries; while the copy is uninitialized this is the
// catcher's mitt: an update of a key it does not have creates it, a delete leaves a tombstone.
func (s *Server) applyEntries(b *bucketState, entries []Entry, events []EventID) {
	mitt := !b.initialized
	if mitt && s.cfg.Mutants.Has(NoMitt) {
		return
	}
	for _, e := range entries {
		if e.Tombstone && (s.cfg.Mutants.Has(NoTombstones) || mitt && s.cfg.Mutants.Has(MittIgnoresDeletes)) {
			b.remove(e.Key)
			continue
		}
		b.applyNewer(e)
	}
	b.mergeEvents(events)
}

func sortedStrings[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
