package linearizability

import (
	"fmt"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Model is a sequential specification that CheckHistory checks a history against: porcupine's
// model, plus what the checker and its reports need to know about the history's operations.
//
// A model of one's own needs Name, Kinds and Porcupine (with Init, Step and Equal; Hash makes
// the search faster, DescribeOperation and DescribeState make reports readable). Porcupine's
// Step then receives each operation as a *Operation, both as input and as output (it carries what
// was asked and what came back); an operation of unknown outcome (Status unknown) has an
// unconstrained output, so Step must accept it whatever it holds. Porcupine.Partition is ignored:
// PerKey says whether the history may be split by key.
//
//	counter := linearizability.Model{
//		Name:  "counter",
//		Kinds: []linearizability.OpKind{"incr", "read"},
//		Porcupine: porcupine.Model{
//			Init: func() any { return 0 },
//			Step: func(state, input, _ any) (bool, any) {
//				op, n := input.(*linearizability.Operation), state.(int)
//				if op.Kind == "incr" {
//					return true, n + 1
//				}
//				return op.Status == linearizability.StatusUnknown || op.Output == strconv.Itoa(n), n
//			},
//		},
//	}
//	verdict, err := linearizability.CheckHistory(h, time.Minute, linearizability.WithModel(counter))
type Model struct {
	// Name identifies the model (check --model NAME, Verdict.Model).
	Name string
	// Summary says in one line what the model specifies (check --models).
	Summary string
	// Kinds are the operation kinds the model knows; CheckHistory rejects a history with others.
	Kinds []OpKind
	// PerKey says that a history is linearizable if and only if each key's operations are, so
	// that each key is checked (and reported) on its own.
	PerKey bool
	// Validate checks one operation's fields beyond what every model requires (see
	// History.Validate); nil checks nothing more.
	Validate func(op *Operation) error
	// Includes says whether an operation takes part in the check; nil leaves out the failed
	// operations (Status fail: no effect) and keeps the others, those of unknown outcome with an
	// infinite return time.
	Includes func(op *Operation) bool
	// Porcupine is the specification proper.
	Porcupine porcupine.Model
	// builtin: the operations are *modelInput/*modelOutput values from porcupineOperations, which
	// the built-in porcupine models read, rather than *Operation.
	builtin bool
	// lookahead, when set, lets the return-order search prune (readLookahead).
	lookahead *readLookahead
}

// The built-in models.
var (
	// KVModel is the store's register per key: get, put, delete, append (append to an absent key
	// creates it); a get of an absent key returns found=false. Snapshots that failed or whose
	// outcome is unknown are allowed (they are left out); a successful one needs StoreSnapshotModel.
	KVModel = Model{
		Name:      ModelRegister,
		Summary:   "the store's key-value register, one key at a time: get, put, delete, append (a get of an absent key returns found=false)",
		Kinds:     []OpKind{OpGet, OpPut, OpDelete, OpAppend, OpSnapshot},
		PerKey:    true,
		Validate:  perKeyStoreOperationRules,
		Includes:  constrains,
		Porcupine: registerPartitionModel,
		builtin:   true,
		lookahead: &registerLookahead,
	}
	// StoreSnapshotModel is the whole store with snapshots: one partition, every key's value in
	// the state, a snapshot returns all of them.
	StoreSnapshotModel = Model{
		Name:      ModelStore,
		Summary:   "the whole store as one state: get, put, delete, append, and snapshot (returns every live key's value); one partition, keep histories small",
		Kinds:     []OpKind{OpGet, OpPut, OpDelete, OpAppend, OpSnapshot},
		Validate:  storeOperationRules,
		Includes:  constrains,
		Porcupine: StoreModel,
		builtin:   true,
	}
	// CASRegisterModel is a compare-and-swap register per key (Jepsen's cas-register; the key may
	// be empty for a history of one register): read, write, cas. Initially the register holds
	// nothing (Jepsen's nil). A cas with status fail observed a value other than Expected.
	CASRegisterModel = Model{
		Name:      ModelCASRegister,
		Summary:   "a compare-and-swap register per key (Jepsen's cas-register; the key may be empty): read, write, cas (status fail: the value was not the expected one)",
		Kinds:     []OpKind{OpRead, OpWrite, OpCAS},
		PerKey:    true,
		Validate:  casOperationRules,
		Includes:  constrains,
		Porcupine: registerPartitionModel,
		builtin:   true,
		lookahead: &registerLookahead,
	}
	// KVEmptyDefaultModel is KVModel where an absent key reads as the empty string (porcupine's own
	// key-value model, used by its test histories): a get's Output is compared, Found is not.
	KVEmptyDefaultModel = Model{
		Name:      ModelKVEmptyDefault,
		Summary:   "the key-value register where an absent key reads as \"\" (porcupine's and 6.824's kv): get, put, delete, append",
		Kinds:     []OpKind{OpGet, OpPut, OpDelete, OpAppend, OpSnapshot},
		PerKey:    true,
		Validate:  perKeyStoreOperationRules,
		Includes:  constrains,
		Porcupine: emptyDefaultRegisterModel,
		builtin:   true,
	}
)

// Names of the built-in models (Verdict.Model).
const (
	ModelRegister       = "register"     // KVModel
	ModelStore          = "store"        // StoreSnapshotModel
	ModelCASRegister    = "cas-register" // CASRegisterModel
	ModelKVEmptyDefault = "kv-empty"     // KVEmptyDefaultModel
)

// perKeyStoreOperationRules are the store's rules without successful snapshots, which read every
// key at once and so cannot be checked one key at a time.
func perKeyStoreOperationRules(op *Operation) error {
	if op.Kind == OpSnapshot && op.Status == StatusOK {
		return fmt.Errorf("a successful snapshot reads every key at once: check with model %s", ModelStore)
	}
	return storeOperationRules(op)
}

// Models lists the built-in models.
func Models() []Model {
	return []Model{KVModel, StoreSnapshotModel, CASRegisterModel, KVEmptyDefaultModel, LockModel}
}

// LookupModel returns the built-in model of that name.
func LookupModel(name string) (Model, error) {
	var names []string
	for _, m := range Models() {
		if m.Name == name {
			return m, nil
		}
		names = append(names, m.Name)
	}
	return Model{}, fmt.Errorf("%w: no model %q (models: %s)", ErrInvalidParameter, name, strings.Join(names, ", "))
}

// ModelFor is the built-in model CheckHistory uses for a history when no model is given: the cas
// register when any operation is a read, write or cas (the first such operation decides), the lock
// model when any is a lock or unlock; the whole store when a snapshot returned; otherwise the
// store's register per key.
func ModelFor(h History) Model {
	for i := range h {
		switch h[i].Kind {
		case OpRead, OpWrite, OpCAS:
			return CASRegisterModel
		case OpLock, OpUnlock:
			return LockModel
		}
	}
	if h.HasSnapshots() {
		return StoreSnapshotModel
	}
	return KVModel
}

// WithModel makes CheckHistory check against m instead of ModelFor(h).
func WithModel(m Model) CheckOption {
	return func(s *checkSettings) { s.model = &m }
}

// check reports whether the model is complete enough to check with.
func (m *Model) check() error {
	switch {
	case m.Name == "":
		return fmt.Errorf("%w: model without a name", ErrInvalidParameter)
	case len(m.Kinds) == 0:
		return fmt.Errorf("%w: model %q knows no operation kinds", ErrInvalidParameter, m.Name)
	case m.Porcupine.Init == nil || (m.Porcupine.Step == nil && m.Porcupine.StepContext == nil):
		return fmt.Errorf("%w: model %q needs Porcupine.Init and Porcupine.Step", ErrInvalidParameter, m.Name)
	}
	return nil
}

// validate checks a history for this model: what every model requires, its kinds, and Validate.
func (m *Model) validate(h History) error {
	return h.validate(m.operationRules)
}

func (m *Model) operationRules(op *Operation) error {
	if !slices.Contains(m.Kinds, op.Kind) {
		known := make([]string, len(m.Kinds))
		for i, k := range m.Kinds {
			known[i] = string(k)
		}
		hint := ""
		for _, other := range Models() {
			if other.Name != m.Name && slices.Contains(other.Kinds, op.Kind) {
				hint = fmt.Sprintf("; model %s knows it", other.Name)
				break
			}
		}
		return fmt.Errorf("op %q is not one of model %s's (%s)%s", op.Kind, m.Name, strings.Join(known, ", "), hint)
	}
	if m.Validate != nil {
		return m.Validate(op)
	}
	return nil
}

func (m *Model) includes(op *Operation) bool {
	if m.Includes != nil {
		return m.Includes(op)
	}
	return op.Status != StatusFail
}

// searchModel is the porcupine model with the defaults the search needs.
func (m *Model) searchModel() porcupine.Model {
	pm := m.Porcupine
	pm.Partition, pm.PartitionEvent = nil, nil
	if pm.Step == nil {
		stepContext := pm.StepContext
		pm.Step = func(state, input, output any) (bool, any) {
			return stepContext(contextBackground, state, input, output)
		}
	}
	if pm.Equal == nil {
		pm.Equal = func(a, b any) bool { return a == b }
	}
	return pm
}

// operations turns the operations the model includes into porcupine operations.
func (m *Model) operations(h History) []porcupine.Operation {
	if m.builtin {
		return porcupineOperations(h, m.includes)
	}
	kept := 0
	for i := range h {
		if m.includes(&h[i]) {
			kept++
		}
	}
	metadata := make([]operationMetadata, kept)
	ops := make([]porcupine.Operation, 0, kept)
	for i := range h {
		op := &h[i]
		if !m.includes(op) {
			continue
		}
		md := &metadata[len(ops)]
		*md = operationMetadata{client: op.Client, seq: op.Seq, invokeSeq: op.InvokeSeq, returnSeq: op.ReturnSeq}
		ops = append(ops, porcupine.Operation{Input: op, Call: op.CallUS, Output: op, Return: op.ReturnUS, Metadata: md})
	}
	return ops
}
