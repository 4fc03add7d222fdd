package linearizability

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/stateflush/stateflush/protocol"
)

// OpKind names a client operation. The values are the protocol's "op" attribute values.
type OpKind string

// The client operations of the key-value store.
const (
	OpGet      OpKind = protocol.OpGet
	OpPut      OpKind = protocol.OpPut
	OpDelete   OpKind = protocol.OpDelete
	OpAppend   OpKind = protocol.OpAppend
	OpSnapshot OpKind = protocol.OpSnapshot
)

// The operations of a compare-and-swap register (CASRegisterModel), in Jepsen's vocabulary.
const (
	// OpRead reads the register: Found and Output are what it returned (not found: nil).
	OpRead OpKind = "read"
	// OpWrite sets the register to Value.
	OpWrite OpKind = "write"
	// OpCAS sets the register to Value if it holds Expected. Status ok: it did; status fail: it
	// did not, because the register did not hold Expected (an observation, as in Jepsen, not an
	// operation without effect); status unknown: either.
	OpCAS OpKind = "cas"
)

// Status is how a client operation ended. The values are the protocol's "status" attribute values.
type Status string

// Operation outcomes; see protocol.StatusOK and its siblings for their exact meaning.
const (
	StatusOK      Status = protocol.StatusOK
	StatusFail    Status = protocol.StatusFail
	StatusUnknown Status = protocol.StatusUnknown
)

// InfiniteTimeUS is the return time of an operation whose outcome is unknown: it may take effect at
// any point after its invocation, so for the checker it never returns. Porcupine compares times as
// int64, so the largest int64 sorts after every real return.
const InfiniteTimeUS int64 = math.MaxInt64

// Sentinel errors for malformed input. Every error this package returns for bad input wraps one of
// them and names the offending record, operation or parameter.
var (
	// ErrMalformedTrace: a trace record is missing an attribute, has an unparsable one, or
	// contradicts an earlier record.
	ErrMalformedTrace = errors.New("malformed trace")
	// ErrMalformedHistory: an operation is inconsistent (unknown kind or status, return before call,
	// output on an operation that has none).
	ErrMalformedHistory = errors.New("malformed history")
	// ErrInvalidParameter: a parameter of a check or report is out of range.
	ErrInvalidParameter = errors.New("invalid parameter")
)

// Operation is one client operation of a history: what was asked, what came back, and when.
//
// Times are virtual microseconds. An operation whose outcome is unknown (the client gave up, or the
// run ended first) has ReturnUS == InfiniteTimeUS. InvokeSeq and ReturnSeq are the trace positions
// of its op-invoke and op-return records (0 when there was none), so reports can point into the
// trace.
type Operation struct {
	Client int32  `json:"client"`
	Seq    uint64 `json:"seq"`
	Kind   OpKind `json:"op"`
	Key    string `json:"key,omitempty"`
	// Value is the input of a put, an append, a write or a cas (the new value).
	Value string `json:"value,omitempty"`
	// Expected is what a cas compares the register with.
	Expected string `json:"expected,omitempty"`
	Status   Status `json:"status"`
	// Found and Output are what a successful get or read returned.
	Found  bool   `json:"found,omitempty"`
	Output string `json:"output,omitempty"`
	// Snapshot is what a successful snapshot returned: every live key's value.
	Snapshot  map[string]string `json:"snapshot,omitempty"`
	CallUS    int64             `json:"call_us"`
	ReturnUS  int64             `json:"return_us"`
	InvokeSeq uint64            `json:"invoke_seq,omitempty"`
	ReturnSeq uint64            `json:"return_seq,omitempty"`
}

// History is every client operation of a run in invocation order, failed and unknown ones included:
// the checker itself decides which operations constrain the result (see CheckHistory).
type History []Operation

// IsWrite reports whether the operation kind can change the store.
func (k OpKind) IsWrite() bool { return k == OpPut || k == OpDelete || k == OpAppend }

// valid reports whether the kind is one of the store's (the operations a trace records).
func (k OpKind) valid() bool {
	switch k {
	case OpGet, OpPut, OpDelete, OpAppend, OpSnapshot:
		return true
	}
	return false
}

func (s Status) valid() bool { return s == StatusOK || s == StatusFail || s == StatusUnknown }

// Acknowledged reports whether the client learned that the operation took effect.
func (op *Operation) Acknowledged() bool { return op.Status == StatusOK }

// OutcomeUnknown reports whether the operation may or may not have taken effect.
func (op *Operation) OutcomeUnknown() bool { return op.Status == StatusUnknown }

// String describes the operation in one line, e.g. `client 7 #3 get("k") -> "v" [ok] 1.2ms..1.5ms`.
func (op *Operation) String() string {
	end := "∞"
	if op.ReturnUS != InfiniteTimeUS {
		end = fmt.Sprint(op.ReturnUS)
	}
	return fmt.Sprintf("client %d #%d %s [%s] %dµs..%sµs", op.Client, op.Seq, describeCall(op), op.Status, op.CallUS, end)
}

// describeCall renders the operation and, when it returned successfully, its output.
func describeCall(op *Operation) string {
	var s string
	switch op.Kind {
	case OpGet:
		s = fmt.Sprintf("get(%q)", op.Key)
		if op.Status == StatusOK {
			s += " -> " + describePresence(op.Found, op.Output)
		}
	case OpPut:
		s = fmt.Sprintf("put(%q, %q)", op.Key, op.Value)
	case OpDelete:
		s = fmt.Sprintf("delete(%q)", op.Key)
	case OpAppend:
		s = fmt.Sprintf("append(%q, %q)", op.Key, op.Value)
	case OpRead:
		s = fmt.Sprintf("read(%q)", op.Key)
		if op.Status == StatusOK {
			s += " -> " + describePresence(op.Found, op.Output)
		}
	case OpWrite:
		s = fmt.Sprintf("write(%q, %q)", op.Key, op.Value)
	case OpCAS:
		s = fmt.Sprintf("cas(%q, %q -> %q)", op.Key, op.Expected, op.Value)
		switch op.Status {
		case StatusOK:
			s += " swapped"
		case StatusFail:
			s += " not swapped"
		}
	case OpLock:
		s = fmt.Sprintf("lock(%q)", op.Key)
		switch op.Status {
		case StatusOK:
			s += " -> token " + op.Output
		case StatusFail:
			s += " not granted"
		}
	case OpUnlock:
		s = fmt.Sprintf("unlock(%q, token %s)", op.Key, op.Value)
	case OpSnapshot:
		s = "snapshot()"
		if op.Status == StatusOK {
			s += " -> " + describePairs(sortedPairs(op.Snapshot))
		}
	default:
		s = fmt.Sprintf("%s(%q)", op.Kind, op.Key)
	}
	return s
}

func describePresence(found bool, value string) string {
	if !found {
		return "absent"
	}
	return fmt.Sprintf("%q", value)
}

// Validate checks that every operation is well formed for the built-in models (see
// validateOperations for what any model requires, storeOperationRules and casOperationRules for
// the kinds): a known kind and status, a key where the kind needs one, a return no earlier than the
// call, an infinite return exactly for unknown outcomes, outputs only where the kind has them, and
// unique (client, seq) pairs (CheckClientOverlaps checks more, for histories read from files).
// CheckHistory validates against the model it checks with instead, which may know other kinds.
func (h History) Validate() error { return h.validate(builtinOperationRules) }

// validate checks what every model requires, then each operation with rules (nil: no more).
//
// Every model requires a known status, a kind, a non-negative call time, a return no earlier than
// the call, an infinite return exactly for unknown outcomes, a snapshot output only on a successful
// snapshot, and unique (client, seq) pairs.
func (h History) validate(rules func(op *Operation) error) error {
	type clientSeq struct {
		client int32
		seq    uint64
	}
	seen := make(map[clientSeq]bool, len(h))
	for i := range h {
		op := &h[i]
		bad := func(format string, args ...any) error {
			return operationError(i, op, format, args...)
		}
		if op.Kind == "" {
			return bad("no op")
		}
		if !op.Status.valid() {
			return bad("unknown status %q", op.Status)
		}
		if op.Snapshot != nil && (op.Kind != OpSnapshot || op.Status != StatusOK) {
			return bad("snapshot output on a %s with status %s", op.Kind, op.Status)
		}
		if op.CallUS < 0 {
			return bad("call time %dµs is negative", op.CallUS)
		}
		if op.Status == StatusUnknown && op.ReturnUS != InfiniteTimeUS {
			return bad("unknown outcome with finite return time %dµs (want InfiniteTimeUS)", op.ReturnUS)
		}
		if op.Status != StatusUnknown && (op.ReturnUS == InfiniteTimeUS || op.ReturnUS < op.CallUS) {
			return bad("return time %dµs is not in [call %dµs, ∞)", op.ReturnUS, op.CallUS)
		}
		if rules != nil {
			if err := rules(op); err != nil {
				return bad("%v", err)
			}
		}
		k := clientSeq{op.Client, op.Seq}
		if seen[k] {
			return bad("duplicate (client, seq)")
		}
		seen[k] = true
	}
	return nil
}

// CheckClientOverlaps reports the first operation that overlaps an earlier one of the same client
// (a client waits for each operation before the next). An operation of unknown outcome is the
// exception: its return time is infinite because the client gave up waiting, so it overlaps with
// whatever the client did next, and that is allowed. History readers apply it to files; the
// simulator's histories satisfy it by construction.
func (h History) CheckClientOverlaps() error {
	order := make([]int, 0, len(h))
	for i := range h {
		if h[i].Status != StatusUnknown {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := cmp.Compare(h[a].Client, h[b].Client); c != 0 {
			return c
		}
		return cmp.Compare(h[a].CallUS, h[b].CallUS)
	})
	for n := 1; n < len(order); n++ {
		prev, op := &h[order[n-1]], &h[order[n]]
		if prev.Client == op.Client && op.CallUS < prev.ReturnUS {
			return operationError(order[n], op, "overlaps operation %d of the same client (%s): a client's operations must not overlap", order[n-1], prev.String())
		}
	}
	return nil
}

// OperationError is what History.Validate and CheckClientOverlaps return: the problem and the
// index of the operation that has it, so that a file reader can add where in the file it is. It
// wraps ErrMalformedHistory.
type OperationError struct {
	Index   int
	Client  int32
	Seq     uint64
	Problem string
}

func (e *OperationError) Error() string {
	return fmt.Sprintf("%v: operation %d (client %d seq %d): %s", ErrMalformedHistory, e.Index, e.Client, e.Seq, e.Problem)
}

func (e *OperationError) Unwrap() error { return ErrMalformedHistory }

func operationError(i int, op *Operation, format string, args ...any) error {
	return &OperationError{Index: i, Client: op.Client, Seq: op.Seq, Problem: fmt.Sprintf(format, args...)}
}

// builtinOperationRules checks an operation of any built-in model's kinds.
func builtinOperationRules(op *Operation) error {
	switch op.Kind {
	case OpRead, OpWrite, OpCAS:
		return casOperationRules(op)
	case OpLock, OpUnlock:
		return lockOperationRules(op)
	}
	return storeOperationRules(op)
}

// storeOperationRules checks an operation of the store (get, put, delete, append, snapshot).
func storeOperationRules(op *Operation) error {
	if !op.Kind.valid() {
		return fmt.Errorf("unknown op %q", op.Kind)
	}
	if op.Kind != OpSnapshot && op.Key == "" {
		return fmt.Errorf("%s without a key", op.Kind)
	}
	if op.Kind == OpSnapshot && op.Key != "" {
		return fmt.Errorf("snapshot with key %q", op.Key)
	}
	if op.Value != "" && op.Kind != OpPut && op.Kind != OpAppend {
		return fmt.Errorf("%s with input value %q", op.Kind, op.Value)
	}
	if op.Expected != "" {
		return fmt.Errorf("%s with an expected value (only cas has one)", op.Kind)
	}
	return checkReadOutput(op, OpGet)
}

// casOperationRules checks an operation of a compare-and-swap register (read, write, cas). The key
// may be empty: a history of one register.
func casOperationRules(op *Operation) error {
	switch op.Kind {
	case OpRead, OpWrite, OpCAS:
	default:
		return fmt.Errorf("unknown op %q (a cas register knows read, write and cas)", op.Kind)
	}
	if op.Value != "" && op.Kind == OpRead {
		return fmt.Errorf("read with input value %q", op.Value)
	}
	if op.Expected != "" && op.Kind != OpCAS {
		return fmt.Errorf("%s with an expected value (only cas has one)", op.Kind)
	}
	return checkReadOutput(op, OpRead)
}

// checkReadOutput allows found and output only on a successful operation of the reading kind.
func checkReadOutput(op *Operation, reading OpKind) error {
	if (op.Found || op.Output != "") && (op.Kind != reading || op.Status != StatusOK) {
		return fmt.Errorf("output %q on a %s with status %s", op.Output, op.Kind, op.Status)
	}
	if op.Output != "" && !op.Found {
		return fmt.Errorf("%s output %q but found is false", reading, op.Output)
	}
	return nil
}

// operationsByKey groups the operations keep accepts by key, each key's in history order. The
// groups share one array (one allocation for all of them, not a growing slice per key).
func (h History) operationsByKey(keep func(op *Operation) bool) map[string][]*Operation {
	counts := map[string]int{}
	total := 0
	for i := range h {
		if keep(&h[i]) {
			counts[h[i].Key]++
			total++
		}
	}
	all := make([]*Operation, total)
	groups := make(map[string][]*Operation, len(counts))
	next := 0
	for i := range h {
		op := &h[i]
		if !keep(op) {
			continue
		}
		g, ok := groups[op.Key]
		if !ok {
			n := counts[op.Key]
			g = all[next : next : next+n]
			next += n
		}
		groups[op.Key] = append(g, op)
	}
	return groups
}

// HasSnapshots reports whether any snapshot returned successfully, which forces the whole-store
// model (a snapshot reads every key at once, so the history cannot be split by key).
func (h History) HasSnapshots() bool {
	for i := range h {
		if h[i].Kind == OpSnapshot && h[i].Status == StatusOK {
			return true
		}
	}
	return false
}

// Keys returns the distinct keys the history touches, sorted.
func (h History) Keys() []string {
	seen := make(map[string]bool)
	var keys []string
	for i := range h {
		if k := h[i].Key; k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
