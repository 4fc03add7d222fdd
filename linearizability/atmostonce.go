package linearizability

import (
	"fmt"
	"slices"
	"strings"
)

// AtMostOnceCheck names violations of CheckAtMostOnce.
const AtMostOnceCheck CheckName = "at-most-once"

// maxParseSteps bounds the search for one value's decomposition into tokens. Values made of unique
// tokens (the workload's "c<client>-<seq>;") decompose in one pass; the bound only matters for
// values built from tokens that are prefixes of each other.
const maxParseSteps = 100_000

// CheckAtMostOnce checks that every value a read (a get or a snapshot) returned is a concatenation
// of the tokens the key's writes wrote: optionally a put's value first, then append values, each
// operation's token at most once, no token of a write that failed (it surely had no effect), and in
// an order consistent with real time (a token whose operation returned before another's was invoked
// comes first). Together with CheckAcknowledgedWrites, which requires every acknowledged append
// that nothing can have overwritten to be in the final value, this makes each acknowledged append
// occur exactly once. It assumes every write's value is a token that identifies it (the workload's
// values do); values equal between operations are counted as a multiset.
//
// undecided lists keys whose values the search could not decompose within its bound: they are
// neither passed nor failed, and the caller must treat them as unknown.
func CheckAtMostOnce(h History) (violations []Violation, undecided []string, err error) {
	if err := h.Validate(); err != nil {
		return nil, nil, err
	}
	writes := h.operationsByKey(func(op *Operation) bool { return op.Kind == OpPut || op.Kind == OpAppend })
	reported := map[string]bool{}
	report := func(key string, v Violation) {
		if !reported[key] {
			reported[key] = true
			violations = append(violations, v)
		}
	}
	undecidedSet := map[string]bool{}
	arena := newTokenArena(writes)
	indexes := make(map[string]*tokenIndex, len(writes))
	judge := func(read *Operation, key, value string) {
		if reported[key] || undecidedSet[key] {
			return
		}
		ix := indexes[key]
		if ix == nil {
			ix = arena.index(writes[key])
			indexes[key] = ix
		}
		tokens, result := ix.decompose(value)
		if result == undecidable {
			undecidedSet[key] = true
			undecided = append(undecided, key)
			return
		}
		if problem, culprits := judgeTokens(tokens, result); problem != "" {
			seqs := []uint64{read.InvokeSeq, read.ReturnSeq}
			for _, c := range culprits {
				seqs = append(seqs, c.InvokeSeq, c.ReturnSeq)
			}
			report(key, Violation{Check: AtMostOnceCheck, Bucket: NoBucket, Key: key, TraceSeqs: traceSeqs(seqs...),
				Message: fmt.Sprintf("key %q: %s returned %q, but %s", key, describeCall(read)+fmt.Sprintf(" by client %d #%d", read.Client, read.Seq), value, problem)})
		}
	}
	for i := range h {
		op := &h[i]
		if op.Status != StatusOK {
			continue
		}
		switch op.Kind {
		case OpGet:
			if op.Found {
				judge(op, op.Key, op.Output)
			}
		case OpSnapshot:
			for _, key := range sortedKeys(op.Snapshot) {
				judge(op, key, op.Snapshot[key])
			}
		}
	}
	return violations, undecided, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// parse is the outcome of decompose.
type parse int

const (
	parsed      parse = iota // the value is a concatenation of tokens
	unparseable              // no concatenation of the writes' tokens gives the value
	undecidable              // the search ran out of steps
)

// tokenArena carves the token indexes of every key of one check from arrays sized once for all
// of them, and holds the scratch every decomposition shares (the used set and the path: each read
// is decomposed and judged at once, before the next). A check costs a handful of allocations
// however many keys it reads, where an index of its own per key cost half a dozen each.
type tokenArena struct {
	indexes []tokenIndex
	sorted  []*Operation
	groups  []tokenGroup
	lengths []int
	used    []bool       // decompose's scratch set, by position in the key's sorted writes
	path    []*Operation // decompose's scratch path
}

// lengthsPerKey is the room carved for one key's distinct token lengths: the workload's tokens
// "c<client>-<seq>;" come in a few lengths; a key with more grows its own slice.
const lengthsPerKey = 8

func newTokenArena(writes map[string][]*Operation) *tokenArena {
	total, most := 0, 0
	for _, ws := range writes {
		total += len(ws)
		most = max(most, len(ws))
	}
	return &tokenArena{
		indexes: make([]tokenIndex, 0, len(writes)),
		sorted:  make([]*Operation, 0, total),
		groups:  make([]tokenGroup, 0, total),
		lengths: make([]int, 0, lengthsPerKey*len(writes)),
		used:    make([]bool, most),
		path:    make([]*Operation, 0, most+1),
	}
}

// tokenIndex indexes a key's writes by value, with their distinct lengths: at each position of a
// value only the substrings of those lengths can be tokens.
type tokenIndex struct {
	// sorted holds the writes with a value, sorted by value (stably: equal values keep the
	// writes' order); groups are its runs of equal value, found by binary search. Arrays, no
	// map, carved from the arena.
	sorted  []*Operation
	groups  []tokenGroup
	lengths []int
	arena   *tokenArena // the scratch decompose uses
}

// tokenGroup is a run sorted[start:end] of writes of one value.
type tokenGroup struct {
	value      string
	start, end int
}

// index builds a key's token index from the arena, which was sized for each key once.
func (a *tokenArena) index(writes []*Operation) *tokenIndex {
	start := len(a.sorted)
	for _, w := range writes {
		if w.Value != "" {
			a.sorted = append(a.sorted, w)
		}
	}
	sorted := a.sorted[start:len(a.sorted):len(a.sorted)]
	slices.SortStableFunc(sorted, func(a, b *Operation) int { return strings.Compare(a.Value, b.Value) })
	if len(a.groups)+len(sorted) > cap(a.groups) || len(a.lengths)+lengthsPerKey > cap(a.lengths) {
		// More writes than the arena was sized for (a key indexed twice): this key's arrays are
		// its own.
		a.groups, a.lengths = make([]tokenGroup, 0, len(sorted)), make([]int, 0, lengthsPerKey)
	}
	n, l := len(a.groups), len(a.lengths)
	groups := a.groups[n : n : n+len(sorted)]
	lengths := a.lengths[l : l : l+lengthsPerKey]
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j].Value == sorted[i].Value {
			j++
		}
		groups = append(groups, tokenGroup{value: sorted[i].Value, start: i, end: j})
		if !slices.Contains(lengths, len(sorted[i].Value)) {
			lengths = append(lengths, len(sorted[i].Value))
		}
		i = j
	}
	slices.Sort(lengths)
	a.groups = a.groups[:n+len(groups)]
	if cap(lengths) <= lengthsPerKey { // still in the arena's block, not grown out of it
		a.lengths = a.lengths[:l+len(lengths)]
	}
	a.indexes = append(a.indexes, tokenIndex{sorted: sorted, groups: groups, lengths: lengths, arena: a})
	return &a.indexes[len(a.indexes)-1]
}

// group is the run of writes whose value is token (an empty run when there is none).
func (ix *tokenIndex) group(token string) tokenGroup {
	i, found := slices.BinarySearchFunc(ix.groups, token, func(g tokenGroup, t string) int { return strings.Compare(g.value, t) })
	if !found {
		return tokenGroup{}
	}
	return ix.groups[i]
}

// decompose returns the tokens of value. The slice is the arena's scratch path, valid until the
// next call: every read is decomposed in turn and judged at once, so one path, grown to the
// longest value, serves them all instead of one grown per read.
func (ix *tokenIndex) decompose(value string) ([]*Operation, parse) {
	a := ix.arena
	p := tokenParse{ix: ix, value: value, used: a.used[:len(ix.sorted)]}
	for _, allowRepeat := range []bool{false, true} {
		p.allowRepeat, p.exhausted, p.path = allowRepeat, false, a.path[:0]
		clear(p.used)
		found := p.search(0)
		a.path = p.path[:0] // keep what the path grew to
		if found {
			return p.path, parsed
		}
		if p.exhausted {
			return nil, undecidable
		}
	}
	return nil, unparseable
}

// tokenParse is one decomposition's depth-first search; steps count across both passes (without
// and with repeats) against maxParseSteps. The used set is the arena's, cleared for each pass, so
// that checking every read allocates nothing.
type tokenParse struct {
	ix          *tokenIndex
	used        []bool // by position in ix.sorted
	value       string
	allowRepeat bool
	steps       int
	exhausted   bool
	path        []*Operation
}

func (p *tokenParse) search(pos int) bool {
	if pos == len(p.value) {
		return true
	}
	used, sorted := p.used, p.ix.sorted
	for _, n := range p.ix.lengths {
		if pos+n > len(p.value) {
			break
		}
		g := p.ix.group(p.value[pos : pos+n])
		for k := g.start; k < g.end; k++ {
			w := sorted[k]
			if p.steps++; p.steps > maxParseSteps {
				p.exhausted = true
				return false
			}
			if (!p.allowRepeat && used[k]) || (pos > 0 && w.Kind != OpAppend) {
				continue
			}
			used[k] = true
			p.path = append(p.path, w)
			if p.search(pos+n) || p.exhausted {
				return !p.exhausted
			}
			p.path = p.path[:len(p.path)-1]
			used[k] = false
			if !p.allowRepeat {
				continue
			}
			break // with repeats allowed, writes of equal value are interchangeable
		}
	}
	return false
}

// judgeTokens says what is wrong with a decomposition: a value that is no concatenation of tokens,
// a write applied twice, a failed write applied, or two tokens in an order real time forbids.
func judgeTokens(tokens []*Operation, result parse) (string, []*Operation) {
	if result == unparseable {
		return "the value is not a concatenation of the key's written values (a put's, then appends')", nil
	}
	seen := map[*Operation]bool{}
	for _, w := range tokens {
		if seen[w] {
			return fmt.Sprintf("%s occurs twice in it: applied more than once", describeWrite(w)), []*Operation{w}
		}
		seen[w] = true
		if w.Status == StatusFail {
			return fmt.Sprintf("it holds %s, which failed and so had no effect", describeWrite(w)), []*Operation{w}
		}
	}
	for i, earlier := range tokens {
		for _, later := range tokens[i+1:] {
			if later.ReturnUS < earlier.CallUS {
				return fmt.Sprintf("%s comes before %s, which returned before the first was invoked",
					describeWrite(earlier), describeWrite(later)), []*Operation{earlier, later}
			}
		}
	}
	return "", nil
}
