package linearizability

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// HistoryFromTrace pairs the op-invoke and op-return events of a trace (see protocol/events.go)
// into a History in invocation order.
//
// Every operation is kept, whatever its outcome, so that the history says everything the clients
// saw; CheckHistory decides which ones constrain the verdict. An operation invoked but never
// returned, or returned with status unknown, gets ReturnUS == InfiniteTimeUS. Records must be in
// Seq order. A malformed event (missing or unparsable attribute, a return without an invoke, an
// invoke reusing a client's sequence number) is an error wrapping ErrMalformedTrace that names the
// record's Seq.
func HistoryFromTrace(records []trace.Record) (History, error) {
	type clientSeq struct {
		client int32
		seq    uint64
	}
	var history History
	pending := make(map[clientSeq]int) // index into history of an invoked, not yet returned op
	seen := make(map[clientSeq]bool)
	if err := checkSeqOrder(records); err != nil {
		return nil, err
	}
	for i := range records {
		r := &records[i]
		if r.Kind != trace.KindEvent || (r.Name != protocol.EventOpInvoke && r.Name != protocol.EventOpReturn) {
			continue
		}
		client, err := attrInt32(r, "client")
		if err != nil {
			return nil, err
		}
		seq, err := attrUint64(r, "seq")
		if err != nil {
			return nil, err
		}
		id := clientSeq{client, seq}
		if r.Name == protocol.EventOpInvoke {
			if seen[id] {
				return nil, malformed(r, "client %d invoked seq %d twice", client, seq)
			}
			seen[id] = true
			op, err := operationFromInvoke(r, client, seq)
			if err != nil {
				return nil, err
			}
			pending[id] = len(history)
			history = append(history, op)
			continue
		}
		index, ok := pending[id]
		if !ok {
			return nil, malformed(r, "op-return for client %d seq %d without a pending op-invoke", client, seq)
		}
		delete(pending, id)
		if err := completeFromReturn(&history[index], r); err != nil {
			return nil, err
		}
	}
	// Operations still pending when the trace ended keep their infinite return time and unknown
	// status, set by operationFromInvoke.
	return history, nil
}

func operationFromInvoke(r *trace.Record, client int32, seq uint64) (Operation, error) {
	kind, ok := r.Get("op")
	if !ok {
		return Operation{}, malformed(r, "op-invoke without attribute op")
	}
	op := Operation{
		Client:    client,
		Seq:       seq,
		Kind:      OpKind(kind),
		Status:    StatusUnknown,
		CallUS:    r.TimeUS,
		ReturnUS:  InfiniteTimeUS,
		InvokeSeq: r.Seq,
	}
	if !op.Kind.valid() && op.Kind != OpLock && op.Kind != OpUnlock {
		return Operation{}, malformed(r, "unknown op %q", kind)
	}
	if op.Kind != OpSnapshot {
		if op.Key, ok = r.Get("key"); !ok {
			return Operation{}, malformed(r, "%s without attribute key", kind)
		}
	}
	switch op.Kind {
	case OpPut, OpAppend, OpUnlock:
		if op.Value, ok = r.Get("value"); !ok {
			return Operation{}, malformed(r, "%s without attribute value", kind)
		}
	case OpLock:
		op.Value, _ = r.Get("value") // the lease, if any
	}
	return op, nil
}

func completeFromReturn(op *Operation, r *trace.Record) error {
	status, ok := r.Get("status")
	if !ok {
		return malformed(r, "op-return without attribute status")
	}
	op.Status = Status(status)
	op.ReturnSeq = r.Seq
	switch op.Status {
	case StatusUnknown:
		// The client gave up; the operation may still take effect at any later time.
		return nil
	case StatusOK, StatusFail:
	default:
		return malformed(r, "unknown status %q", status)
	}
	if r.TimeUS < op.CallUS {
		return malformed(r, "returns at %dµs before its invoke at %dµs (record seq %d)", r.TimeUS, op.CallUS, op.InvokeSeq)
	}
	op.ReturnUS = r.TimeUS
	if op.Status != StatusOK {
		return nil
	}
	switch op.Kind {
	case OpLock:
		if op.Output, ok = r.Get("token"); !ok {
			return malformed(r, "granted lock without attribute token")
		}
	case OpGet:
		found, ok := r.Get("found")
		if !ok {
			return malformed(r, "successful get without attribute found")
		}
		switch found {
		case "true":
			op.Found = true
			if op.Output, ok = r.Get("value"); !ok {
				return malformed(r, "successful get with found=true without attribute value")
			}
		case "false":
		default:
			return malformed(r, "attribute found=%q is neither true nor false", found)
		}
	case OpSnapshot:
		text, ok := r.Get("value")
		if !ok {
			return malformed(r, "successful snapshot without attribute value")
		}
		snapshot := map[string]string{}
		if err := json.Unmarshal([]byte(text), &snapshot); err != nil {
			return malformed(r, "snapshot value is not a JSON object of strings: %v", err)
		}
		op.Snapshot = snapshot
	}
	return nil
}

func malformed(r *trace.Record, format string, args ...any) error {
	return fmt.Errorf("%w: record seq %d (%s %s): %s", ErrMalformedTrace, r.Seq, r.Kind, r.Name, fmt.Sprintf(format, args...))
}

func attrInt32(r *trace.Record, key string) (int32, error) {
	text, ok := r.Get(key)
	if !ok {
		return 0, malformed(r, "missing attribute %s", key)
	}
	v, err := strconv.ParseInt(text, 10, 32)
	if err != nil {
		return 0, malformed(r, "attribute %s=%q is not an int32", key, text)
	}
	return int32(v), nil
}

func attrUint64(r *trace.Record, key string) (uint64, error) {
	text, ok := r.Get(key)
	if !ok {
		return 0, malformed(r, "missing attribute %s", key)
	}
	v, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, malformed(r, "attribute %s=%q is not an unsigned integer", key, text)
	}
	return v, nil
}
