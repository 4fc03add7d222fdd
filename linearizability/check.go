package linearizability

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Result is the outcome of a linearizability check.
type Result string

const (
	// Ok: a linearization exists for every partition.
	Ok Result = "ok"
	// Illegal: some partition has no linearization. The history is certainly not linearizable.
	Illegal Result = "illegal"
	// Unknown: the check ran out of its time budget before deciding, and found nothing illegal in
	// what it did decide. Unknown is never a pass.
	Unknown Result = "unknown"
)

// Model names, as reported in Verdict.Model.
const (
	ModelRegister = "register" // per-key register, partitioned by key
	ModelStore    = "store"    // whole store with snapshots, one partition
)

// Verdict is the outcome of CheckHistory with what a report needs to say where it failed.
type Verdict struct {
	Result Result `json:"result"`
	// Model is ModelRegister or ModelStore.
	Model string `json:"model"`
	// Operations is how many operations constrained the check; Skipped is how many were left out
	// because they cannot have had an effect or an observable output (failed operations, and
	// reads and snapshots of unknown outcome).
	Operations int `json:"operations"`
	Skipped    int `json:"skipped"`
	// Partitions is the number of independently checked partitions (keys, or 1 for the store).
	Partitions int `json:"partitions"`
	// IllegalKeys are the keys whose partitions have no linearization (register model, sorted).
	// With the store model an Illegal verdict concerns the whole history and this is empty.
	IllegalKeys []string `json:"illegal_keys,omitempty"`
	// UnknownKeys are the keys whose partitions were not decided within the budget (register
	// model, sorted).
	UnknownKeys []string      `json:"unknown_keys,omitempty"`
	Budget      time.Duration `json:"budget_ns"`
	Elapsed     time.Duration `json:"elapsed_ns"`
}

// String summarises the verdict in one line.
func (v Verdict) String() string {
	s := fmt.Sprintf("%s (%s model, %d operations, %d skipped, %d partitions, %v of %v budget)",
		strings.ToUpper(string(v.Result)), v.Model, v.Operations, v.Skipped, v.Partitions,
		v.Elapsed.Round(time.Microsecond), v.Budget)
	if len(v.IllegalKeys) > 0 {
		s += "; illegal keys: " + quoteList(v.IllegalKeys, 10)
	}
	if len(v.UnknownKeys) > 0 {
		s += "; undecided keys: " + quoteList(v.UnknownKeys, 10)
	}
	if v.Result == Illegal && v.Model == ModelStore {
		s += "; the whole-store history has no linearization"
	}
	return s
}

// CheckHistory decides whether a history is linearizable within a wall-clock budget.
//
// Histories without successful snapshots are checked with RegisterModel, one partition per key;
// partitions are checked in parallel (one porcupine check per partition, on GOMAXPROCS workers,
// largest first) so that the verdict can name every illegal key. Histories with a successful
// snapshot are checked with StoreModel as one partition.
//
// Which operations count: failed operations had no effect and are left out; reads and snapshots
// of unknown outcome are left out (they changed nothing and returned nothing); writes of unknown
// outcome stay in with an infinite return time, so they may take effect at any point after their
// invocation, or (placed last) effectively never.
//
// A partition that is not decided within the budget makes the verdict Unknown unless another
// partition is Illegal. The budget must be positive. An invalid history is an error wrapping
// ErrMalformedHistory.
func CheckHistory(h History, budget time.Duration) (Verdict, error) {
	if budget <= 0 {
		return Verdict{}, fmt.Errorf("%w: budget %v must be positive", ErrInvalidParameter, budget)
	}
	if err := h.Validate(); err != nil {
		return Verdict{}, err
	}
	start := time.Now()
	ops := PorcupineOperations(h)
	verdict := Verdict{Operations: len(ops), Skipped: len(h) - len(ops), Budget: budget}
	if h.HasSnapshots() {
		verdict.Model = ModelStore
		verdict.Partitions = 1
		verdict.Result = fromPorcupine(porcupine.CheckOperationsTimeout(StoreModel, ops, budget))
		verdict.Elapsed = time.Since(start)
		return verdict, nil
	}
	verdict.Model = ModelRegister
	partitions := partitionByKey(ops)
	verdict.Partitions = len(partitions)
	results := checkPartitions(partitions, start.Add(budget))
	verdict.Result = Ok
	for i, result := range results {
		key := partitions[i][0].Input.(*modelInput).key
		switch result {
		case Illegal:
			verdict.IllegalKeys = append(verdict.IllegalKeys, key)
		case Unknown:
			verdict.UnknownKeys = append(verdict.UnknownKeys, key)
		}
	}
	switch {
	case len(verdict.IllegalKeys) > 0:
		verdict.Result = Illegal
	case len(verdict.UnknownKeys) > 0:
		verdict.Result = Unknown
	}
	verdict.Elapsed = time.Since(start)
	return verdict, nil
}

// registerPartitionModel checks one key's operations: the register model without partitioning,
// because checkPartitions has already split the history.
var registerPartitionModel = func() porcupine.Model {
	m := RegisterModel
	m.Partition = nil
	return m
}()

// checkPartitions checks each partition with porcupine on GOMAXPROCS workers, largest first so
// that the long ones do not start last, and stops starting new ones at the deadline (those are
// Unknown).
func checkPartitions(partitions [][]porcupine.Operation, deadline time.Time) []Result {
	results := make([]Result, len(partitions))
	order := make([]int, len(partitions))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(partitions[order[a]]) > len(partitions[order[b]]) })
	workers := min(runtime.GOMAXPROCS(0), len(partitions))
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == len(order) {
					mu.Unlock()
					return
				}
				i := order[next]
				next++
				mu.Unlock()
				remaining := time.Until(deadline)
				if remaining <= 0 {
					// Out of budget: porcupine reads a zero timeout as "no limit", so do not call it.
					results[i] = Unknown
					continue
				}
				results[i] = fromPorcupine(porcupine.CheckOperationsTimeout(registerPartitionModel, partitions[i], remaining))
			}
		}()
	}
	wg.Wait()
	return results
}

func fromPorcupine(r porcupine.CheckResult) Result {
	switch r {
	case porcupine.Ok:
		return Ok
	case porcupine.Illegal:
		return Illegal
	default:
		return Unknown
	}
}

// PorcupineOperations turns the operations that constrain linearizability into porcupine
// operations for RegisterModel and StoreModel (see CheckHistory for which ones; this is the only
// place that decides it). Use it to run porcupine directly, e.g. CheckOperationsVerbose and
// Visualize for a custom page. The history must be valid (History.Validate).
func PorcupineOperations(h History) []porcupine.Operation {
	kept := 0
	for i := range h {
		if constrains(&h[i]) {
			kept++
		}
	}
	// One allocation for every payload: porcupine holds pointers into it, so boxing an input or
	// output in an interface allocates nothing.
	type payload struct {
		input    modelInput
		output   modelOutput
		metadata operationMetadata
	}
	payloads := make([]payload, kept)
	ops := make([]porcupine.Operation, 0, kept)
	for i := range h {
		op := &h[i]
		if !constrains(op) {
			continue
		}
		p := &payloads[len(ops)]
		p.input = modelInput{
			kind: op.Kind, key: op.Key, value: op.Value, client: op.Client, seq: op.Seq,
			unknown:  op.Status == StatusUnknown,
			afterPut: registerState{present: true, value: op.Value},
		}
		p.output = modelOutput{found: op.Found, value: op.Output}
		if op.Kind == OpSnapshot {
			p.output.snapshot = sortedPairs(op.Snapshot)
		}
		p.metadata = operationMetadata{client: op.Client, seq: op.Seq, invokeSeq: op.InvokeSeq, returnSeq: op.ReturnSeq}
		ops = append(ops, porcupine.Operation{
			Input:    &p.input,
			Call:     op.CallUS,
			Output:   &p.output,
			Return:   op.ReturnUS,
			Metadata: &p.metadata,
		})
	}
	return ops
}

// constrains reports whether an operation takes part in the check: failed operations had no
// effect, and reads or snapshots of unknown outcome neither changed nor revealed anything.
func constrains(op *Operation) bool {
	if op.Status == StatusFail {
		return false
	}
	return op.Status == StatusOK || op.Kind.IsWrite()
}

// Summary adds up verdicts, for sweeps over many runs. Unknown verdicts are counted on their own:
// they are neither passes nor failures.
type Summary struct {
	Checks     int           `json:"checks"`
	Ok         int           `json:"ok"`
	Illegal    int           `json:"illegal"`
	Unknown    int           `json:"unknown"`
	Operations int           `json:"operations"`
	Elapsed    time.Duration `json:"elapsed_ns"`
}

// Add counts one verdict.
func (s *Summary) Add(v Verdict) {
	s.Checks++
	switch v.Result {
	case Ok:
		s.Ok++
	case Illegal:
		s.Illegal++
	default:
		s.Unknown++
	}
	s.Operations += v.Operations
	s.Elapsed += v.Elapsed
}

// Merge adds another summary's counts to this one.
func (s *Summary) Merge(other Summary) {
	s.Checks += other.Checks
	s.Ok += other.Ok
	s.Illegal += other.Illegal
	s.Unknown += other.Unknown
	s.Operations += other.Operations
	s.Elapsed += other.Elapsed
}

// String reads like "100 checks: 97 ok, 2 illegal, 1 unknown (budget exhausted)".
func (s Summary) String() string {
	return fmt.Sprintf("%d checks: %d ok, %d illegal, %d unknown (budget exhausted); %d operations in %v",
		s.Checks, s.Ok, s.Illegal, s.Unknown, s.Operations, s.Elapsed.Round(time.Millisecond))
}

func quoteList(items []string, limit int) string {
	var parts []string
	for i, item := range items {
		if i == limit {
			parts = append(parts, fmt.Sprintf("... (%d more)", len(items)-limit))
			break
		}
		parts = append(parts, fmt.Sprintf("%q", item))
	}
	return strings.Join(parts, ", ")
}
