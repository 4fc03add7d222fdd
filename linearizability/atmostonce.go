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
	indexes := map[string]*tokenIndex{}
	judge := func(read *Operation, key, value string) {
		if reported[key] || undecidedSet[key] {
			return
		}
		ix := indexes[key]
		if ix == nil {
			ix = newTokenIndex(writes[key])
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

// decompose splits value into the writes' tokens: the first may be a put's, the rest are appends'.
// It first looks for a decomposition that uses each write at most once and, failing that, for one
// that repeats writes (a duplicated append), which judgeTokens then reports.
func decompose(value string, writes []*Operation) ([]*Operation, parse) {
	return newTokenIndex(writes).decompose(value)
}

// tokenIndex indexes a key's writes by value, with their distinct lengths: at each position of a
// value only the substrings of those lengths can be tokens.
type tokenIndex struct {
	// sorted holds the writes with a value, sorted by value (stably: equal values keep the
	// writes' order); groups are its runs of equal value, found by binary search. One array and
	// no map: a key's index costs two allocations however many writes it has.
	sorted  []*Operation
	groups  []tokenGroup
	lengths []int
	used    []bool       // decompose's scratch set, by position in sorted
	path    []*Operation // decompose's scratch path
}

// tokenGroup is a run sorted[start:end] of writes of one value.
type tokenGroup struct {
	value      string
	start, end int
}

func newTokenIndex(writes []*Operation) *tokenIndex {
	sorted := make([]*Operation, 0, len(writes))
	for _, w := range writes {
		if w.Value != "" {
			sorted = append(sorted, w)
		}
	}
	slices.SortStableFunc(sorted, func(a, b *Operation) int { return strings.Compare(a.Value, b.Value) })
	// Sized once: a run per distinct value at most, and values of a handful of lengths.
	ix := &tokenIndex{sorted: sorted, groups: make([]tokenGroup, 0, len(sorted)), lengths: make([]int, 0, 4)}
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j].Value == sorted[i].Value {
			j++
		}
		ix.groups = append(ix.groups, tokenGroup{value: sorted[i].Value, start: i, end: j})
		if !slices.Contains(ix.lengths, len(sorted[i].Value)) {
			ix.lengths = append(ix.lengths, len(sorted[i].Value))
		}
		i = j
	}
	slices.Sort(ix.lengths)
	return ix
}

// group is the run of writes whose value is token (an empty run when there is none).
func (ix *tokenIndex) group(token string) tokenGroup {
	i, found := slices.BinarySearchFunc(ix.groups, token, func(g tokenGroup, t string) int { return strings.Compare(g.value, t) })
	if !found {
		return tokenGroup{}
	}
	return ix.groups[i]
}

// decompose returns the tokens of value. The slice is the index's scratch path, valid until the
// next call: every read of a key is decomposed in turn and judged at once, so one path, grown to
// the longest value, serves them all instead of one grown per read.
func (ix *tokenIndex) decompose(value string) ([]*Operation, parse) {
	p := tokenParse{ix: ix, value: value}
	if ix.used == nil {
		ix.used = make([]bool, len(ix.sorted))
	}
	for _, allowRepeat := range []bool{false, true} {
		p.allowRepeat, p.exhausted, p.path = allowRepeat, false, ix.path[:0]
		clear(ix.used)
		found := p.search(0)
		ix.path = p.path[:0] // keep what the path grew to
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
// and with repeats) against maxParseSteps. The used set is the index's, cleared for each pass, so
// that checking every read of a key allocates it once.
type tokenParse struct {
	ix          *tokenIndex
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
	used, sorted := p.ix.used, p.ix.sorted
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
