package linearizability

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
)

func readOp(client int32, key, value string, callUS, returnUS int64) Operation {
	return Operation{Client: client, Kind: OpRead, Key: key, Found: true, Output: value, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
}

func readNilOp(client int32, key string, callUS, returnUS int64) Operation {
	return Operation{Client: client, Kind: OpRead, Key: key, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
}

func writeOp(client int32, key, value string, callUS, returnUS int64) Operation {
	return Operation{Client: client, Kind: OpWrite, Key: key, Value: value, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
}

func casOp(client int32, key, expected, value string, callUS, returnUS int64) Operation {
	return Operation{Client: client, Kind: OpCAS, Key: key, Expected: expected, Value: value, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
}

func TestCASRegisterVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    History
		want Result
	}{
		{"write, cas, read", history(writeOp(1, "", "1", 0, 10), casOp(1, "", "1", "2", 20, 30), readOp(2, "", "2", 40, 50)), Ok},
		{"read of the initial nil", history(readNilOp(1, "", 0, 10), writeOp(1, "", "1", 20, 30)), Ok},
		{"cas on nil cannot swap", history(casOp(1, "", "1", "2", 0, 10)), Illegal},
		{"cas swapped from the wrong value", history(writeOp(1, "", "3", 0, 10), casOp(1, "", "1", "2", 20, 30)), Illegal},
		{"read misses an acknowledged cas", history(writeOp(1, "", "1", 0, 10), casOp(1, "", "1", "2", 20, 30), readOp(2, "", "1", 40, 50)), Illegal},
		{"concurrent cas and read see either", history(writeOp(1, "", "1", 0, 10), casOp(1, "", "1", "2", 20, 60), readOp(2, "", "1", 30, 40)), Ok},
		// A failed cas is an observation: the value was not the expected one.
		{"failed cas when the value differed", history(writeOp(1, "", "3", 0, 10), failed(casOp(1, "", "1", "2", 20, 30)), readOp(2, "", "3", 40, 50)), Ok},
		{"failed cas although the value matched", history(writeOp(1, "", "1", 0, 10), failed(casOp(1, "", "1", "2", 20, 30))), Illegal},
		{"failed cas on nil", history(failed(casOp(1, "", "1", "2", 0, 10))), Ok},
		{"failed cas concurrent with the write that made it match", history(writeOp(1, "", "1", 0, 30), failed(casOp(2, "", "1", "2", 10, 20))), Ok},
		{"failed write had no effect", history(writeOp(1, "", "1", 0, 10), failed(writeOp(1, "", "2", 20, 30)), readOp(2, "", "1", 40, 50)), Ok},
		{"failed write seen", history(writeOp(1, "", "1", 0, 10), failed(writeOp(1, "", "2", 20, 30)), readOp(2, "", "2", 40, 50)), Illegal},
		// Unknown outcomes: a cas may have swapped or not; an unknown read is left out.
		{"unknown cas swapped", history(writeOp(1, "", "1", 0, 10), unknown(casOp(1, "", "1", "2", 20, 0)), readOp(2, "", "2", 100, 110)), Ok},
		{"unknown cas did not swap", history(writeOp(1, "", "1", 0, 10), unknown(casOp(1, "", "1", "2", 20, 0)), readOp(2, "", "1", 100, 110)), Ok},
		{"unknown cas swapped, then unswapped", history(writeOp(1, "", "1", 0, 10), unknown(casOp(1, "", "1", "2", 20, 0)), readOp(2, "", "2", 100, 110), readOp(2, "", "1", 200, 210)), Illegal},
		{"unknown cas cannot swap a value it did not expect", history(writeOp(1, "", "3", 0, 10), unknown(casOp(1, "", "1", "2", 20, 0)), readOp(2, "", "2", 100, 110)), Illegal},
		{"unknown read left out", history(writeOp(1, "", "1", 0, 10), unknown(readOp(2, "", "", 20, 0))), Ok},
		{"keys are independent registers", history(writeOp(1, "a", "1", 0, 10), writeOp(1, "b", "2", 20, 30), readOp(2, "a", "1", 40, 50), readOp(2, "b", "2", 40, 50)), Ok},
		{"one illegal key", history(writeOp(1, "a", "1", 0, 10), writeOp(1, "b", "2", 20, 30), readOp(2, "b", "1", 40, 50)), Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []*Model{nil, &CASRegisterModel} { // chosen by ModelFor, and given
				var options []CheckOption
				if m != nil {
					options = append(options, WithModel(*m))
				}
				v, err := CheckHistory(tc.h, testBudget, options...)
				if err != nil {
					t.Fatal(err)
				}
				if v.Result != tc.want || v.Model != ModelCASRegister {
					t.Fatalf("got %v, want %s with model %s\nhistory:\n%s", v, tc.want, ModelCASRegister, describeHistory(tc.h))
				}
			}
		})
	}
}

func TestKVEmptyDefaultModel(t *testing.T) {
	// A get of a key never written returns "": illegal for the store's register, legal here.
	h := history(getOp(1, "k", "", 0, 10), putOp(1, "k", "v", 20, 30), appendOp(2, "k", "w", 40, 50), getOp(3, "k", "vw", 60, 70))
	v, err := CheckHistory(h, testBudget)
	if err != nil || v.Result != Illegal {
		t.Fatalf("register model: got %v, %v; want illegal", v, err)
	}
	v, err = CheckHistory(h, testBudget, WithModel(KVEmptyDefaultModel))
	if err != nil || v.Result != Ok || v.Model != ModelKVEmptyDefault {
		t.Fatalf("kv-empty model: got %v, %v; want ok", v, err)
	}
	h = history(putOp(1, "k", "v", 0, 10), deleteOp(1, "k", 20, 30), getOp(2, "k", "v", 40, 50))
	if v, err := CheckHistory(h, testBudget, WithModel(KVEmptyDefaultModel)); err != nil || v.Result != Illegal {
		t.Fatalf("kv-empty model, read after delete: got %v, %v; want illegal", v, err)
	}
}

// counterModel is a model of one's own, written as a user would: operations reach Step as
// *Operation.
var counterModel = Model{
	Name:  "counter",
	Kinds: []OpKind{"incr", "read"},
	Validate: func(op *Operation) error {
		if op.Kind == "read" && op.Status == StatusOK {
			if _, err := strconv.Atoi(op.Output); err != nil {
				return fmt.Errorf("read output %q is not a number", op.Output)
			}
		}
		return nil
	},
	Porcupine: porcupine.Model{
		Init: func() any { return 0 },
		Step: func(state, input, _ any) (bool, any) {
			op, n := input.(*Operation), state.(int)
			if op.Kind == "incr" {
				return true, n + 1
			}
			return op.Status == StatusUnknown || op.Output == strconv.Itoa(n), n
		},
	},
}

func TestUserModel(t *testing.T) {
	incr := func(client int32, callUS, returnUS int64) Operation {
		return Operation{Client: client, Kind: "incr", Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
	}
	read := func(client int32, value string, callUS, returnUS int64) Operation {
		return Operation{Client: client, Kind: "read", Found: true, Output: value, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
	}
	ok := history(incr(1, 0, 10), incr(2, 5, 30), read(3, "1", 12, 20), read(3, "2", 40, 50), failed(incr(4, 60, 70)), read(3, "2", 80, 90))
	v, err := CheckHistory(ok, testBudget, WithModel(counterModel))
	if err != nil || v.Result != Ok || v.Model != "counter" || v.Partitions != 1 || v.Skipped != 1 {
		t.Fatalf("got %v, %v; want ok, one partition, one skipped", v, err)
	}
	bad := history(incr(1, 0, 10), read(3, "0", 20, 30))
	if v, err := CheckHistory(bad, testBudget, WithModel(counterModel)); err != nil || v.Result != Illegal {
		t.Fatalf("got %v, %v; want illegal", v, err)
	}
	notANumber := history(read(3, "many", 20, 30))
	if _, err := CheckHistory(notANumber, testBudget, WithModel(counterModel)); !errors.Is(err, ErrMalformedHistory) || !strings.Contains(err.Error(), "not a number") {
		t.Fatalf("model's own validation: got %v", err)
	}
	if _, err := CheckHistory(ok, testBudget); !errors.Is(err, ErrMalformedHistory) || !strings.Contains(err.Error(), `"incr"`) {
		t.Fatalf("a user's kinds against the default model: got %v, want an error naming the op", err)
	}
}

func TestModelMismatchAndLookup(t *testing.T) {
	h := history(writeOp(1, "k", "1", 0, 10))
	_, err := CheckHistory(h, testBudget, WithModel(KVModel))
	if !errors.Is(err, ErrMalformedHistory) || !strings.Contains(err.Error(), "model cas-register knows it") {
		t.Fatalf("write under the register model: got %v, want an error pointing at cas-register", err)
	}
	snap := history(snapshotOp(1, map[string]string{}, 0, 10))
	if _, err := CheckHistory(snap, testBudget, WithModel(KVModel)); err == nil || !strings.Contains(err.Error(), "check with model store") {
		t.Fatalf("snapshot under the register model: got %v", err)
	}
	for _, m := range Models() {
		got, err := LookupModel(m.Name)
		if err != nil || got.Name != m.Name || got.Summary == "" {
			t.Errorf("LookupModel(%q) = %v, %v", m.Name, got.Name, err)
		}
	}
	if _, err := LookupModel("mutex"); !errors.Is(err, ErrInvalidParameter) || !strings.Contains(err.Error(), "cas-register") {
		t.Errorf("unknown model: got %v, want an error listing the models", err)
	}
	if _, err := CheckHistory(h, testBudget, WithModel(Model{Name: "empty", Kinds: []OpKind{OpWrite}})); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("model without Step: got %v", err)
	}
}

// TestModelsAgreeWithBruteForce checks every built-in model on thousands of small random
// histories against a brute-force checker that tries every order of the operations, with the
// sequential specification written out again on plain maps.
func TestModelsAgreeWithBruteForce(t *testing.T) {
	const histories = 3000
	for _, m := range Models() {
		t.Run(m.Name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(len(m.Name)), 13))
			var counts [2]int
			for n := range histories {
				h := randomSmallHistory(rng, m)
				v, err := CheckHistory(h, testBudget, WithModel(m))
				if err != nil {
					t.Fatalf("history %d: %v\n%s", n, err, describeHistory(h))
				}
				want := Illegal
				if bruteForceLinearizable(h, m.Name) {
					want = Ok
				}
				if v.Result != want {
					t.Fatalf("history %d: checker says %v, brute force %s\n%s", n, v, want, describeHistory(h))
				}
				counts[btoi(want == Ok)]++
			}
			// Both answers must be common, or the comparison says little.
			if counts[0] < histories/10 || counts[1] < histories/10 {
				t.Fatalf("random histories too one-sided: %d illegal, %d ok", counts[0], counts[1])
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// randomSmallHistory draws up to 7 operations of the model's kinds over two keys and three values,
// with random overlapping intervals and random outcomes (ok, fail, unknown), outputs drawn at
// random so that about half the histories are not linearizable.
func randomSmallHistory(rng *rand.Rand, m Model) History {
	values := []string{"a", "b", "c"}
	keys := []string{"x", "y"}
	if m.Name == ModelCASRegister {
		keys = []string{"", "y"}
	}
	n := 1 + rng.IntN(7)
	ops := make([]Operation, 0, n)
	for i := range n {
		kind := m.Kinds[rng.IntN(len(m.Kinds))]
		call := int64(rng.IntN(40))
		op := Operation{Client: int32(i), Kind: kind, Key: keys[rng.IntN(len(keys))], Status: StatusOK, CallUS: call, ReturnUS: call + int64(rng.IntN(20))}
		if m.Name == ModelLock {
			op.Client = int32(rng.IntN(3)) // a holder must come back to unlock
		}
		switch kind {
		case OpLock:
			op.Output = strconv.Itoa(1 + rng.IntN(3))
			if rng.IntN(2) == 0 {
				op.Value = strconv.Itoa(5 + rng.IntN(20)) // a lease, in the histories' µs
			}
		case OpUnlock:
			op.Value = strconv.Itoa(1 + rng.IntN(3))
		case OpPut, OpAppend, OpWrite:
			op.Value = values[rng.IntN(len(values))]
		case OpCAS:
			op.Expected, op.Value = values[rng.IntN(len(values))], values[rng.IntN(len(values))]
		case OpGet, OpRead:
			if rng.IntN(4) > 0 {
				op.Found = true
				op.Output = values[rng.IntN(len(values))]
				if kind == OpGet && rng.IntN(3) == 0 {
					op.Output += values[rng.IntN(len(values))] // an append's result
				}
			}
		case OpSnapshot:
			op.Key = ""
			op.Snapshot = map[string]string{}
			for _, k := range keys {
				if rng.IntN(2) == 0 {
					op.Snapshot[k] = values[rng.IntN(len(values))]
				}
			}
		}
		switch roll := rng.IntN(10); {
		case roll == 0:
			op = failed(op)
		case roll == 1:
			op = unknown(op)
		}
		if op.Kind == OpSnapshot && m.PerKey && op.Status == StatusOK {
			op = unknown(op) // a successful snapshot needs the whole-store model
		}
		ops = append(ops, op)
	}
	return history(ops...)
}

// bruteForceLinearizable tries every order of the operations that respects real time (an
// operation that returned before another was called comes first). Failed operations are left
// out except a failed cas, which observed another value; an operation of unknown outcome may take
// effect at any point after its call or never, and its output is unconstrained.
func bruteForceLinearizable(h History, model string) bool {
	var ops []*Operation
	for i := range h {
		op := &h[i]
		if op.Status == StatusFail && op.Kind != OpCAS {
			continue
		}
		ops = append(ops, op)
	}
	done := make([]bool, len(ops))
	var try func(state map[string]string, left int) bool
	try = func(state map[string]string, left int) bool {
		if left == 0 {
			return true
		}
		for i, op := range ops {
			if done[i] || !mayGoNext(ops, done, i) {
				continue
			}
			done[i] = true
			if op.Status == StatusUnknown && try(state, left-1) { // never takes effect
				done[i] = false
				return true
			}
			if next, ok := specStep(model, state, op); ok && try(next, left-1) {
				done[i] = false
				return true
			}
			done[i] = false
		}
		return false
	}
	return try(map[string]string{}, len(ops))
}

// mayGoNext: no operation still waiting returned before ops[i] was called.
func mayGoNext(ops []*Operation, done []bool, i int) bool {
	for j, other := range ops {
		if !done[j] && j != i && other.Status != StatusUnknown && other.ReturnUS < ops[i].CallUS {
			return false
		}
	}
	return true
}

// specStep is the sequential specification of each built-in model on a plain map (absent keys are
// absent from it).
// specLock is the lock service's specification on plain maps: state[name] is "client token
// expiry" while the lock is held (token 0: granted under a token nobody learned; expiry: the
// holder's call plus its lease, from when another may take it over; 0: no lease), absent while
// free; state[name+"#last"] is the greatest token granted.
func specLock(state map[string]string, op *Operation) (map[string]string, bool) {
	holding, held := state[op.Key]
	last, _ := strconv.ParseUint(state[op.Key+"#last"], 10, 64)
	var holder int32
	var token uint64
	var expiry int64
	fmt.Sscanf(holding, "%d %d %d", &holder, &token, &expiry)
	next := maps.Clone(state)
	if op.Kind == OpLock {
		if held && (expiry == 0 || expiry > op.ReturnUS) {
			return state, false
		}
		lease, _ := strconv.ParseInt(op.Value, 10, 64)
		if lease > 0 {
			lease += op.CallUS
		}
		if op.Status == StatusUnknown {
			next[op.Key] = fmt.Sprintf("%d 0 %d", op.Client, lease)
			return next, true
		}
		granted, _ := strconv.ParseUint(op.Output, 10, 64)
		next[op.Key] = fmt.Sprintf("%d %d %d", op.Client, granted, lease)
		next[op.Key+"#last"] = op.Output
		return next, granted > last
	}
	named, _ := strconv.ParseUint(op.Value, 10, 64)
	if !held || holder != op.Client || (token != named && (token != 0 || named <= last)) {
		return state, op.Status == StatusUnknown
	}
	delete(next, op.Key)
	if named > last {
		next[op.Key+"#last"] = op.Value
	}
	return next, true
}

func specStep(model string, state map[string]string, op *Operation) (map[string]string, bool) {
	value, present := state[op.Key]
	with := func(v string) map[string]string {
		next := maps.Clone(state)
		next[op.Key] = v
		return next
	}
	unknownOutcome := op.Status == StatusUnknown
	switch op.Kind {
	case OpGet, OpRead:
		if model == ModelKVEmptyDefault {
			return state, unknownOutcome || op.Output == value
		}
		return state, unknownOutcome || (op.Found == present && op.Output == value)
	case OpPut, OpWrite:
		return with(op.Value), true
	case OpAppend:
		return with(value + op.Value), true
	case OpDelete:
		next := maps.Clone(state)
		delete(next, op.Key)
		return next, true
	case OpCAS:
		matches := present && value == op.Expected
		switch op.Status {
		case StatusFail:
			return state, !matches
		case StatusOK:
			return with(op.Value), matches
		}
		if matches {
			return with(op.Value), true
		}
		return state, true
	case OpSnapshot:
		return state, unknownOutcome || maps.Equal(op.Snapshot, state)
	case OpLock, OpUnlock:
		return specLock(state, op)
	}
	panic("specStep: kind " + string(op.Kind))
}
