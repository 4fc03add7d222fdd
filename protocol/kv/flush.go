package kv

import (
	"strings"

	"github.com/stateflush/stateflush/protocol"
)

// Replica creation by the state flush operation, in three roles:
//   - the requester R creating a new copy (announce, mitt, flush observer, image, completion);
//   - every holder M (install R's profile, answer state markers);
//   - the image source S (wait for flush records, stream the live map).
// See doc.go for the steps and the reasons behind them.

type creationPhase int

const (
	phaseAnnouncing creationPhase = iota
	phaseFlushing
	phaseCopying
)

var phaseNames = [...]string{"announcing", "flushing", "copying"}

func (p creationPhase) String() string { return phaseNames[p] }

// stateFlush is this server's part in the state flush operation, in all three roles. The state of
// each copy under creation lives in its bucket (bucketState.creation); stateFlush owns the image
// streams this server sends as a source and the numbering of streams and attempts, and reaches the
// server's buckets, view and network through srv.
type stateFlush struct {
	srv         *Server
	streams     map[uint64]*imageStream // the images this server streams as a source, by id
	nextStream  uint64
	nextAttempt uint64
}

// creation is R's state while it creates a copy.
type creation struct {
	attempt       uint64 // changes on every restart and every new flush: stale answers are ignored
	phase         creationPhase
	holders       []Member        // the holders R announced itself to
	replied       map[Member]bool // announce replies
	accounted     map[Member]bool // holders reported stable by the source
	notHolding    map[Member]bool // holders that answered they hold no copy
	source        Member
	failedSources map[Member]bool
	flushDone     bool // a flush completed in this creation (FlushNotBoundToSource reuses it)
	lateAnnounce  bool // LateAnnounce: the announce is still to be sent
	lastReceived  bool // the last chunk of the image arrived
	warnTimer     protocol.TimerID

	// markerView is the view sent to the source with its latest marker, sourceView the newest view
	// the source answered for itself from, and goneAt the view in which each holder counted as
	// flushed for having left was first found gone (checkFlushDone).
	markerView, sourceView ConfigVersion
	goneAt                 map[Member]ConfigVersion
}

// imageStream is S's state while it streams its live map to R.
type imageStream struct {
	id        uint64
	bucket    int
	requester Member
	attempt   uint64
	index     int
	cursor    string
	started   bool
}

// ---- requester (R) ----

// startCreation: the view assigned this server a new, uninitialized copy of bucket i.
func (fl *stateFlush) startCreation(i int, since ConfigVersion) {
	meta := &fl.srv.view.Buckets[i]
	b := newBucketState(i)
	b.since = since
	b.primary, b.epoch = meta.Primary, meta.Epoch
	for _, h := range meta.Holders {
		if h.Member != fl.srv.self && h.Initialized {
			b.setProfile(&profile{member: h.Member, initialized: true, since: h.Since, startedBefore: map[uint64]bool{}})
		}
	}
	fl.srv.setBucket(b)
	b.creation = &creation{failedSources: map[Member]bool{}}
	b.creation.warnTimer = fl.srv.setTimer(fl.srv.cfg.CopyWarnAfter, timerCopyWarn, int64(i), false)
	fl.announce(b)
}

// announce (re)starts a creation from the beginning: open the mitt, then send R's profile to every
// holder and wait for every reply.
func (fl *stateFlush) announce(b *bucketState) {
	c := b.creation
	fl.nextAttempt++
	c.attempt = fl.nextAttempt
	c.phase = phaseAnnouncing
	c.holders = nil
	for _, h := range fl.srv.view.Buckets[b.index].Holders {
		if h.Member != fl.srv.self && !fl.srv.departed[h.Member] {
			c.holders = append(c.holders, h.Member)
		}
	}
	c.replied = map[Member]bool{}
	c.notHolding = map[Member]bool{}
	c.flushDone = false
	c.lastReceived = false
	fl.srv.emit(protocol.EventMittOpen, a("bucket", b.index), a("replica", fl.srv.self), a("attempt", c.attempt))
	if fl.srv.cfg.Mutants.Has(LateAnnounce) {
		c.lateAnnounce = true
		fl.afterAnnounce(b)
		return
	}
	fl.sendAnnounce(b)
	fl.checkAnnounceDone(b)
}

func (fl *stateFlush) sendAnnounce(b *bucketState) {
	c := b.creation
	for _, h := range c.holders {
		fl.srv.send(h, &Announce{Hdr: fl.srv.hdr(h), Bucket: b.index, Attempt: c.attempt, Since: b.since})
	}
	fl.srv.emit(protocol.EventAnnounceSent, a("bucket", b.index), a("replica", fl.srv.self), a("attempt", c.attempt), a("holders", memberList(c.holders)))
}

func (fl *stateFlush) onAnnounceReply(from Member, m *AnnounceReply) {
	b := fl.srv.buckets[m.Bucket]
	if b == nil || b.creation == nil || b.creation.attempt != m.Attempt || b.creation.phase != phaseAnnouncing {
		return
	}
	c := b.creation
	if m.Holds && m.Epoch > b.epoch {
		fl.srv.adoptPrimary(b, m.Primary, m.Epoch) // restarts the creation under the new primary
		return
	}
	c.replied[from] = true
	if !m.Holds {
		c.notHolding[from] = true
	}
	fl.checkAnnounceDone(b)
}

// holderGone: a holder R waits on no longer counts (it left the view, is no longer a holder, or
// answered that it holds no copy).
func (fl *stateFlush) holderGone(b *bucketState, m Member) bool {
	return fl.srv.gone(b, m) || b.creation.notHolding[m]
}

func (fl *stateFlush) checkAnnounceDone(b *bucketState) {
	c := b.creation
	for _, h := range c.holders {
		if !c.replied[h] && !fl.holderGone(b, h) {
			return
		}
	}
	fl.srv.emit(protocol.EventAnnounceComplete, a("bucket", b.index), a("replica", fl.srv.self), a("attempt", c.attempt))
	fl.afterAnnounce(b)
}

func (fl *stateFlush) usesFlush() bool {
	return fl.srv.cfg.Strategy == StateFlush && !fl.srv.cfg.Mutants.Has(SkipFlush)
}

func (fl *stateFlush) afterAnnounce(b *bucketState) {
	if fl.usesFlush() {
		fl.startFlush(b)
		return
	}
	// Blocking and Naive copy right away (Blocking is safe because the primary answered the
	// announce only with no write in progress and holds every new write until the copy is done).
	if !fl.pickSource(b) {
		return
	}
	fl.requestImage(b)
}

// pickSource chooses an initialized source; with none left the creation fails and the data is lost.
func (fl *stateFlush) pickSource(b *bucketState) bool {
	c := b.creation
	c.source = fl.chooseSource(b)
	if c.source.Valid() {
		return true
	}
	fl.creationFailed(b)
	return false
}

// chooseSource picks an initialized live holder other than R, by Config.SourceChoice.
func (fl *stateFlush) chooseSource(b *bucketState) Member {
	c := b.creation
	meta := &fl.srv.view.Buckets[b.index]
	var candidates []Member
	for _, m := range meta.initializedHolders() {
		if m != fl.srv.self && !fl.srv.departed[m] && !c.notHolding[m] && !c.failedSources[m] {
			candidates = append(candidates, m)
		}
	}
	if len(candidates) == 0 {
		return noMember
	}
	primary := b.primary
	switch fl.srv.cfg.SourceChoice {
	case PreferNonPrimary:
		for _, m := range candidates {
			if m != primary {
				return m
			}
		}
	default:
		for _, m := range candidates {
			if m == primary {
				return m
			}
		}
	}
	return candidates[0]
}

// startFlush sends a state marker naming the source to every holder.
func (fl *stateFlush) startFlush(b *bucketState) {
	if !fl.pickSource(b) {
		return
	}
	c := b.creation
	c.phase = phaseFlushing
	c.accounted = map[Member]bool{}
	c.markerView, c.sourceView, c.goneAt = fl.srv.view.Version, ConfigVersion{}, map[Member]ConfigVersion{}
	for _, h := range c.holders {
		if fl.holderGone(b, h) {
			continue
		}
		// A retry's marker flushes the writes in progress too (flushNewOps): the first attempt's
		// mitt is gone, and a write that had reached this copy but was not yet on the wire to the
		// new source would otherwise be missed by both (spec/README.md, the retry counterexample).
		fl.srv.send(h, fl.stateMarker(b, h))
		fl.srv.emit(protocol.EventMarkerSent, a("bucket", b.index), a("replica", fl.srv.self), a("source", c.source), a("holder", h), a("attempt", c.attempt))
	}
	fl.checkFlushDone(b)
}

// stateMarker is the marker of the creation's current attempt to holder h.
func (fl *stateFlush) stateMarker(b *bucketState, h Member) *StateMarker {
	c := b.creation
	var holders []Member
	for _, x := range fl.srv.view.Buckets[b.index].Holders {
		if !fl.srv.departed[x.Member] {
			holders = append(holders, x.Member)
		}
	}
	return &StateMarker{Hdr: fl.srv.hdr(h), Bucket: b.index, Attempt: c.attempt, Source: c.source, FlushNewOps: c.attempt > 1,
		View: c.markerView, Holders: holders, Epoch: b.epoch}
}

func (fl *stateFlush) onHolderStable(from Member, m *HolderStable) {
	b := fl.srv.buckets[m.Bucket]
	if b == nil || b.creation == nil || b.creation.attempt != m.Attempt || b.creation.phase != phaseFlushing {
		return
	}
	c := b.creation
	c.accounted[m.Holder] = true
	if m.NotHolder {
		c.notHolding[m.Holder] = true
	} else if m.Holder == from && from == c.source && m.View.Compare(c.sourceView) > 0 {
		c.sourceView = m.View
	}
	if fl.srv.cfg.Mutants.Has(ObserverEarly) {
		fl.flushComplete(b)
		return
	}
	fl.checkFlushDone(b)
}

// checkFlushDone: the observer completes when every holder is accounted for, answered or departed.
func (fl *stateFlush) checkFlushDone(b *bucketState) {
	c := b.creation
	if c.phase != phaseFlushing {
		return
	}
	var need ConfigVersion
	pending := false
	for _, h := range c.holders {
		if !c.accounted[h] && fl.srv.gone(b, h) {
			if _, ok := c.goneAt[h]; !ok {
				c.goneAt[h] = fl.srv.view.Version
			}
			if c.goneAt[h].Compare(need) > 0 {
				need = c.goneAt[h]
			}
		}
		pending = pending || (!c.accounted[h] && !fl.holderGone(b, h))
	}
	if pending {
		return
	}
	if c.sourceView.Compare(need) < 0 {
		// A holder counts as flushed because this copy's view no longer lists it, but the source
		// may not have installed that view yet and still take the writes it had sent there before
		// it left, after the flush, behind the image's cursor and never to this copy
		// (steady-monkey seed 5659: a partition held a crashed primary's write to the source until
		// after the flush completed). The flush completes once the source answers a marker of
		// that view or a newer one: it answers only once it refuses the departed holder's
		// messages too (sourceKnowsDepartures). A holder that leaves during the flush takes
		// another marker to the source, of the view that removed it.
		if c.markerView.Compare(need) < 0 {
			c.markerView = need
			fl.srv.send(c.source, fl.stateMarker(b, c.source))
		}
		return
	}
	fl.flushComplete(b)
}

func (fl *stateFlush) flushComplete(b *bucketState) {
	c := b.creation
	c.flushDone = true
	fl.srv.emit(protocol.EventFlushComplete, a("bucket", b.index), a("replica", fl.srv.self), a("source", c.source), a("attempt", c.attempt))
	fl.requestImage(b)
}

func (fl *stateFlush) requestImage(b *bucketState) {
	c := b.creation
	c.phase = phaseCopying
	b.imageAttempt = c.attempt
	b.lastChunkIndex = -1
	fl.srv.send(c.source, &RequestImage{Hdr: fl.srv.hdr(c.source), Bucket: b.index, Attempt: c.attempt})
	if c.lateAnnounce {
		c.lateAnnounce = false
		fl.sendAnnounce(b)
	}
}

func (fl *stateFlush) onImageChunk(from Member, m *ImageChunk) {
	b := fl.srv.buckets[m.Bucket]
	if b == nil || b.imageAttempt == 0 || m.Attempt != b.imageAttempt || b.creation == nil || b.creation.source != from {
		return
	}
	b.imageQueue = append(b.imageQueue, m)
	if m.Last {
		b.creation.lastReceived = true
		if fl.srv.cfg.Mutants.Has(PrematureCompletion) {
			fl.completeCreation(b)
		}
	}
	fl.armChunkApply(b)
}

func (fl *stateFlush) armChunkApply(b *bucketState) {
	if !b.chunkTimerSet && len(b.imageQueue) > 0 {
		b.chunkTimer = fl.srv.setTimer(fl.srv.cfg.ChunkApplyDelay, timerChunkApply, int64(b.index), false)
		b.chunkTimerSet = true
	}
}

func (fl *stateFlush) onChunkApplyTimer(i int, id protocol.TimerID) {
	b := fl.srv.buckets[i]
	if b == nil || !b.chunkTimerSet || b.chunkTimer != id {
		return
	}
	b.chunkTimerSet = false
	if len(b.imageQueue) > 0 {
		chunk := b.imageQueue[0]
		b.imageQueue = b.imageQueue[1:]
		fl.applyChunk(b, chunk)
	}
	fl.armChunkApply(b)
}

// applyChunk applies one image chunk; the copy is complete once the last chunk is applied.
func (fl *stateFlush) applyChunk(b *bucketState, chunk *ImageChunk) {
	for _, e := range chunk.Entries {
		fl.applyImageEntry(b, e)
	}
	if !fl.srv.cfg.Mutants.Has(NoDedupeImage) {
		b.mergeEvents(chunk.Events)
	}
	b.lastChunkIndex = chunk.Index
	fl.srv.emit(protocol.EventImageChunkApplied, a("bucket", b.index), a("replica", fl.srv.self), a("index", chunk.Index), a("entries", len(chunk.Entries)))
	if chunk.Last && b.creation != nil {
		fl.completeCreation(b)
	}
}

// applyImageEntry: an image entry never overwrites a newer entry already in the mitt (a tombstone
// included); equal versions are the same write.
func (fl *stateFlush) applyImageEntry(b *bucketState, e Entry) {
	cur, ok := b.entries[e.Key]
	switch {
	case !ok, fl.srv.cfg.Mutants.Has(ImageOverwritesMitt):
		b.set(e)
	default:
		mittVersion := cur.Version
		if cur.Tombstone && fl.srv.cfg.Mutants.Has(WrongVersionOrder) {
			mittVersion = Version{}
		}
		if e.Version.Compare(mittVersion) > 0 {
			b.set(e)
		}
	}
}

// completeCreation: the copy is initialized; it announces that to the holders and the coordinator.
func (fl *stateFlush) completeCreation(b *bucketState) {
	c := b.creation
	b.creation = nil
	b.initialized = true
	fl.srv.env.CancelTimer(c.warnTimer)
	fl.srv.emit(protocol.EventInitialized, a("bucket", b.index), a("replica", fl.srv.self), a("source", c.source), a("attempt", c.attempt), a("entries", len(b.entries)))
	b.toldInitialized = fl.srv.gms.coordinator()
	notify := map[Member]bool{b.toldInitialized: true}
	for _, h := range fl.srv.view.Buckets[b.index].Holders {
		if h.Member != fl.srv.self && !fl.srv.departed[h.Member] {
			notify[h.Member] = true
		}
	}
	for _, m := range sortedMembersOf(notify) {
		fl.srv.send(m, &Initialized{Hdr: fl.srv.hdr(m), Bucket: b.index, Attempt: c.attempt, Since: b.since})
	}
}

// creationFailed: no initialized copy is left to copy from. R stops and tells the coordinator,
// which declares the data lost (and reports it) unless it knows a copy R did not.
func (fl *stateFlush) creationFailed(b *bucketState) {
	c := b.creation
	coord := fl.srv.gms.coordinator()
	fl.srv.dropBucket(b, "no-source")
	fl.srv.send(coord, &CreationFailed{Hdr: fl.srv.hdr(coord), Bucket: b.index, Attempt: c.attempt, Since: b.since})
}

// restartCreation starts over after a primary change: the mitt may hold writes of the old primary
// that the new primary's synchronization did not collect.
func (fl *stateFlush) restartCreation(b *bucketState, reason string) {
	c := b.creation
	fl.srv.emit(protocol.EventImageDiscarded, a("bucket", b.index), a("replica", fl.srv.self), a("source", c.source), a("reason", reason))
	b.discardData()
	fl.announce(b)
}

// sourceFailed: the source left, lost its copy or refused. Without the mutants the partial image and
// the mitt are discarded and a fresh flush aimed at another initialized source starts.
func (fl *stateFlush) sourceFailed(b *bucketState) {
	c := b.creation
	if c.lastReceived {
		return // the whole image is here; the source is no longer needed
	}
	if c.phase == phaseCopying && fl.srv.cfg.Mutants.Has(PartialImageAccepted) {
		queued := b.imageQueue
		b.imageQueue = nil
		for _, chunk := range queued {
			fl.applyChunk(b, chunk)
		}
		if b.creation != nil {
			fl.completeCreation(b)
		}
		return
	}
	fl.srv.emit(protocol.EventImageDiscarded, a("bucket", b.index), a("replica", fl.srv.self), a("source", c.source), a("reason", "source-failed"))
	c.failedSources[c.source] = true
	b.discardData()
	fl.nextAttempt++
	c.attempt = fl.nextAttempt
	reuseFlush := c.flushDone && fl.srv.cfg.Mutants.Has(FlushNotBoundToSource)
	if !fl.usesFlush() || reuseFlush {
		if fl.pickSource(b) {
			fl.requestImage(b)
		}
		return
	}
	c.flushDone = false
	fl.startFlush(b)
}

func (fl *stateFlush) onSourceUnavailable(from Member, m *SourceUnavailable) {
	b := fl.srv.buckets[m.Bucket]
	if b == nil || b.creation == nil || b.creation.attempt != m.Attempt || b.creation.source != from {
		return
	}
	fl.sourceFailed(b)
}

// creationDepartures re-evaluates R's waits after a view change.
func (fl *stateFlush) creationDepartures(b *bucketState) {
	c := b.creation
	switch c.phase {
	case phaseAnnouncing:
		fl.checkAnnounceDone(b)
	case phaseFlushing:
		if fl.srv.gone(b, c.source) {
			fl.sourceFailed(b)
		} else {
			fl.checkFlushDone(b)
		}
	case phaseCopying:
		if fl.srv.gone(b, c.source) {
			fl.sourceFailed(b)
		}
	}
}

func (fl *stateFlush) onCopyWarnTimer(i int, id protocol.TimerID) {
	b := fl.srv.buckets[i]
	if b == nil || b.creation == nil || b.creation.warnTimer != id {
		return
	}
	c := b.creation
	var waiting []Member
	switch c.phase {
	case phaseAnnouncing:
		for _, h := range c.holders {
			if !c.replied[h] && !fl.holderGone(b, h) {
				waiting = append(waiting, h)
			}
		}
	case phaseFlushing:
		for _, h := range c.holders {
			if !c.accounted[h] && !fl.holderGone(b, h) {
				waiting = append(waiting, h)
			}
		}
	case phaseCopying:
		waiting = []Member{c.source}
	}
	fl.srv.emit(EventCopyWaiting, a("bucket", i), a("replica", fl.srv.self), a("phase", c.phase), a("source", c.source), a("waiting", memberList(waiting)))
	c.warnTimer = fl.srv.setTimer(fl.srv.cfg.CopyWarnAfter, timerCopyWarn, int64(i), false)
}

// ---- every holder (M) ----

// onAnnounce installs R's profile. The writes in progress at this moment become R's "started
// before" writes; every write started from now on includes R among its recipients.
func (fl *stateFlush) onAnnounce(from Member, m *Announce) {
	b := fl.srv.buckets[m.Bucket]
	if b == nil {
		fl.srv.send(from, &AnnounceReply{Hdr: fl.srv.hdr(from), Bucket: m.Bucket, Attempt: m.Attempt})
		return
	}
	p := b.profiles[from]
	if p == nil {
		p = &profile{member: from}
		b.setProfile(p)
	}
	p.initialized = false
	p.since = m.Since
	p.startedBefore = map[uint64]bool{}
	for id := range b.outgoing {
		p.startedBefore[id] = true
	}
	if fl.srv.cfg.Strategy == Blocking && b.role != roleFollower {
		// Blocking baseline: hold every new write until the copy is done, and answer only once no
		// write is being replicated, so the image misses nothing.
		b.blockedBy = from
		b.deferred = append(b.deferred, deferredAnnounce{requester: from, attempt: m.Attempt})
		fl.answerDeferredAnnounces(b)
		return
	}
	fl.srv.send(from, &AnnounceReply{Hdr: fl.srv.hdr(from), Bucket: m.Bucket, Attempt: m.Attempt, Holds: true, Primary: b.primary, Epoch: b.epoch})
}

func (fl *stateFlush) answerDeferredAnnounces(b *bucketState) {
	if len(b.deferred) == 0 || (b.role != roleFollower && (len(b.outgoing) > 0 || len(b.pending) > 0)) {
		return
	}
	deferred := b.deferred
	b.deferred = nil
	for _, d := range deferred {
		fl.srv.send(d.requester, &AnnounceReply{Hdr: fl.srv.hdr(d.requester), Bucket: b.index, Attempt: d.attempt, Holds: true, Primary: b.primary, Epoch: b.epoch})
	}
}

// onStateMarker: R asks this holder to flush its channel to the source.
func (fl *stateFlush) onStateMarker(from Member, m *StateMarker) {
	b := fl.srv.buckets[m.Bucket]
	if b == nil {
		fl.srv.send(from, &HolderStable{Hdr: fl.srv.hdr(from), Bucket: m.Bucket, Attempt: m.Attempt, Holder: fl.srv.self, NotHolder: true})
		return
	}
	w := markerWait{requester: from, attempt: m.Attempt, source: m.Source, view: m.View, holders: m.Holders, epoch: m.Epoch}
	if m.FlushNewOps {
		for _, x := range b.writesInOrder() {
			if b.outgoing[x.id] == x {
				w.newOps = append(w.newOps, x.id)
			}
		}
	}
	b.markerWaits = append(b.markerWaits, w)
	fl.checkMarkerWaits(b)
}

// checkMarkerWaits answers every marker whose "started before R" writes are all on the wire: the
// source answers for itself to R; any other holder sends the source a record of how many
// content-changing messages it has put on its channel to the source, behind those messages.
func (fl *stateFlush) checkMarkerWaits(b *bucketState) {
	keep := b.markerWaits[:0]
	for _, w := range b.markerWaits {
		p := b.profiles[w.requester]
		if p != nil && len(p.startedBefore) > 0 && !fl.srv.cfg.Mutants.Has(NoWaitInProgress) {
			keep = append(keep, w)
			continue
		}
		if w.inProgress(b) {
			keep = append(keep, w)
			continue
		}
		if w.source == fl.srv.self && b.epoch < w.epoch {
			// The copy's view has a newer primary than this source knows of: not fenced yet, it
			// may still apply writes of the old primary, which is gone from the copy's view, so
			// no flush waits for them, and the image would miss those it applies after streaming
			// past their keys. It reports itself stable once the view or the new primary's
			// synchronization fences it (adoptPrimary, becomePrimary). (Partitions seed 124:
			// s2, source and new primary of bucket 1 in a view it had not installed yet, applied
			// a write that its old primary s4 had sent across a partition before crashing, after
			// the flush had completed.)
			keep = append(keep, w)
			continue
		}
		if w.source == fl.srv.self && !fl.sourceKnowsDepartures(b, w) {
			keep = append(keep, w) // answered once a view tells of the departures (installView)
			continue
		}
		if w.source == fl.srv.self {
			fl.srv.send(w.requester, &HolderStable{Hdr: fl.srv.hdr(w.requester), Bucket: b.index, Attempt: w.attempt, Holder: fl.srv.self, View: w.view})
			fl.srv.emit(protocol.EventHolderStable, a("bucket", b.index), a("replica", w.requester), a("source", fl.srv.self), a("holder", fl.srv.self))
		} else {
			fl.srv.send(w.source, &FlushRecord{Hdr: fl.srv.hdr(w.source), Bucket: b.index, Requester: w.requester, Attempt: w.attempt, Sent: fl.srv.contentSent[w.source]})
		}
	}
	b.markerWaits = keep
}

// sourceKnowsDepartures reports whether this source refuses the messages of every holder the
// requester's view no longer lists: its own view is at least as new, or every other holder its view
// lists is one the requester's lists too or one this server saw leave. The requester counts a holder
// that left as flushed; a source that has not learned of the departure still takes the writes the
// holder sent it before it left, and would apply them after the flush, never to the new copy
// (StateMarker.View).
func (fl *stateFlush) sourceKnowsDepartures(b *bucketState, w markerWait) bool {
	if fl.srv.view.Version.Compare(w.view) >= 0 {
		return true
	}
	for _, h := range fl.srv.view.Buckets[b.index].Holders {
		if m := h.Member; m != fl.srv.self && m != w.requester && !fl.srv.departed[m] && !containsMember(w.holders, m) {
			return false
		}
	}
	return true
}

// inProgress reports whether a write a FlushNewOps marker waits for is still counted in and not on
// the wire.
func (w markerWait) inProgress(b *bucketState) bool {
	for _, id := range w.newOps {
		if _, ok := b.outgoing[id]; ok {
			return true
		}
	}
	return false
}

// ---- image source (S) ----

func (fl *stateFlush) onFlushRecord(from Member, m *FlushRecord) {
	b := fl.srv.buckets[m.Bucket]
	if b == nil || !b.initialized {
		fl.srv.send(m.Requester, &SourceUnavailable{Hdr: fl.srv.hdr(m.Requester), Bucket: m.Bucket, Attempt: m.Attempt})
		return
	}
	b.recordWaits = append(b.recordWaits, recordWait{requester: m.Requester, attempt: m.Attempt, holder: from, sent: m.Sent})
	fl.checkRecordWaits(b)
}

func (fl *stateFlush) checkAllRecordWaits() {
	for _, i := range fl.srv.held {
		if b := fl.srv.buckets[i]; len(b.recordWaits) > 0 {
			fl.checkRecordWaits(b)
		}
	}
}

// checkRecordWaits reports a holder stable once this source has applied as many messages from it
// as the holder had sent before its record.
func (fl *stateFlush) checkRecordWaits(b *bucketState) {
	keep := b.recordWaits[:0]
	for _, w := range b.recordWaits {
		count := fl.srv.contentApplied[w.holder]
		if fl.srv.cfg.Mutants.Has(CountOnReceipt) {
			count = fl.srv.contentReceived[w.holder]
		}
		if count < w.sent {
			keep = append(keep, w)
			continue
		}
		fl.srv.send(w.requester, &HolderStable{Hdr: fl.srv.hdr(w.requester), Bucket: b.index, Attempt: w.attempt, Holder: w.holder})
		fl.srv.emit(protocol.EventHolderStable, a("bucket", b.index), a("replica", w.requester), a("source", fl.srv.self), a("holder", w.holder))
	}
	b.recordWaits = keep
}

func (fl *stateFlush) onRequestImage(from Member, m *RequestImage) {
	b := fl.srv.buckets[m.Bucket]
	if b == nil || !b.initialized {
		fl.srv.send(from, &SourceUnavailable{Hdr: fl.srv.hdr(from), Bucket: m.Bucket, Attempt: m.Attempt})
		return
	}
	for _, id := range fl.streamIDs() {
		if st := fl.streams[id]; st.bucket == m.Bucket && st.requester == from {
			delete(fl.streams, id) // superseded by this request
		}
	}
	fl.nextStream++
	st := &imageStream{id: fl.nextStream, bucket: m.Bucket, requester: from, attempt: m.Attempt}
	fl.streams[st.id] = st
	fl.sendNextChunk(st)
}

func (fl *stateFlush) onImageChunkTimer(id uint64) {
	if st := fl.streams[id]; st != nil {
		fl.sendNextChunk(st)
	}
}

// sendNextChunk scans the LIVE map (not a frozen snapshot) for the next keys after the cursor:
// later chunks reflect writes applied meanwhile.
func (fl *stateFlush) sendNextChunk(st *imageStream) {
	b := fl.srv.buckets[st.bucket]
	if b == nil || !b.initialized {
		delete(fl.streams, st.id)
		fl.srv.send(st.requester, &SourceUnavailable{Hdr: fl.srv.hdr(st.requester), Bucket: st.bucket, Attempt: st.attempt})
		return
	}
	keys, last := b.keysAfter(st.cursor, !st.started, fl.srv.cfg.ChunkEntries)
	chunk := &ImageChunk{Hdr: fl.srv.hdr(st.requester), Bucket: st.bucket, Attempt: st.attempt, Index: st.index, Last: last}
	if len(keys) > 0 {
		chunk.Entries = make([]Entry, 0, len(keys))
	}
	for _, k := range keys {
		chunk.Entries = append(chunk.Entries, b.entries[k])
	}
	if last {
		chunk.Events = b.eventList()
	}
	fl.srv.send(st.requester, chunk)
	fl.srv.emit(protocol.EventImageChunkSent, a("bucket", st.bucket), a("replica", st.requester), a("source", fl.srv.self), a("index", st.index), a("entries", len(keys)), a("last", last))
	st.index++
	st.started = true
	if len(keys) > 0 {
		st.cursor = keys[len(keys)-1]
	}
	if last {
		delete(fl.streams, st.id)
		return
	}
	fl.srv.setTimer(fl.srv.cfg.ImageChunkDelay, timerImageChunk, int64(st.id), false)
}

func (fl *stateFlush) streamIDs() []uint64 {
	ids := make(map[uint64]bool, len(fl.streams))
	for id := range fl.streams {
		ids[id] = true
	}
	return sortedUint64s(ids)
}

func memberList(ms []Member) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.String()
	}
	return strings.Join(names, ",")
}

// endStreams ends, in stream order, the image streams of bucket this server sends for which end
// reports true (end may first tell the requester).
func (fl *stateFlush) endStreams(bucket int, end func(st *imageStream) bool) {
	for _, id := range fl.streamIDs() {
		if st := fl.streams[id]; st.bucket == bucket && end(st) {
			delete(fl.streams, id)
		}
	}
}
