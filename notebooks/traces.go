package notebooks

import (
	"fmt"
	"math"
	"slices"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/trace"
)

// Reading runs back: replica creations from the trace's phase events, latencies from the history.

// creation is one completed replica creation (linearizability.CompletedCreations reads them).
type creation = linearizability.Creation

var completedCreations = linearizability.CompletedCreations

// countEvents counts the protocol events of one name.
func countEvents(records []trace.Record, name string) int {
	n := 0
	for i := range records {
		if records[i].Kind == trace.KindEvent && records[i].Name == name {
			n++
		}
	}
	return n
}

// completed reports whether an operation returned (ok or fail): only those have a latency.
func completed(op *linearizability.Operation) bool {
	return op.ReturnUS != linearizability.InfiniteTimeUS
}

// latencyMS is a completed operation's latency in milliseconds.
func latencyMS(op *linearizability.Operation) float64 { return float64(op.ReturnUS-op.CallUS) / 1000 }

// usToMS converts virtual microseconds to milliseconds for an axis.
func usToMS(us int64) float64 { return float64(us) / 1000 }

// percentile is the nearest-rank q-quantile (0 < q <= 1) of the values: an observed value, never
// an interpolation, so a p99 of few samples is honestly the largest one. NaN when there are none.
func percentile(values []float64, q float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

// copyTimeline follows, through a run's trace, which servers hold an initialized copy of each
// bucket. It starts from the initial placement and applies what the trace shows: a crash or a
// forced disconnect empties a server, a completed creation adds a copy, a dropped bucket removes
// one. A restarted server comes back empty, so restarts change nothing until a copy completes.
type copyTimeline struct {
	holders []map[int32]bool // per bucket, the servers with an initialized copy
}

// newCopyTimeline starts from the initial placement: the holdings of a run that has not changed
// placement yet (see initialHoldings).
func newCopyTimeline(buckets int, initial []linearizability.Holding) *copyTimeline {
	t := &copyTimeline{holders: make([]map[int32]bool, buckets)}
	for b := range t.holders {
		t.holders[b] = map[int32]bool{}
	}
	for _, h := range initial {
		if h.Initialized {
			t.holders[h.Bucket][h.Node] = true
		}
	}
	return t
}

// apply updates the copies with one trace record.
func (t *copyTimeline) apply(r *trace.Record) error {
	switch {
	case r.Kind == trace.KindCrash, r.Kind == trace.KindEvent && r.Name == kv.EventForcedDisconnect:
		for _, hs := range t.holders {
			delete(hs, r.Node)
		}
	case r.Kind == trace.KindEvent && (r.Name == protocol.EventInitialized || r.Name == kv.EventBucketDropped):
		b, err := r.Int("bucket")
		if err != nil {
			return err
		}
		if b < 0 || b >= len(t.holders) {
			return fmt.Errorf("trace record %d (%s): bucket %d outside 0..%d", r.Seq, r.Name, b, len(t.holders)-1)
		}
		if r.Name == protocol.EventInitialized {
			t.holders[b][r.Node] = true
		} else {
			delete(t.holders[b], r.Node)
		}
	}
	return nil
}

// meanCopies is the mean number of initialized copies per bucket.
func (t *copyTimeline) meanCopies() float64 {
	total := 0
	for _, hs := range t.holders {
		total += len(hs)
	}
	return float64(total) / float64(len(t.holders))
}

// minCopies is the number of initialized copies of the worst-off bucket.
func (t *copyTimeline) minCopies() int {
	least := math.MaxInt
	for _, hs := range t.holders {
		least = min(least, len(hs))
	}
	return least
}
