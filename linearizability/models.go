package linearizability

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The porcupine models. Both are pure: Step never mutates the state it is given.
//
// Inputs and outputs are *modelInput and *modelOutput values built by PorcupineOperations; states
// are *registerState (one key) or storeState (every key).

// modelInput is what an operation asked for. Client and seq ride along only for descriptions.
// Operations carry *modelInput (and *modelOutput), so that boxing them in interfaces allocates
// nothing.
type modelInput struct {
	kind     OpKind
	key      string
	value    string
	expected string // what a cas compares with
	client   int32
	seq      uint64
	// unknown marks an operation whose outcome is unknown: its output is unconstrained.
	unknown bool
	// notSwapped marks a cas that returned status fail: it observed a value other than expected.
	notSwapped bool
	// afterPut is the register state a put leaves, built once so that stepping a put allocates
	// nothing however often the search retries it.
	afterPut registerState
}

// modelOutput is what an operation returned: found/value for a get, the sorted pairs for a snapshot.
type modelOutput struct {
	found    bool
	value    string
	snapshot []keyValue
}

// registerState is one key's state: absent, or present with a value. The model passes
// *registerState and never mutates one after creating it.
type registerState struct {
	present bool
	value   string
}

var absentRegister = &registerState{}

// keyValue is one live key of the whole store.
type keyValue struct {
	key, value string
}

// storeState is every live key's value, sorted by key. It is never mutated once built.
type storeState []keyValue

// RegisterModel is the per-key model: a register that is absent or holds a string. It knows the
// store's get, put, delete and append (append to an absent key creates it with the appended text)
// and the compare-and-swap register's read, write and cas (a cas swaps only a present value equal
// to its expected one; a cas that returned status fail observed another value or none). It
// partitions a history by key, so each key is checked on its own. Operations must come from
// PorcupineOperations, and must not include snapshots.
var RegisterModel = porcupine.Model{
	Partition: partitionByKey,
	Init:      func() any { return absentRegister },
	Step: func(state, input, output any) (bool, any) {
		s := state.(*registerState)
		in := input.(*modelInput)
		switch in.kind {
		case OpGet, OpRead:
			if in.unknown {
				return true, state
			}
			out := output.(*modelOutput)
			return out.found == s.present && (!s.present || out.value == s.value), state
		case OpPut, OpWrite:
			return true, &in.afterPut
		case OpDelete:
			return true, absentRegister
		case OpAppend:
			return true, &registerState{present: true, value: s.value + in.value}
		case OpCAS:
			matches := s.present && s.value == in.expected
			switch {
			case in.notSwapped:
				return !matches, state
			case matches:
				return true, &in.afterPut
			}
			// An acknowledged cas must have swapped; one of unknown outcome linearized here
			// found another value and changed nothing.
			return in.unknown, state
		}
		panic(fmt.Sprintf("register model: operation kind %q reached Step (PorcupineOperations admits only register operations)", in.kind))
	},
	Equal:                     registerEqual,
	Hash:                      registerHash,
	DescribeOperation:         describeModelOperation,
	DescribeState:             describeRegister,
	DescribeOperationMetadata: describeMetadata,
}

// emptyDefaultRegisterModel is RegisterModel for get, put, delete and append where an absent key
// reads as the empty string, as in porcupine's own key-value model (and MIT 6.824's labs, whose
// histories porcupine's tests use): a get returns a string, never "not found".
var emptyDefaultRegisterModel = func() porcupine.Model {
	m := RegisterModel
	m.Partition = nil
	m.Step = func(state, input, output any) (bool, any) {
		s := state.(*registerState)
		in := input.(*modelInput)
		if in.kind == OpGet {
			return in.unknown || output.(*modelOutput).value == s.value, state
		}
		return RegisterModel.Step(state, input, output)
	}
	return m
}()

func registerEqual(a, b any) bool { return *a.(*registerState) == *b.(*registerState) }

func registerHash(state any) uint64 {
	s := state.(*registerState)
	if !s.present {
		return 0
	}
	return hashString(fnvOffset, s.value) | 1
}

func describeRegister(state any) string {
	s := state.(*registerState)
	return describePresence(s.present, s.value)
}

// StoreModel is the whole-store model, for histories with snapshots: the state is every live key's
// value, and a snapshot must return exactly that. It cannot be partitioned, so its cost grows with
// the whole history; use it for the smaller histories that contain snapshots. Operations must come
// from PorcupineOperations.
var StoreModel = porcupine.Model{
	Init: func() any { return storeState(nil) },
	Step: func(state, input, output any) (bool, any) {
		s := state.(storeState)
		in := input.(*modelInput)
		switch in.kind {
		case OpGet:
			if in.unknown {
				return true, s
			}
			out := output.(*modelOutput)
			value, present := s.get(in.key)
			return out.found == present && (!present || out.value == value), s
		case OpSnapshot:
			if in.unknown {
				return true, s
			}
			return slices.Equal(output.(*modelOutput).snapshot, s), s
		case OpPut:
			return true, s.with(in.key, in.value)
		case OpDelete:
			return true, s.without(in.key)
		case OpAppend:
			value, _ := s.get(in.key)
			return true, s.with(in.key, value+in.value)
		}
		panic(fmt.Sprintf("store model: operation kind %q reached Step (PorcupineOperations admits only known kinds)", in.kind))
	},
	Equal: func(a, b any) bool { return slices.Equal(a.(storeState), b.(storeState)) },
	Hash: func(state any) uint64 {
		h := fnvOffset
		for _, kv := range state.(storeState) {
			h = hashString(hashString(h, kv.key), kv.value)
		}
		return h
	},
	DescribeOperation:         describeModelOperation,
	DescribeState:             func(state any) string { return describePairs(state.(storeState)) },
	DescribeOperationMetadata: describeMetadata,
}

func (s storeState) find(key string) (int, bool) {
	i := sort.Search(len(s), func(i int) bool { return s[i].key >= key })
	return i, i < len(s) && s[i].key == key
}

func (s storeState) get(key string) (string, bool) {
	if i, ok := s.find(key); ok {
		return s[i].value, true
	}
	return "", false
}

func (s storeState) with(key, value string) storeState {
	i, ok := s.find(key)
	if ok {
		next := make(storeState, len(s))
		copy(next, s)
		next[i].value = value
		return next
	}
	next := make(storeState, 0, len(s)+1)
	next = append(next, s[:i]...)
	next = append(next, keyValue{key, value})
	return append(next, s[i:]...)
}

func (s storeState) without(key string) storeState {
	i, ok := s.find(key)
	if !ok {
		return s
	}
	next := make(storeState, 0, len(s)-1)
	next = append(next, s[:i]...)
	return append(next, s[i+1:]...)
}

func sortedPairs(m map[string]string) []keyValue {
	pairs := make([]keyValue, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, keyValue{k, v})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].key < pairs[j].key })
	return pairs
}

func describePairs(pairs []keyValue) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range pairs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: %q", kv.key, kv.value)
	}
	b.WriteByte('}')
	return b.String()
}

func describeModelOperation(input, output any) string {
	in := input.(*modelInput)
	op := Operation{Kind: in.kind, Key: in.key, Value: in.value, Expected: in.expected, Status: StatusOK}
	if in.unknown {
		op.Status = StatusUnknown
	} else if in.notSwapped {
		op.Status = StatusFail
	} else if out, ok := output.(*modelOutput); ok && out != nil {
		op.Found, op.Output = out.found, out.value
		if in.kind == OpSnapshot {
			op.Snapshot = make(map[string]string, len(out.snapshot))
			for _, kv := range out.snapshot {
				op.Snapshot[kv.key] = kv.value
			}
		}
	}
	s := describeCall(&op)
	if in.unknown {
		s += " (outcome unknown)"
	}
	return s
}

// operationMetadata is shown in the visualization's tooltip: who issued the operation and where it
// is in the trace.
type operationMetadata struct {
	client               int32
	seq                  uint64
	invokeSeq, returnSeq uint64
}

func describeMetadata(info any) string {
	m, ok := info.(*operationMetadata)
	if !ok || m == nil {
		return ""
	}
	s := fmt.Sprintf("client %d, op #%d", m.client, m.seq)
	if m.invokeSeq != 0 {
		s += fmt.Sprintf(", trace seq %d", m.invokeSeq)
		if m.returnSeq != 0 {
			s += fmt.Sprintf("..%d", m.returnSeq)
		}
	}
	return s
}

// partitionByKey splits a history into one partition per key, in key order so that partition
// indices are deterministic. All partitions share one backing array, sized in a first pass.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	index := make(map[string]int)
	var keys []string
	var counts []int
	keyIndex := make([]int, len(history))
	for i, op := range history {
		key := operationKey(op)
		k, ok := index[key]
		if !ok {
			k = len(keys)
			index[key] = k
			keys = append(keys, key)
			counts = append(counts, 0)
		}
		keyIndex[i] = k
		counts[k]++
	}
	order := make([]int, len(keys)) // order[rank] = key index, ranked by key
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return keys[order[a]] < keys[order[b]] })
	offsets := make([]int, len(keys)) // by key index: where its partition starts
	offset := 0
	for _, k := range order {
		offsets[k] = offset
		offset += counts[k]
	}
	backing := make([]porcupine.Operation, len(history))
	next := append([]int(nil), offsets...)
	for i, op := range history {
		k := keyIndex[i]
		backing[next[k]] = op
		next[k]++
	}
	partitions := make([][]porcupine.Operation, len(order))
	for rank, k := range order {
		partitions[rank] = backing[offsets[k] : offsets[k]+counts[k] : offsets[k]+counts[k]]
	}
	return partitions
}

// operationOrigin is the client, sequence number and unknown outcome of a porcupine operation
// built by Model.operations.
func operationOrigin(op porcupine.Operation) (client int32, seq uint64, unknown bool) {
	if in, ok := op.Input.(*modelInput); ok {
		return in.client, in.seq, in.unknown
	}
	o := op.Input.(*Operation)
	return o.Client, o.Seq, o.Status == StatusUnknown
}

// operationKey is the key of a porcupine operation built by Model.operations.
func operationKey(op porcupine.Operation) string {
	if in, ok := op.Input.(*modelInput); ok {
		return in.key
	}
	return op.Input.(*Operation).Key
}

const fnvOffset uint64 = 14695981039346656037

// hashString continues an FNV-1a hash (hash/fnv's constants, inlined so that a step allocates no
// hasher) over s, then over a separator so that ("ab","c") and
// ("a","bc") differ.
func hashString(h uint64, s string) uint64 {
	const prime = 1099511628211
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	h ^= 0xff
	h *= prime
	return h
}
