package linearizability

import (
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
)

// partitionSearch decides one partition with two exact searches that differ only in the order in
// which they try the next operation (searchOrder), run in turn within every slice; the first to
// finish decides. Either order decides every history, and an illegal history costs about the same
// full search in both, so the verdicts are porcupine's; what the pair buys is time on linearizable
// histories that one order is slow to find:
//
//   - byCall (porcupine's order) tries the earliest call first. On a contended key of a 100-server
//     run (14 writes overlapping a read that returned the old value and returned first), it tries
//     the writes' orderings before the read and did not finish in 10 s;
//   - byReturn tries the earliest return first: in a real system an operation takes effect before
//     it returns, so the one that returned first most often took effect first; and it prunes with
//     the model's lookahead, if it has one (readLookahead), which call order is left without so
//     that it stays porcupine's search. It decides that key in milliseconds
//     (TestPartitionSearchDecidesOverlappedWrites), and with the lookahead a key of eleven appends
//     around a delete that neither order decides alone (TestLookaheadDecidesAppendsAroundDelete);
//     but on a generated store history whose writes of unknown outcome (returning at infinity, so
//     tried last) took effect early, it did not finish in two minutes where call order takes
//     seconds.
//
// Each gets half of every slice, so a partition costs at most twice what the better order needs.
// The byReturn search is made only when byCall does not finish in its first half-slice, which is
// what happens to almost every partition.
type partitionSearch struct {
	model     porcupine.Model
	lookahead *readLookahead
	ops       []porcupine.Operation
	budget    *cacheBudget
	byCall    *search
	byReturn  *search
	decided   *search
}

func newPartitionSearch(model porcupine.Model, lookahead *readLookahead, ops []porcupine.Operation, budget *cacheBudget) *partitionSearch {
	return &partitionSearch{model: model, lookahead: lookahead, ops: ops, budget: budget, byCall: newSearch(model, ops, byCall, nil, budget)}
}

// run continues both searches until one decides the partition, the deadline passes, or stop is
// set: the call-order search until halfway to the deadline, then the return-order one. It reports
// whether the partition is decided; then ok says whether it is linearizable.
func (p *partitionSearch) run(deadline time.Time, stop *atomic.Bool) bool {
	if p.decided != nil {
		return true
	}
	halfway := time.Now().Add(time.Until(deadline) / 2)
	if p.byCall.run(halfway, stop) {
		return p.decide(p.byCall)
	}
	if stop.Load() {
		return false
	}
	if p.byReturn == nil {
		p.byReturn = newSearch(p.model, p.ops, byReturn, p.lookahead, p.budget)
	}
	if p.byReturn.run(deadline, stop) {
		return p.decide(p.byReturn)
	}
	return false
}

func (p *partitionSearch) decide(s *search) bool {
	p.decided = s
	p.release()
	return true
}

// ok says whether the decided partition is linearizable.
func (p *partitionSearch) ok() bool { return p.decided != nil && p.decided.ok }

// release frees both searches' caches.
func (p *partitionSearch) release() {
	p.byCall.release()
	if p.byReturn != nil {
		p.byReturn.release()
	}
}
