package linearizability

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// Entry is one key of a bucket copy as its holder has it at the end of a run. A deleted key may
// remain as a tombstone carrying the delete's version.
type Entry struct {
	Key       string `json:"key"`
	Value     string `json:"value,omitempty"`
	Version   string `json:"version,omitempty"`
	Tombstone bool   `json:"tombstone,omitempty"`
}

// Holding is one member's copy of one bucket at the end of a run. The caller converts the store's
// state into holdings, one per (live member, bucket it holds); members that are down hold nothing.
type Holding struct {
	Node        int32   `json:"node"`
	NodeName    string  `json:"node_name,omitempty"`
	Bucket      int     `json:"bucket"`
	Primary     bool    `json:"primary,omitempty"`
	Initialized bool    `json:"initialized,omitempty"`
	Entries     []Entry `json:"entries"`
	// Events is the copy's event-id table: per client, the latest operation sequence number
	// applied, sorted by client. It is what makes a retried write apply once, so every holder
	// must have the primary's.
	Events []ClientSeq `json:"events,omitempty"`
}

// ClientSeq is one entry of an event-id table.
type ClientSeq struct {
	Client int32  `json:"client"`
	Seq    uint64 `json:"seq"`
}

// RedundancyTarget is what CheckRedundancy expects of the cluster at the end of a run.
type RedundancyTarget struct {
	// BucketCount is the number of buckets; buckets are numbered from 0.
	BucketCount int
	// CopiesWanted is the configured number of initialized copies of each bucket, primary
	// included (one primary plus CopiesWanted-1 redundant copies).
	CopiesWanted int
	// LiveMembers is how many members that can hold buckets are up at the end.
	LiveMembers int
}

// bucketView is one bucket's holdings, primary first, then by node.
type bucketView struct {
	bucket   int
	holdings []*Holding
	entries  []map[string]Entry // aligned with holdings
}

// primaries returns the bucket's primary holdings.
func (b *bucketView) primaries() []int {
	var p []int
	for i, h := range b.holdings {
		if h.Primary {
			p = append(p, i)
		}
	}
	return p
}

// groupHoldings validates holdings and groups them by bucket, buckets ascending.
func groupHoldings(holdings []Holding) ([]*bucketView, error) {
	type nodeBucket struct {
		node   int32
		bucket int
	}
	seen := map[nodeBucket]bool{}
	byBucket := map[int]*bucketView{}
	var buckets []int
	for i := range holdings {
		h := &holdings[i]
		if h.Bucket < 0 {
			return nil, fmt.Errorf("%w: holdings[%d] (node %d): bucket %d is negative", ErrInvalidParameter, i, h.Node, h.Bucket)
		}
		if seen[nodeBucket{h.Node, h.Bucket}] {
			return nil, fmt.Errorf("%w: holdings[%d]: node %d holds bucket %d twice", ErrInvalidParameter, i, h.Node, h.Bucket)
		}
		seen[nodeBucket{h.Node, h.Bucket}] = true
		entries := make(map[string]Entry, len(h.Entries))
		for _, e := range h.Entries {
			if _, dup := entries[e.Key]; dup {
				return nil, fmt.Errorf("%w: holdings[%d] (node %d bucket %d): key %q appears twice", ErrInvalidParameter, i, h.Node, h.Bucket, e.Key)
			}
			entries[e.Key] = e
		}
		b, ok := byBucket[h.Bucket]
		if !ok {
			b = &bucketView{bucket: h.Bucket}
			byBucket[h.Bucket] = b
			buckets = append(buckets, h.Bucket)
		}
		b.holdings = append(b.holdings, h)
		b.entries = append(b.entries, entries)
	}
	slices.Sort(buckets)
	views := make([]*bucketView, len(buckets))
	for i, bucket := range buckets {
		b := byBucket[bucket]
		order := make([]int, len(b.holdings))
		for j := range order {
			order[j] = j
		}
		slices.SortFunc(order, func(x, y int) int {
			hx, hy := b.holdings[x], b.holdings[y]
			if hx.Primary != hy.Primary {
				if hx.Primary {
					return -1
				}
				return 1
			}
			return int(hx.Node) - int(hy.Node)
		})
		sorted := &bucketView{bucket: bucket}
		for _, j := range order {
			sorted.holdings = append(sorted.holdings, b.holdings[j])
			sorted.entries = append(sorted.entries, b.entries[j])
		}
		views[i] = sorted
	}
	return views, nil
}

// holderValues describes what every holder of the bucket has for a key.
func (b *bucketView) holderValues(key string, index *traceIndex) []HolderValue {
	values := make([]HolderValue, len(b.holdings))
	for i, h := range b.holdings {
		e, present := b.entries[i][key]
		values[i] = HolderValue{
			Node: h.Node, NodeName: h.NodeName, Primary: h.Primary, Initialized: h.Initialized,
			Present: present, Value: e.Value, Version: e.Version, Tombstone: e.Tombstone,
			LastTraceSeq: index.lastTouch(h.Node, b.bucket, key),
		}
	}
	return values
}

func holderSeqs(values []HolderValue) []uint64 {
	seqs := make([]uint64, len(values))
	for i, v := range values {
		seqs[i] = v.LastTraceSeq
	}
	return seqs
}

func describeHolders(values []HolderValue) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = v.describe()
	}
	return strings.Join(parts, "; ")
}

// CheckConvergence checks that after quiescence every initialized holder of a bucket holds the same
// entries as the bucket's primary: the same keys with the same values, versions and tombstones,
// and the same event-id table.
// Each bucket must have exactly one primary, and it must be initialized. Records (optional) give
// each holder's last trace record touching the key (see HolderValue.LastTraceSeq).
//
// One violation is reported per (bucket, key) on which some initialized holder differs, naming
// every holder's entry. Invalid holdings (a negative bucket, a node holding a bucket twice, a key
// twice in one holding) are an error wrapping ErrInvalidParameter.
func CheckConvergence(holdings []Holding, records []trace.Record) ([]Violation, error) {
	buckets, err := groupHoldings(holdings)
	if err != nil {
		return nil, err
	}
	index := newTraceIndex(records)
	var violations []Violation
	for _, b := range buckets {
		primaries := b.primaries()
		if len(primaries) != 1 {
			violations = append(violations, Violation{
				Check: ConvergenceCheck, Bucket: b.bucket, Holders: b.holderValues("", index),
				TraceSeqs: index.bucketSeqs(b.bucket),
				Message:   fmt.Sprintf("bucket %d has %d primaries after quiescence, want exactly 1 (holders: %s)", b.bucket, len(primaries), describeNodes(b.holdings)),
			})
			if len(primaries) == 0 {
				continue
			}
		}
		primary := b.holdings[primaries[0]]
		if !primary.Initialized {
			violations = append(violations, Violation{
				Check: ConvergenceCheck, Bucket: b.bucket, TraceSeqs: index.bucketSeqs(b.bucket),
				Message: fmt.Sprintf("bucket %d: primary node %d is not initialized", b.bucket, primary.Node),
			})
		}
		for _, key := range unionKeys(b.entries) {
			want, wantPresent := b.entries[primaries[0]][key]
			var differing []string
			for i, h := range b.holdings {
				if i == primaries[0] || !h.Initialized {
					continue
				}
				got, present := b.entries[i][key]
				if present != wantPresent || got != want {
					differing = append(differing, fmt.Sprintf("node %d", h.Node))
				}
			}
			if len(differing) == 0 {
				continue
			}
			values := b.holderValues(key, index)
			violations = append(violations, Violation{
				Check: ConvergenceCheck, Bucket: b.bucket, Key: key, Holders: values,
				TraceSeqs: traceSeqs(holderSeqs(values)...),
				Message: fmt.Sprintf("bucket %d key %q: %s differ from primary node %d after quiescence: %s",
					b.bucket, key, strings.Join(differing, ", "), primary.Node, describeHolders(values)),
			})
		}
		for _, h := range b.holdings {
			if h == primary || !h.Initialized {
				continue
			}
			if diff := diffEvents(primary.Events, h.Events); diff != "" {
				violations = append(violations, Violation{
					Check: ConvergenceCheck, Bucket: b.bucket, TraceSeqs: index.bucketSeqs(b.bucket),
					Message: fmt.Sprintf("bucket %d: node %d's event-id table differs from primary node %d's after quiescence: %s",
						b.bucket, h.Node, primary.Node, diff),
				})
			}
		}
	}
	return violations, nil
}

// diffEvents describes how table got differs from want (up to five clients), or "" if they agree.
func diffEvents(want, got []ClientSeq) string {
	w, g := map[int32]uint64{}, map[int32]uint64{}
	var clients []int32
	for _, e := range want {
		w[e.Client] = e.Seq
		clients = append(clients, e.Client)
	}
	for _, e := range got {
		g[e.Client] = e.Seq
		clients = append(clients, e.Client)
	}
	slices.Sort(clients)
	clients = slices.Compact(clients)
	var parts []string
	for _, c := range clients {
		if w[c] != g[c] {
			parts = append(parts, fmt.Sprintf("client %d: %d, primary %d", c, g[c], w[c]))
		}
	}
	if len(parts) > 5 {
		parts = append(parts[:5], fmt.Sprintf("and %d more", len(parts)-5))
	}
	return strings.Join(parts, "; ")
}

func unionKeys(entries []map[string]Entry) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range entries {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

func describeNodes(holdings []*Holding) string {
	parts := make([]string, len(holdings))
	for i, h := range holdings {
		parts[i] = fmt.Sprintf("node %d", h.Node)
		if h.Primary {
			parts[i] += " (primary)"
		}
	}
	return strings.Join(parts, ", ")
}

// CheckAcknowledgedWrites checks that no acknowledged write is missing from the primaries' final
// state. bucketOf maps a key to its bucket (the store's partitioning). The rules are sound: they
// never blame a correct run, however many writes ended with an unknown outcome.
//
// For a key written only by puts and deletes, the final value must be the result of some write W
// that could have been linearized last: no acknowledged write to the key was invoked after W
// returned (a write of unknown outcome never returns, so it is always a candidate, and it never
// rules another out because it may not have taken effect). If no write to the key was
// acknowledged, "absent" is a candidate too. For a key with appends, the final value must contain
// the text of every acknowledged append that was invoked after every put and delete of the key had
// returned (so nothing can have overwritten it). Failed writes had no effect and are ignored.
//
// A key whose bucket has no primary at the end, while the key has acknowledged writes, is reported
// once per bucket. Records (optional) point each violation at the writes' op events and the
// holders' last records touching the key.
func CheckAcknowledgedWrites(h History, holdings []Holding, bucketOf func(key string) int, records []trace.Record) ([]Violation, error) {
	if bucketOf == nil {
		return nil, fmt.Errorf("%w: bucketOf is nil", ErrInvalidParameter)
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	buckets, err := groupHoldings(holdings)
	if err != nil {
		return nil, err
	}
	byBucket := map[int]*bucketView{}
	for _, b := range buckets {
		byBucket[b.bucket] = b
	}
	index := newTraceIndex(records)
	writesByKey := h.operationsByKey(func(op *Operation) bool { return op.Kind.IsWrite() && op.Status != StatusFail })
	tokens := newTokenArena(writesByKey)
	var violations []Violation
	lostBuckets := map[int][]string{}
	for _, key := range h.Keys() {
		writes := writesByKey[key]
		bucket := bucketOf(key)
		b := byBucket[bucket]
		var primary int = -1
		if b != nil {
			if p := b.primaries(); len(p) > 0 {
				primary = p[0]
			}
		}
		if primary < 0 {
			if hasAcknowledged(writes) {
				lostBuckets[bucket] = append(lostBuckets[bucket], key)
			}
			continue
		}
		final, present := b.entries[primary][key]
		present = present && !final.Tombstone
		problem, culprits := explainFinalValue(tokens, writes, present, final.Value)
		if problem == "" {
			continue
		}
		values := b.holderValues(key, index)
		seqs := holderSeqs(values)
		for _, op := range culprits {
			seqs = append(seqs, op.InvokeSeq, op.ReturnSeq)
		}
		violations = append(violations, Violation{
			Check: AcknowledgedWriteCheck, Bucket: bucket, Key: key, Holders: values, TraceSeqs: traceSeqs(seqs...),
			Message: fmt.Sprintf("bucket %d key %q: primary node %d ends with %s, but %s (holders: %s)",
				bucket, key, b.holdings[primary].Node, describePresence(present, final.Value), problem, describeHolders(values)),
		})
	}
	for _, bucket := range sortedIntKeys(lostBuckets) {
		keys := lostBuckets[bucket]
		violations = append(violations, Violation{
			Check: AcknowledgedWriteCheck, Bucket: bucket, Key: keys[0], TraceSeqs: index.bucketSeqs(bucket),
			Message: fmt.Sprintf("bucket %d has no primary at the end, so acknowledged writes to %d keys are lost (%s)",
				bucket, len(keys), quoteList(keys, 5)),
		})
	}
	return violations, nil
}

func hasAcknowledged(writes []*Operation) bool {
	for _, w := range writes {
		if w.Acknowledged() {
			return true
		}
	}
	return false
}

// explainFinalValue applies CheckAcknowledgedWrites' rules to one key. It returns "" when the final
// value is consistent with the writes, else what is wrong and the writes that show it.
func explainFinalValue(tokens *tokenArena, writes []*Operation, present bool, value string) (string, []*Operation) {
	hasAppend := false
	for _, w := range writes {
		hasAppend = hasAppend || w.Kind == OpAppend
	}
	if hasAppend {
		return checkAppends(tokens, writes, present, value)
	}
	if !hasAcknowledged(writes) && !present {
		return "", nil // no write took effect for sure; the key may never have been written
	}
	if len(writes) == 0 {
		return "no write to the key was ever invoked", nil
	}
	var candidates []*Operation
	for _, w := range writes {
		if !acknowledgedWriteAfter(writes, w) {
			candidates = append(candidates, w)
		}
	}
	if len(candidates) == 0 {
		// The acknowledged write that returned last is always a candidate, and without
		// acknowledged writes every write is one.
		panic("acknowledged-write check: writes exist but none can have been last")
	}
	for _, c := range candidates {
		if c.Kind == OpDelete && !present || c.Kind == OpPut && present && c.Value == value {
			return "", nil
		}
	}
	descriptions := make([]string, len(candidates))
	for i, c := range candidates {
		descriptions[i] = describeWrite(c)
	}
	what := "the only write that can have been last is " + descriptions[0]
	if len(candidates) > 1 {
		what = "the writes that can have been last are " + strings.Join(descriptions, ", ")
	}
	if !hasAcknowledged(writes) {
		what += " (all of unknown outcome), or none"
	}
	return what, candidates
}

// acknowledgedWriteAfter reports whether some acknowledged write other than w was invoked after w
// returned, so w cannot be the last write to take effect.
func acknowledgedWriteAfter(writes []*Operation, w *Operation) bool {
	for _, x := range writes {
		if x != w && x.Acknowledged() && x.CallUS > w.ReturnUS {
			return true
		}
	}
	return false
}

// checkAppends applies the rules for a key with appends. An absent final value loses every
// acknowledged append that no put or delete can have overwritten. A present one must decompose
// into the writes' tokens (CheckAtMostOnce reports a value that does not); its first token is the
// last put (or, if an append, comes after the last delete), so every acknowledged append invoked
// after some token's operation returned took effect after that put or delete and must be there.
func checkAppends(arena *tokenArena, writes []*Operation, present bool, value string) (string, []*Operation) {
	if !present {
		for _, a := range writes {
			if a.Kind != OpAppend || !a.Acknowledged() {
				continue
			}
			overwritable := false
			for _, x := range writes {
				if x.Kind != OpAppend && x.ReturnUS >= a.CallUS {
					overwritable = true // a delete may have been linearized after the append
					break
				}
			}
			if !overwritable {
				return fmt.Sprintf("the acknowledged %s, after every put and delete of the key, is missing from it", describeWrite(a)), []*Operation{a}
			}
		}
		return "", nil
	}
	tokens, result := arena.index(writes).decompose(value)
	if result != parsed {
		return "", nil
	}
	bound := int64(InfiniteTimeUS)
	overwrites := false
	for _, w := range writes {
		overwrites = overwrites || w.Kind != OpAppend
	}
	if !overwrites {
		bound = -1 // nothing ever overwrote the key: every acknowledged append must be in it
	}
	for _, t := range tokens {
		if t.Acknowledged() {
			bound = min(bound, t.ReturnUS)
		}
	}
	for _, a := range writes {
		if a.Kind == OpAppend && a.Acknowledged() && a.CallUS > bound && !slices.Contains(tokens, a) {
			return fmt.Sprintf("the acknowledged %s, invoked after the value's own writes had taken effect, is missing from it", describeWrite(a)), []*Operation{a}
		}
	}
	return "", nil
}

func describeWrite(op *Operation) string {
	s := fmt.Sprintf("%s by client %d #%d", describeCall(op), op.Client, op.Seq)
	if op.OutcomeUnknown() {
		return s + " (outcome unknown)"
	}
	return s + fmt.Sprintf(" (acknowledged, %dµs..%dµs)", op.CallUS, op.ReturnUS)
}

// CheckRedundancy checks that each bucket has its wanted number of initialized copies, or as many
// as there are live members when fewer are up. Holdings must be those of live members. Records
// (optional) point each violation at the bucket's last membership events (initialized,
// redundancy-restored, image-discarded, data-lost, primary-change).
func CheckRedundancy(holdings []Holding, target RedundancyTarget, records []trace.Record) ([]Violation, error) {
	if target.BucketCount < 0 {
		return nil, fmt.Errorf("%w: BucketCount %d is negative", ErrInvalidParameter, target.BucketCount)
	}
	if target.CopiesWanted < 1 {
		return nil, fmt.Errorf("%w: CopiesWanted %d must be at least 1", ErrInvalidParameter, target.CopiesWanted)
	}
	if target.LiveMembers < 0 {
		return nil, fmt.Errorf("%w: LiveMembers %d is negative", ErrInvalidParameter, target.LiveMembers)
	}
	buckets, err := groupHoldings(holdings)
	if err != nil {
		return nil, err
	}
	byBucket := map[int]*bucketView{}
	for _, b := range buckets {
		if b.bucket >= target.BucketCount {
			return nil, fmt.Errorf("%w: a holding of bucket %d, but BucketCount is %d", ErrInvalidParameter, b.bucket, target.BucketCount)
		}
		byBucket[b.bucket] = b
	}
	index := newTraceIndex(records)
	required := min(target.CopiesWanted, target.LiveMembers)
	var violations []Violation
	for bucket := 0; bucket < target.BucketCount; bucket++ {
		b := byBucket[bucket]
		initialized := 0
		var holders []HolderValue
		if b != nil {
			for _, h := range b.holdings {
				if h.Initialized {
					initialized++
				}
				holders = append(holders, HolderValue{Node: h.Node, NodeName: h.NodeName, Primary: h.Primary, Initialized: h.Initialized, Present: true})
			}
		}
		if initialized >= required {
			continue
		}
		violations = append(violations, Violation{
			Check: RedundancyCheck, Bucket: bucket, Holders: holders, TraceSeqs: index.bucketSeqs(bucket),
			Message: fmt.Sprintf("bucket %d has %d initialized copies, want %d (%d wanted, %d live members); holders: %s",
				bucket, initialized, required, target.CopiesWanted, target.LiveMembers, describeHolderList(b)),
		})
	}
	return violations, nil
}

func describeHolderList(b *bucketView) string {
	if b == nil || len(b.holdings) == 0 {
		return "none"
	}
	parts := make([]string, len(b.holdings))
	for i, h := range b.holdings {
		state := "initialized"
		if !h.Initialized {
			state = "uninitialized"
		}
		if h.Primary {
			state += " primary"
		}
		parts[i] = fmt.Sprintf("node %d (%s)", h.Node, state)
	}
	return strings.Join(parts, ", ")
}

func sortedIntKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// traceIndex answers "which trace record last touched this key (or bucket) at this node".
type traceIndex struct {
	keyTouch     map[nodeKey]uint64
	chunkApplied map[nodeBucket]uint64
	bucketEvents map[int][]uint64 // last seq of each membership event name, per bucket
}

type nodeKey struct {
	node int32
	key  string
}

type nodeBucket struct {
	node   int32
	bucket int
}

// membershipEvents are the events whose last occurrence per bucket explains a bucket's copies.
var membershipEvents = []string{
	protocol.EventInitialized, protocol.EventRedundancyRestored, protocol.EventImageDiscarded,
	protocol.EventDataLost, protocol.EventPrimaryChange,
}

func newTraceIndex(records []trace.Record) *traceIndex {
	index := &traceIndex{keyTouch: map[nodeKey]uint64{}, chunkApplied: map[nodeBucket]uint64{}, bucketEvents: map[int][]uint64{}}
	lastByName := map[int]map[string]uint64{}
	for i := range records {
		r := &records[i]
		if r.Kind != trace.KindEvent {
			continue
		}
		if key, ok := r.Get("key"); ok {
			index.keyTouch[nodeKey{r.Node, key}] = r.Seq
		}
		text, ok := r.Get("bucket")
		if !ok {
			continue
		}
		bucket, err := strconv.Atoi(text)
		if err != nil {
			continue // not a bucket this index can use; the protocol's own checks report bad events
		}
		if r.Name == protocol.EventImageChunkApplied {
			index.chunkApplied[nodeBucket{r.Node, bucket}] = r.Seq
		}
		if slices.Contains(membershipEvents, r.Name) {
			if lastByName[bucket] == nil {
				lastByName[bucket] = map[string]uint64{}
			}
			lastByName[bucket][r.Name] = r.Seq
		}
	}
	for bucket, byName := range lastByName {
		var seqs []uint64
		for _, seq := range byName {
			seqs = append(seqs, seq)
		}
		index.bucketEvents[bucket] = traceSeqs(seqs...)
	}
	return index
}

// lastTouch is the last record at node with the key attribute, or else the last image chunk the
// node applied for the bucket, or 0.
func (ix *traceIndex) lastTouch(node int32, bucket int, key string) uint64 {
	if seq, ok := ix.keyTouch[nodeKey{node, key}]; ok && key != "" {
		return seq
	}
	return ix.chunkApplied[nodeBucket{node, bucket}]
}

func (ix *traceIndex) bucketSeqs(bucket int) []uint64 { return ix.bucketEvents[bucket] }
