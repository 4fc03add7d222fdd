package kv

import (
	"cmp"
	"slices"
	"sort"

	"github.com/stateflush/stateflush/protocol"
)

// primaryRole is a copy's part in serving its bucket.
type primaryRole int

const (
	roleFollower primaryRole = iota
	// roleSyncing: assigned primary, making the holders agree before serving.
	roleSyncing
	// roleServing: primary, serving client operations.
	roleServing
)

// profile is what a holder knows of another holder of the same bucket: from its installation on,
// every write this holder starts includes that member among the recipients.
type profile struct {
	member      Member
	initialized bool
	since       ConfigVersion
	// startedBefore holds the writes that were in progress (counted in, not yet on the wire) when
	// the profile was installed. A state marker from that member waits until it is empty.
	startedBefore map[uint64]bool
}

// bucketState is one copy of a bucket held by a server, with every role the server plays for it.
type bucketState struct {
	index   int
	entries map[string]Entry
	// keys lists the keys of entries in order, so the image source's scan of its live map costs a
	// binary search per chunk rather than a sort.
	keys        []string
	events      map[protocol.NodeID]uint64 // latest applied write seq per client
	initialized bool
	since       ConfigVersion

	// The primary this copy accepts replicated writes from, and its epoch (the fence).
	primary Member
	epoch   uint64
	role    primaryRole
	clock   Version // last version this primary issued

	// profiles are the other copies this one replicates to, by member; change them with
	// setProfile and dropProfile, which count the changes for listed.
	profiles       map[Member]*profile
	profileChanges uint64
	// listed is the last holder list found to list every profile, and the count of profile
	// changes then: while both stay, a view that keeps that list needs no new look (reconciled).
	listed listedCheck

	// Origin side: outgoing writes are counted in but not yet on the wire; pending ones are on the
	// wire and await acknowledgements.
	outgoing    map[uint64]*write
	pending     map[uint64]*write
	keyWrites   map[string]int // unacknowledged client writes per key: a get waits for them
	waitingGets map[string][]clientWait
	reads       []*pendingRead // gets served and waiting for their read fence (reads.go)
	// toldInitialized is the coordinator this copy told it was initialized (membership.go).
	toldInitialized Member
	held            []heldRequest // client requests waiting for the sync to end or a blocking copy
	blockedBy       Member        // Blocking strategy: the copy that holds writes
	deferred        []deferredAnnounce

	// Flush roles: as a holder (markers waiting for in-progress writes) and as the image source
	// (flush records waiting for applied counts).
	markerWaits []markerWait
	recordWaits []recordWait

	// Requester side.
	creation       *creation
	imageAttempt   uint64 // the attempt whose chunks are accepted
	imageQueue     []*ImageChunk
	chunkTimer     protocol.TimerID
	chunkTimerSet  bool
	lastChunkIndex int

	sync *syncState
}

type clientWait struct {
	client protocol.NodeID
	seq    uint64
}

type heldRequest struct {
	client protocol.NodeID
	req    *ClientRequest
}

type deferredAnnounce struct {
	requester Member
	attempt   uint64
}

type markerWait struct {
	requester Member
	attempt   uint64
	source    Member
	view      ConfigVersion // the requester's view and its holders (StateMarker.View, Holders)
	holders   []Member
	epoch     uint64 // the copy's epoch: a source fenced at an older one waits (checkMarkerWaits)
	// newOps are the writes in progress when a FlushNewOps marker arrived: the record waits for
	// them to be on the wire too.
	newOps []uint64
}

type recordWait struct {
	requester Member
	attempt   uint64
	holder    Member
	sent      uint64
}

// write is one distributed write: a client write or a new primary's synchronization push.
type write struct {
	id     uint64
	bucket int
	epoch  uint64
	// op is a client write's request; its entry is made when the write is applied at the origin
	// and put on the wire (applyAtOrigin). nil for a synchronization push.
	op         *ClientRequest
	entries    []Entry
	events     []EventID
	sync       bool
	recipients []Member
	awaiting   memberSet
	onWire     bool
	failed     bool // a holder rejected it: this primary was superseded
	clients    []clientWait
	// firstClient and firstEvent back clients and events for a client write, which has one of
	// each (a retry of the same event adds a client): one allocation for the write, not three.
	firstClient [1]clientWait
	firstEvent  [1]EventID
	// firstEntry backs entries for a client write, which writes one entry (applyAtOrigin).
	firstEntry [1]Entry
}

func newBucketState(index int) *bucketState {
	return &bucketState{
		index:           index,
		entries:         map[string]Entry{},
		events:          map[protocol.NodeID]uint64{},
		primary:         noMember,
		toldInitialized: noMember,
		profiles:        map[Member]*profile{},
		outgoing:        map[uint64]*write{},
		pending:         map[uint64]*write{},
		keyWrites:       map[string]int{},
		waitingGets:     map[string][]clientWait{},
		blockedBy:       noMember,
	}
}

// set stores an entry (every change of entries goes through set or remove).
func (b *bucketState) set(e Entry) {
	if _, ok := b.entries[e.Key]; !ok {
		i := sort.SearchStrings(b.keys, e.Key)
		b.keys = append(b.keys, "")
		copy(b.keys[i+1:], b.keys[i:])
		b.keys[i] = e.Key
	}
	b.entries[e.Key] = e
}

// remove forgets a key entirely (only the MittIgnoresDeletes and NoTombstones mutants do this:
// deletes leave tombstones).
func (b *bucketState) remove(key string) {
	if _, ok := b.entries[key]; !ok {
		return
	}
	i := sort.SearchStrings(b.keys, key)
	b.keys = append(b.keys[:i], b.keys[i+1:]...)
	delete(b.entries, key)
}

// keysAfter returns up to n keys greater than cursor, in order, and whether they are the last.
func (b *bucketState) keysAfter(cursor string, first bool, n int) (keys []string, last bool) {
	rest := b.keys
	if !first {
		rest = rest[sort.SearchStrings(rest, cursor+"\x00"):]
	}
	if len(rest) <= n {
		return rest, true
	}
	return rest[:n], false
}

// applyNewer stores e unless the copy already has the key at the same or a newer version: the rule
// for replicated writes and for merging holders' states.
func (b *bucketState) applyNewer(e Entry) {
	if cur, ok := b.entries[e.Key]; ok && cur.Version.Compare(e.Version) >= 0 {
		return
	}
	b.set(e)
}

func (b *bucketState) mergeEvents(events []EventID) {
	for _, ev := range events {
		if ev.Seq > b.events[ev.Client] {
			b.events[ev.Client] = ev.Seq
		}
	}
}

func (b *bucketState) sortedEntries() []Entry {
	out := make([]Entry, len(b.keys))
	for i, k := range b.keys {
		out[i] = b.entries[k]
	}
	return out
}

func (b *bucketState) eventList() []EventID {
	out := make([]EventID, 0, len(b.events))
	for c, seq := range b.events {
		out = append(out, EventID{Client: c, Seq: seq})
	}
	slices.SortFunc(out, func(x, y EventID) int { return cmp.Compare(x.Client, y.Client) })
	return out
}

func (b *bucketState) maxVersion() Version {
	var max Version
	for _, e := range b.entries {
		if e.Version.Compare(max) > 0 {
			max = e.Version
		}
	}
	return max
}

// profileMembers lists the members this copy holds a profile of, sorted as a memberSet is
// (compareMembers): the list is a valid memberSet.
func (b *bucketState) profileMembers() []Member {
	return b.profileMembersIn(make([]Member, len(b.profiles)))
}

// profileMembersIn is profileMembers written into out, which has room for len(b.profiles).
func (b *bucketState) profileMembersIn(out []Member) []Member {
	out = out[:0]
	for m := range b.profiles {
		out = append(out, m)
	}
	sortMembers(out)
	return out
}

// writesInOrder lists outgoing and pending writes by id.
func (b *bucketState) writesInOrder() []*write {
	out := make([]*write, 0, len(b.outgoing)+len(b.pending))
	for _, w := range b.outgoing {
		out = append(out, w)
	}
	for _, w := range b.pending {
		out = append(out, w)
	}
	slices.SortFunc(out, func(x, y *write) int { return cmp.Compare(x.id, y.id) })
	return out
}

// writeFor finds the unacknowledged write of a client event started under the current epoch (the
// writes of an older epoch answer their clients "retry").
// It runs on every client request, so it looks for the lowest id among the matches in place
// rather than sorting every write first; the answer is the same whatever the maps' order.
func (b *bucketState) writeFor(ev EventID) *write {
	var first *write
	consider := func(w *write) {
		if w.sync || w.epoch != b.epoch || (first != nil && first.id < w.id) || !slices.Contains(w.events, ev) {
			return
		}
		first = w
	}
	for _, w := range b.outgoing {
		consider(w)
	}
	for _, w := range b.pending {
		consider(w)
	}
	return first
}

// discardData empties the copy: the mitt and any partial image.
func (b *bucketState) discardData() {
	b.entries = map[string]Entry{}
	b.keys = nil
	b.events = map[protocol.NodeID]uint64{}
	b.imageQueue = nil
	b.imageAttempt = 0
}

func (b *bucketState) read(key string) (found bool, value string) {
	e, ok := b.entries[key]
	if !ok || e.Tombstone {
		return false, ""
	}
	return true, e.Value
}

// listedCheck identifies a published view's holder list by its first element and length (views
// are immutable once published and share unchanged lists, copy on write; keeping the pointer keeps
// the array from being reused) and the profile changes counted when it was found to list every
// profile.
type listedCheck struct {
	holders *HolderMeta
	n       int
	changes uint64
}

// setProfile installs p as the profile of its member.
func (b *bucketState) setProfile(p *profile) {
	b.profiles[p.member] = p
	b.profileChanges++
}

// dropProfile removes member m's profile.
func (b *bucketState) dropProfile(m Member) {
	delete(b.profiles, m)
	b.profileChanges++
}
