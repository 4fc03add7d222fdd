package notebooks

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/trace"
)

// Reading runs back: replica creations from the trace's phase events, latencies from the history.

// creation is one completed replica creation as its requester's trace events tell it. Times are
// virtual microseconds; a phase the strategy skips (blocking and naive have no flush) is -1.
type creation struct {
	Bucket int
	// Replica is the requester's node id and Member its name with incarnation ("s3#2").
	Replica int32
	Member  string
	// MittOpenUS starts the creation (the last start, if it restarted); AnnounceSentUS,
	// AnnounceCompleteUS and FlushCompleteUS end its phases; InitializedUS completes it.
	MittOpenUS, AnnounceSentUS, AnnounceCompleteUS, FlushCompleteUS, InitializedUS int64
	// Entries is how many entries (tombstones included) the new copy held when initialized.
	Entries int
}

// CopyStartUS is when the image copy began: after the flush, or after the announce without one.
func (c creation) CopyStartUS() int64 {
	if c.FlushCompleteUS >= 0 {
		return c.FlushCompleteUS
	}
	return c.AnnounceCompleteUS
}

// completedCreations lists the creations that reached initialized, in completion order. A
// creation restarted from the beginning (a new mitt-open) keeps only its last start.
func completedCreations(records []trace.Record) ([]creation, error) {
	type key struct {
		member string
		bucket int
	}
	open := map[key]*creation{}
	var done []creation
	for i := range records {
		r := &records[i]
		if r.Kind != trace.KindEvent {
			continue
		}
		switch r.Name {
		case protocol.EventMittOpen, protocol.EventAnnounceSent, protocol.EventAnnounceComplete, protocol.EventFlushComplete, protocol.EventInitialized:
		default:
			continue
		}
		bucket, err := intAttr(r, "bucket")
		if err != nil {
			return nil, err
		}
		member, _ := r.Get("replica")
		k := key{member, bucket}
		if r.Name == protocol.EventMittOpen {
			open[k] = &creation{Bucket: bucket, Replica: r.Node, Member: member, MittOpenUS: r.TimeUS,
				AnnounceSentUS: -1, AnnounceCompleteUS: -1, FlushCompleteUS: -1, InitializedUS: -1}
			continue
		}
		c := open[k]
		if c == nil {
			return nil, fmt.Errorf("trace record %d: %s for bucket %d at %s without a mitt-open", r.Seq, r.Name, bucket, member)
		}
		switch r.Name {
		case protocol.EventAnnounceSent:
			c.AnnounceSentUS = r.TimeUS
		case protocol.EventAnnounceComplete:
			c.AnnounceCompleteUS = r.TimeUS
		case protocol.EventFlushComplete:
			c.FlushCompleteUS = r.TimeUS
		case protocol.EventInitialized:
			c.InitializedUS = r.TimeUS
			if c.Entries, err = intAttr(r, "entries"); err != nil {
				return nil, err
			}
			done = append(done, *c)
			delete(open, k)
		}
	}
	return done, nil
}

// intAttr reads an integer attribute of a trace record.
func intAttr(r *trace.Record, name string) (int, error) {
	v, ok := r.Get(name)
	if !ok {
		return 0, fmt.Errorf("trace record %d (%s): no attribute %q", r.Seq, r.Name, name)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("trace record %d (%s): attribute %s=%q is not an integer", r.Seq, r.Name, name, v)
	}
	return n, nil
}

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
		b, err := intAttr(r, "bucket")
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
