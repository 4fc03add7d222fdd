package linearizability

import (
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
)

// DecideInOrder runs one search order alone (0: call order, 1: return order with the model's
// lookahead) on every partition of h, for tests outside the package that hold histories this
// package's tests cannot read (porcupine's, through formats). It returns Illegal if any partition
// is illegal, Unknown if any is undecided within the budget, Ok otherwise.
func DecideInOrder(h History, m Model, order int, budget time.Duration) Result {
	if err := m.validate(h); err != nil {
		return Unknown
	}
	ops := m.operations(h)
	partitions := partitionByKey(ops)
	if !m.PerKey {
		partitions = [][]porcupine.Operation{ops}
	}
	lookahead := m.lookahead
	if searchOrder(order) == byCall {
		lookahead = nil
	}
	result := Ok
	for _, p := range partitions {
		s := newSearch(m.searchModel(), p, searchOrder(order), lookahead, newCacheBudget(DefaultCacheLimit))
		var stop atomic.Bool
		switch {
		case !s.run(time.Now().Add(budget), &stop):
			s.release()
			if result == Ok {
				result = Unknown
			}
		case !s.ok:
			return Illegal
		}
	}
	return result
}
