package linearizability

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// Verdict is the outcome of CheckHistory with what a report needs to say where it failed.
type Verdict struct {
	Result Result `json:"result"`
	// Model is the name of the model the history was checked against (ModelRegister, ModelStore,
	// or another Model's Name).
	Model string `json:"model"`
	// Operations is how many operations constrained the check; Skipped is how many were left out
	// because they cannot have had an effect or an observable output (failed operations, and
	// reads and snapshots of unknown outcome).
	Operations int `json:"operations"`
	Skipped    int `json:"skipped"`
	// Partitions is the number of independently checked partitions (keys, or 1 for the store).
	Partitions int `json:"partitions"`
	// IllegalKeys are the keys whose partitions have no linearization (per-key models, sorted).
	// With a whole-history model an Illegal verdict concerns the whole history and this is empty.
	IllegalKeys []string `json:"illegal_keys,omitempty"`
	// UnknownKeys are the keys whose partitions were not decided (per-key models, sorted): out of
	// budget, or not finished because the check stopped at the first illegal key.
	UnknownKeys []string `json:"unknown_keys,omitempty"`
	// OkKeys are the keys whose partitions are linearizable (per-key models, sorted).
	OkKeys []string `json:"ok_keys,omitempty"`
	// StoppedAtFirstIllegal says the check stopped once a partition was illegal
	// (StopAtFirstIllegal), so UnknownKeys may include keys that were never tried.
	StoppedAtFirstIllegal bool `json:"stopped_at_first_illegal,omitempty"`
	// CacheLimitReached says the searches' memo cache reached its byte limit (WithCacheLimit), after
	// which they went on without remembering explored configurations (still exact, maybe slower).
	CacheLimitReached bool          `json:"cache_limit_reached,omitempty"`
	Budget            time.Duration `json:"budget_ns"`
	Elapsed           time.Duration `json:"elapsed_ns"`
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
		if v.StoppedAtFirstIllegal {
			s += " (stopped at the first illegal key)"
		}
	}
	if len(v.OkKeys) > 0 && (len(v.IllegalKeys) > 0 || len(v.UnknownKeys) > 0) {
		s += fmt.Sprintf("; %d keys ok", len(v.OkKeys))
	}
	if v.CacheLimitReached {
		s += "; the search cache reached its memory limit"
	}
	if v.Result == Illegal && v.Partitions == 1 && len(v.IllegalKeys) == 0 {
		s += "; the whole history has no linearization"
	}
	return s
}

// CheckOption changes how CheckHistory checks.
type CheckOption func(*checkSettings)

type checkSettings struct {
	stopAtFirstIllegal bool
	cacheLimit         int64
	model              *Model
}

// StopAtFirstIllegal makes CheckHistory stop as soon as one partition is illegal, as porcupine's
// own CheckOperations does: the answer (Illegal) comes sooner, and the keys not decided by then are
// listed as undecided. Without it every key is decided (within the budget), so that the verdict
// names every illegal key.
func StopAtFirstIllegal() CheckOption {
	return func(s *checkSettings) { s.stopAtFirstIllegal = true }
}

// DefaultCacheLimit bounds the memory of a check's memo caches unless WithCacheLimit says
// otherwise.
const DefaultCacheLimit int64 = 512 << 20

// WithCacheLimit bounds the bytes that the searches' memo caches may hold together (see
// Verdict.CacheLimitReached). It must be positive.
func WithCacheLimit(bytes int64) CheckOption {
	return func(s *checkSettings) { s.cacheLimit = bytes }
}

// CheckHistory decides whether a history is linearizable within a wall-clock budget.
//
// The model is ModelFor(h) unless WithModel names one: per key (Model.PerKey), each key is one
// partition, named in the verdict; otherwise the whole history is one partition. The history is
// validated for the model (History.Validate's rules, the model's kinds and Model.Validate).
//
// Which operations count (built-in models): failed operations had no effect and are left out,
// except a failed cas, which observed a value other than the expected one; reads and snapshots of
// unknown outcome are left out (they changed nothing and returned nothing); writes of unknown
// outcome stay in with an infinite return time, so they may take effect at any point after their
// invocation, or (placed last) effectively never.
//
// Scheduling (see checkPartitions): every partition first gets a short slice of the budget,
// shortest first, and the partitions still undecided then share what is left, several at once, so
// that one hard key cannot keep the easy ones from being decided. A partition that is not decided
// within the budget makes the verdict Unknown unless another partition is Illegal. The budget must
// be positive. An invalid history is an error wrapping ErrMalformedHistory.
func CheckHistory(h History, budget time.Duration, options ...CheckOption) (Verdict, error) {
	settings := checkSettings{cacheLimit: DefaultCacheLimit}
	for _, option := range options {
		option(&settings)
	}
	if budget <= 0 {
		return Verdict{}, fmt.Errorf("%w: budget %v must be positive", ErrInvalidParameter, budget)
	}
	if settings.cacheLimit <= 0 {
		return Verdict{}, fmt.Errorf("%w: cache limit %d bytes must be positive", ErrInvalidParameter, settings.cacheLimit)
	}
	model := ModelFor(h)
	if settings.model != nil {
		model = *settings.model
	}
	if err := model.check(); err != nil {
		return Verdict{}, err
	}
	if err := model.validate(h); err != nil {
		return Verdict{}, err
	}
	start := time.Now()
	ops := model.operations(h)
	verdict := Verdict{Model: model.Name, Operations: len(ops), Skipped: len(h) - len(ops), Budget: budget}
	partitions := [][]porcupine.Operation{ops}
	if model.PerKey {
		partitions = partitionByKey(ops)
	}
	verdict.Partitions = len(partitions)
	cache := newCacheBudget(settings.cacheLimit)
	results, stopped := checkPartitions(model.searchModel(), model.lookahead, partitions, start.Add(budget), settings.stopAtFirstIllegal, cache)
	verdict.StoppedAtFirstIllegal = stopped
	verdict.CacheLimitReached = cache.exhausted.Load()
	verdict.Result = Ok
	for i, result := range results {
		if result == Illegal {
			verdict.Result = Illegal
		} else if result == Unknown && verdict.Result == Ok {
			verdict.Result = Unknown
		}
		if !model.PerKey {
			continue
		}
		key := operationKey(partitions[i][0])
		switch result {
		case Illegal:
			verdict.IllegalKeys = append(verdict.IllegalKeys, key)
		case Unknown:
			verdict.UnknownKeys = append(verdict.UnknownKeys, key)
		case Ok:
			verdict.OkKeys = append(verdict.OkKeys, key)
		}
	}
	verdict.Elapsed = time.Since(start)
	return verdict, nil
}

// registerPartitionModel checks one key's operations: the register model without partitioning,
// because the caller has already split the history.
var registerPartitionModel = func() porcupine.Model {
	m := RegisterModel
	m.Partition = nil
	return m
}()

// firstSliceDivisor sets the first slice every partition gets: 1/100 of the budget, so that any
// partition that porcupine decides within 1% of the budget is decided in the first round unless
// more than a hundred partitions per worker are at least that hard.
const firstSliceDivisor = 100

// checkPartitions decides the partitions with one resumable search each (see partitionSearch), on
// GOMAXPROCS workers, until the deadline:
//
//  1. every partition gets a first slice of budget/100, shortest partitions first (most are
//     decided in microseconds, and a long one started first would delay all of them);
//  2. the partitions still undecided go back to the end of the queue with twice the previous
//     slice, so the remaining budget is shared among them round after round, several at once,
//     and a search resumes where it paused rather than starting over.
//
// With stopAtFirstIllegal every worker stops once a partition is illegal, and the partitions not
// decided by then are Unknown; stopped reports that this happened. Partitions never started
// before the deadline are Unknown, never Ok.
func checkPartitions(model porcupine.Model, lookahead *readLookahead, partitions [][]porcupine.Operation, deadline time.Time,
	stopAtFirstIllegal bool, cache *cacheBudget) (results []Result, stopped bool) {
	results = make([]Result, len(partitions))
	for i := range results {
		results[i] = Unknown
	}
	type job struct {
		partition int
		slice     time.Duration
		search    *partitionSearch
	}
	queue := make([]job, len(partitions))
	for i := range queue {
		queue[i].partition = i
	}
	slices.SortStableFunc(queue, func(a, b job) int {
		return cmp.Compare(len(partitions[a.partition]), len(partitions[b.partition]))
	})
	firstSlice := max(time.Until(deadline)/firstSliceDivisor, time.Microsecond)
	for i := range queue {
		queue[i].slice = firstSlice
	}
	var (
		mu          sync.Mutex
		stop        atomic.Bool
		wg          sync.WaitGroup
		illegalSeen bool
	)
	pop := func() (job, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(queue) == 0 || stop.Load() {
			return job{}, false
		}
		j := queue[0]
		queue = queue[1:]
		return j, true
	}
	workers := min(runtime.GOMAXPROCS(0), len(partitions))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, ok := pop()
				if !ok {
					return
				}
				if !time.Now().Before(deadline) {
					if j.search != nil {
						j.search.release()
					}
					continue
				}
				if j.search == nil {
					j.search = newPartitionSearch(model, lookahead, partitions[j.partition], cache)
				}
				sliceEnd := time.Now().Add(j.slice)
				if sliceEnd.After(deadline) {
					sliceEnd = deadline
				}
				if !j.search.run(sliceEnd, &stop) {
					if stop.Load() {
						j.search.release()
						continue
					}
					j.slice *= 2
					mu.Lock()
					queue = append(queue, j)
					mu.Unlock()
					continue
				}
				result := Illegal
				if j.search.ok() {
					result = Ok
				}
				mu.Lock()
				results[j.partition] = result
				if result == Illegal && stopAtFirstIllegal {
					illegalSeen = true
					stop.Store(true)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, j := range queue {
		if j.search != nil {
			j.search.release()
		}
	}
	return results, illegalSeen && slices.Contains(results, Unknown)
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
	return porcupineOperations(h, constrains)
}

// porcupineOperations builds the operations that includes keeps as *modelInput/*modelOutput
// values for the built-in porcupine models.
func porcupineOperations(h History, includes func(op *Operation) bool) []porcupine.Operation {
	kept := 0
	for i := range h {
		if includes(&h[i]) {
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
		if !includes(op) {
			continue
		}
		p := &payloads[len(ops)]
		p.input = modelInput{
			kind: op.Kind, key: op.Key, value: op.Value, expected: op.Expected, client: op.Client, seq: op.Seq,
			unknown:    op.Status == StatusUnknown,
			notSwapped: op.Kind == OpCAS && op.Status == StatusFail,
			afterPut:   registerState{present: true, value: op.Value},
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

// constrains reports whether an operation takes part in a check with a built-in model: failed
// operations had no effect (but a failed cas observed that the value was not the expected one),
// and reads or snapshots of unknown outcome neither changed nor revealed anything.
func constrains(op *Operation) bool {
	switch op.Status {
	case StatusOK:
		return true
	case StatusFail:
		return op.Kind == OpCAS
	}
	return op.Kind.IsWrite() || op.Kind == OpWrite || op.Kind == OpCAS
}

// contextBackground is what a model's StepContext gets when the search calls it: the search has
// its own deadline and stop flag.
var contextBackground = context.Background()

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
