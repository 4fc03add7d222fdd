package linearizability

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
)

// search is one exact linearizability search of one partition: the algorithm of Wing and Gong with
// Lowe's memoization, as porcupine's checker implements it (same cache, same model calls), with
// three differences:
//
//   - the order in which it tries the operations that may come next (searchOrder): porcupine's
//     order of calls, or the order of returns. Every order is exact, since every candidate is tried
//     before the search backtracks, but the time to find a linearization depends on it (see
//     partitionSearch, which runs one search in each order);
//   - it can be paused and resumed (run returns at a deadline and continues where it stopped), so
//     that a hard partition can get a short slice first and more time later without starting over;
//   - its memo cache draws on a shared byte budget (cacheBudget). Porcupine's cache grows for as
//     long as the search runs (gigabytes in seconds on a hard key); once the budget is spent, the
//     search goes on without remembering new configurations. That is still exact, since the cache
//     only prunes configurations already explored, but it may revisit them.
type search struct {
	model porcupine.Model
	// The history as a doubly linked list of call and return entries in time order; lifted
	// entries are unlinked while they are part of the current linearization.
	head  *searchNode
	order searchOrder
	// lookahead, when set, prunes configurations that an overlapping read refutes (readLookahead).
	lookahead *readLookahead
	pending   []any // scratch for the lookahead's pending inputs
	// last is the candidate tried last at the current depth (nil: none yet); the next one tried
	// comes after it in the search's order.
	last *searchNode
	// linearized marks the operations in the current linearization prefix.
	linearized bitset
	state      any
	calls      []searchFrame
	cache      map[uint64][]cacheEntry
	arena      bitset // the remaining room of the block that cached bitsets are carved from
	arenaBlock int    // the size of that block, in words
	// buckets is the remaining room of the block that one-entry cache buckets are carved from
	// (almost every hash has one configuration), and bucketBlock that block's size: blocks
	// double from a few buckets, so that a small search allocates little.
	buckets     []cacheEntry
	bucketBlock int
	cacheBytes  int64
	budget      *cacheBudget
	// entryBytes is what one cache entry is accounted as: its bitset, the slice and interface
	// headers, and a share of the map.
	entryBytes int64
	done       bool
	ok         bool
	// Spent is the wall-clock time this search has run so far.
	spent time.Duration
}

type searchNode struct {
	value any
	match *searchNode // the return entry of a call; nil for a return
	id    int
	pos   int // the entry's position in time order
	next  *searchNode
	prev  *searchNode
}

type searchFrame struct {
	entry *searchNode
	state any
}

type cacheEntry struct {
	linearized bitset
	state      any
}

// cacheBudget is the byte budget shared by every search of one check.
type cacheBudget struct {
	remaining atomic.Int64
	exhausted atomic.Bool // set once a search was refused: the check reports it
}

func newCacheBudget(bytes int64) *cacheBudget {
	b := &cacheBudget{}
	b.remaining.Store(bytes)
	return b
}

func (b *cacheBudget) take(n int64) bool {
	if b.remaining.Add(-n) >= 0 {
		return true
	}
	b.remaining.Add(n)
	b.exhausted.Store(true)
	return false
}

func (b *cacheBudget) give(n int64) { b.remaining.Add(n) }

// searchOrder is the order in which a search tries the operations that may be linearized next.
type searchOrder int

const (
	// byCall tries them in the order of their calls, as porcupine does.
	byCall searchOrder = iota
	// byReturn tries them in the order of their returns, earliest first.
	byReturn
)

// timedEntry is a call or a return of one operation, as newSearch orders them.
type timedEntry struct {
	time   int64
	isCall bool
	id     int
}

// searchScratch is newSearch's temporary room: the entries it sorts and each operation's return
// node. Checks build thousands of small searches, on several goroutines; pooled, the scratch
// costs nothing after the first few.
type searchScratch struct {
	entries []timedEntry
	returns []*searchNode
}

var searchScratchPool = sync.Pool{New: func() any { return new(searchScratch) }}

// newSearch prepares a search of one partition. model must have Init, Step and Equal set.
func newSearch(model porcupine.Model, ops []porcupine.Operation, order searchOrder, lookahead *readLookahead, budget *cacheBudget) *search {
	scratch := searchScratchPool.Get().(*searchScratch)
	defer searchScratchPool.Put(scratch)
	entries := scratch.entries[:0]
	for id, op := range ops {
		entries = append(entries, timedEntry{op.Call, true, id}, timedEntry{op.Return, false, id})
	}
	// Time order; at equal times calls come first, because intervals are closed (porcupine's rule).
	slices.SortStableFunc(entries, func(a, b timedEntry) int {
		if c := cmp.Compare(a.time, b.time); c != 0 {
			return c
		}
		switch {
		case a.isCall == b.isCall:
			return 0
		case a.isCall:
			return -1
		}
		return 1
	})
	nodes := make([]searchNode, 2*len(ops)+1)
	head := &nodes[0]
	head.id = -1
	returns := slices.Grow(scratch.returns[:0], len(ops))[:len(ops)]
	prev := head
	for i, e := range entries {
		n := &nodes[i+1]
		n.id, n.pos = e.id, i+1
		if !e.isCall {
			n.value = ops[e.id].Output
			returns[e.id] = n
		}
		prev.next, n.prev = n, prev
		prev = n
	}
	for i, e := range entries {
		if e.isCall {
			n := &nodes[i+1]
			n.match, n.value = returns[e.id], ops[e.id].Input
		}
	}
	clear(returns) // the pool must not keep this search's nodes alive
	scratch.entries, scratch.returns = entries[:0], returns[:0]
	linearized := newBitset(len(ops))
	return &search{
		model:      model,
		head:       head,
		order:      order,
		lookahead:  lookahead,
		linearized: linearized,
		state:      model.Init(),
		// The linearization's depth never exceeds the operations, and a search that decides
		// remembers about one configuration per operation it linearizes: sized once.
		calls:      make([]searchFrame, 0, len(ops)),
		cache:      make(map[uint64][]cacheEntry, len(ops)),
		budget:     budget,
		entryBytes: int64(8*len(linearized)) + 24 + 16 + 48,
		done:       len(ops) == 0,
		ok:         len(ops) == 0,
	}
}

// stepsBetweenClockReads bounds how often run reads the clock and the stop flag.
const stepsBetweenClockReads = 256

// run continues the search until it is decided, the deadline passes, or stop is set. It reports
// whether the partition is decided; then ok says whether it is linearizable.
func (s *search) run(deadline time.Time, stop *atomic.Bool) bool {
	if s.done {
		return true
	}
	started := time.Now()
	defer func() { s.spent += time.Since(started) }()
	for steps := 1; s.head.next != nil; steps++ {
		if steps%stepsBetweenClockReads == 0 && (stop.Load() || !time.Now().Before(deadline)) {
			return false
		}
		entry := s.nextCandidate()
		if entry != nil {
			ok, next := s.model.Step(s.state, entry.value, entry.match.value)
			if !ok {
				s.last = entry
				continue
			}
			s.linearized.set(entry.id)
			if s.remember(next) {
				s.calls = append(s.calls, searchFrame{entry, s.state})
				s.state = next
				lift(entry)
				s.last = nil
				if s.lookahead == nil || s.readsStillPossible() {
					continue
				}
				// Refuted by an overlapping read: no completion; back out of it at once.
			} else {
				s.linearized.clear(entry.id)
				s.last = entry
				continue
			}
		}
		// No operation can come next (or the last one made a read impossible): backtrack.
		if len(s.calls) == 0 {
			s.finish(false)
			return true
		}
		top := s.calls[len(s.calls)-1]
		s.calls = s.calls[:len(s.calls)-1]
		s.state = top.state
		s.linearized.clear(top.entry.id)
		unlift(top.entry)
		s.last = top.entry
	}
	s.finish(true)
	return true
}

// nextCandidate returns the next operation to try at the current depth, after s.last in the
// search's order, among those that may be linearized next (the calls before the first return entry
// still in the list); nil when none is left.
func (s *search) nextCandidate() *searchNode {
	if s.order == byCall {
		n := s.head.next
		if s.last != nil {
			n = s.last.next
		}
		if n == nil || n.match == nil {
			return nil
		}
		return n
	}
	after := -1
	if s.last != nil {
		after = s.last.match.pos
	}
	var best *searchNode
	for n := s.head.next; n != nil && n.match != nil; n = n.next {
		if p := n.match.pos; p > after && (best == nil || p < best.match.pos) {
			best = n
		}
	}
	return best
}

// readsStillPossible asks the lookahead about every read that may be linearized next, and about
// the first read called after them (within lookaheadReach entries): whether it can still return
// what it returned, given the operations that may come before it. The read after the window
// matters when the reads that pin an order come only after the writes all returned.
func (s *search) readsStillPossible() bool {
	n := s.head.next
	for ; n != nil && n.match != nil; n = n.next {
		if s.lookahead.observes(n.value) && !s.readPossible(n) {
			return false
		}
	}
	for reach := 0; n != nil && reach < lookaheadReach; n, reach = n.next, reach+1 {
		if n.match != nil && s.lookahead.observes(n.value) {
			return s.readPossible(n)
		}
	}
	return true
}

// lookaheadReach bounds how far past the candidates readsStillPossible looks for the next read.
const lookaheadReach = 64

// readPossible asks the lookahead about one read (its call entry), with the operations not
// linearized whose calls precede its return.
func (s *search) readPossible(read *searchNode) bool {
	s.pending = s.pending[:0]
	for m := s.head.next; m != read.match; m = m.next {
		if m.match != nil && m != read {
			s.pending = append(s.pending, m.value)
		}
	}
	return s.lookahead.possible(s.state, read.value, read.match.value, s.pending)
}

// remember records the configuration (linearized set, state) and reports whether it is new. When
// the cache budget is spent, every configuration counts as new.
func (s *search) remember(state any) bool {
	key := s.linearized.hash()
	if s.model.Hash != nil {
		key ^= s.model.Hash(state)
	}
	bucket := s.cache[key]
	for _, e := range bucket {
		if s.linearized.equal(e.linearized) && s.model.Equal(state, e.state) {
			return false
		}
	}
	if s.budget.take(s.entryBytes) {
		s.cacheBytes += s.entryBytes
		if bucket == nil {
			bucket = s.newBucket()
		}
		s.cache[key] = append(bucket, cacheEntry{s.keep(s.linearized), state})
	}
	return true
}

// newBucket is an empty cache bucket with room for one entry, carved from a block of them; a
// second entry reallocates the bucket, as append does.
func (s *search) newBucket() []cacheEntry {
	if len(s.buckets) == 0 {
		s.bucketBlock = min(max(2*s.bucketBlock, 4), maxBucketBlock)
		s.buckets = make([]cacheEntry, s.bucketBlock)
	}
	b := s.buckets[:0:1]
	s.buckets = s.buckets[1:]
	return b
}

// maxBucketBlock bounds how many one-entry buckets one allocation carves.
const maxBucketBlock = 256

// keep copies a bitset into the search's arena, so that remembering a configuration costs an
// allocation per block rather than one per configuration. Blocks double from a few configurations'
// worth up to maxArenaWords, so that the many small partitions a check decides at once waste little.
func (s *search) keep(b bitset) bitset {
	if len(s.arena) < len(b) {
		s.arenaBlock = min(max(2*s.arenaBlock, 8*len(b)), max(maxArenaWords, len(b)))
		s.arena = make(bitset, s.arenaBlock)
	}
	kept := s.arena[:len(b):len(b)]
	copy(kept, b)
	s.arena = s.arena[len(b):]
	return kept
}

// maxArenaWords is the largest arena block: 4 KB.
const maxArenaWords = 512

func (s *search) finish(ok bool) {
	s.done, s.ok = true, ok
	s.release()
}

// release frees the cache and gives its bytes back to the budget.
func (s *search) release() {
	s.budget.give(s.cacheBytes)
	s.cacheBytes = 0
	s.cache = nil
	s.arena = nil
	s.calls = nil
}

func lift(entry *searchNode) {
	entry.prev.next = entry.next
	entry.next.prev = entry.prev
	match := entry.match
	match.prev.next = match.next
	if match.next != nil {
		match.next.prev = match.prev
	}
}

func unlift(entry *searchNode) {
	match := entry.match
	match.prev.next = match
	if match.next != nil {
		match.next.prev = match
	}
	entry.prev.next = entry
	entry.next.prev = entry
}

// bitset is a set of operation indices.
type bitset []uint64

func newBitset(bits int) bitset { return make(bitset, (bits+63)/64) }

func (b bitset) set(i int) { b[i/64] |= 1 << (i % 64) }

func (b bitset) clear(i int) { b[i/64] &^= 1 << (i % 64) }

func (b bitset) equal(other bitset) bool { return slices.Equal(b, other) }

// hash is porcupine's (the MurmurHash3 64-bit finalizer's multiplier).
func (b bitset) hash() uint64 {
	const prime uint64 = 0xff51afd7ed558ccd
	var h uint64
	for _, v := range b {
		h ^= v
		h *= prime
	}
	return h
}
