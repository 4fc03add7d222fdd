package linearizability

import (
	"fmt"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// Creation is one completed replica creation as its requester's trace events tell it. Times are
// virtual microseconds; a phase the strategy skips (blocking and naive have no flush) is -1.
type Creation struct {
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
func (c Creation) CopyStartUS() int64 {
	if c.FlushCompleteUS >= 0 {
		return c.FlushCompleteUS
	}
	return c.AnnounceCompleteUS
}

// CompletedCreations lists the creations that reached initialized, in completion order. A
// creation restarted from the beginning (a new mitt-open) keeps only its last start.
func CompletedCreations(records []trace.Record) ([]Creation, error) {
	type key struct {
		member string
		bucket int
	}
	open := map[key]*Creation{}
	var done []Creation
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
		bucket, err := r.Int("bucket")
		if err != nil {
			return nil, err
		}
		member, _ := r.Get("replica")
		k := key{member, bucket}
		if r.Name == protocol.EventMittOpen {
			open[k] = &Creation{Bucket: bucket, Replica: r.Node, Member: member, MittOpenUS: r.TimeUS,
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
			if c.Entries, err = r.Int("entries"); err != nil {
				return nil, err
			}
			done = append(done, *c)
			delete(open, k)
		}
	}
	return done, nil
}
