package linearizability

import (
	"strconv"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// Compact builders for hand-written histories. Times are µs; each builder makes an acknowledged
// operation, and unknown/failed turn it into one of unknown or failed outcome.

func putOp(client int32, key, value string, callUS, returnUS int64) Operation {
	return Operation{Client: client, Kind: OpPut, Key: key, Value: value, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
}

func appendOp(client int32, key, value string, callUS, returnUS int64) Operation {
	return Operation{Client: client, Kind: OpAppend, Key: key, Value: value, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
}

func deleteOp(client int32, key string, callUS, returnUS int64) Operation {
	return Operation{Client: client, Kind: OpDelete, Key: key, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
}

func getOp(client int32, key, value string, callUS, returnUS int64) Operation {
	return Operation{Client: client, Kind: OpGet, Key: key, Found: true, Output: value, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
}

func getAbsentOp(client int32, key string, callUS, returnUS int64) Operation {
	return Operation{Client: client, Kind: OpGet, Key: key, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
}

func snapshotOp(client int32, snapshot map[string]string, callUS, returnUS int64) Operation {
	return Operation{Client: client, Kind: OpSnapshot, Snapshot: snapshot, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
}

// lockOp is a granted lock of name under token; unlockOp releases name held under token.
func lockOp(client int32, name, token string, callUS, returnUS int64) Operation {
	return Operation{Client: client, Kind: OpLock, Key: name, Output: token, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
}

func unlockOp(client int32, name, token string, callUS, returnUS int64) Operation {
	return Operation{Client: client, Kind: OpUnlock, Key: name, Value: token, Status: StatusOK, CallUS: callUS, ReturnUS: returnUS}
}

// leased gives a lock a lease of lease µs.
func leased(op Operation, lease int) Operation {
	op.Value = strconv.Itoa(lease)
	return op
}

func unknown(op Operation) Operation {
	op.Status, op.ReturnUS = StatusUnknown, InfiniteTimeUS
	op.Found, op.Output, op.Snapshot = false, "", nil
	return op
}

func failed(op Operation) Operation {
	op.Status = StatusFail
	op.Found, op.Output, op.Snapshot = false, "", nil
	return op
}

// history numbers the operations (seq per client, from 1; invoke seqs in order) and returns them.
func history(ops ...Operation) History {
	seqs := map[int32]uint64{}
	h := make(History, len(ops))
	for i, op := range ops {
		seqs[op.Client]++
		op.Seq = seqs[op.Client]
		op.InvokeSeq = uint64(i + 1)
		h[i] = op
	}
	return h
}

// traceBuilder writes hand-made traces: Seq and time advance by one per record.
type traceBuilder struct {
	records []trace.Record
	nextMsg uint64
}

func (b *traceBuilder) add(r trace.Record) uint64 {
	r.Seq = uint64(len(b.records) + 1)
	if r.TimeUS == 0 {
		r.TimeUS = int64(r.Seq) * 10
	}
	b.records = append(b.records, r)
	return r.Seq
}

// send records node from sending a message of the given type to node to, and returns its MsgID.
func (b *traceBuilder) send(from, to int32, messageType string) uint64 {
	b.nextMsg++
	b.add(trace.Record{Kind: trace.KindSend, Node: from, Peer: to, MsgID: b.nextMsg, Name: messageType})
	return b.nextMsg
}

// deliver records the delivery of message msgID from node from at node to, and returns its Seq.
func (b *traceBuilder) deliver(to, from int32, msgID uint64, messageType string) uint64 {
	return b.add(trace.Record{Kind: trace.KindDeliver, Node: to, Peer: from, MsgID: msgID, Name: messageType})
}

// event records a protocol event at a node, caused by record cause (0 for none).
func (b *traceBuilder) event(node int32, cause uint64, name string, attrs ...string) uint64 {
	r := trace.Record{Kind: trace.KindEvent, Node: node, Cause: cause, Name: name}
	for i := 0; i+1 < len(attrs); i += 2 {
		r.Attrs = append(r.Attrs, trace.Attr{Key: attrs[i], Value: attrs[i+1]})
	}
	return b.add(r)
}

func (b *traceBuilder) invoke(client int32, seq, op, key, value string) uint64 {
	attrs := []string{"client", itoa(client), "seq", seq, "op", op}
	if op != protocol.OpSnapshot {
		attrs = append(attrs, "key", key)
	}
	if op == protocol.OpPut || op == protocol.OpAppend {
		attrs = append(attrs, "value", value)
	}
	return b.event(client, 0, protocol.EventOpInvoke, attrs...)
}

func (b *traceBuilder) ret(client int32, seq, status string, attrs ...string) uint64 {
	return b.event(client, 0, protocol.EventOpReturn, append([]string{"client", itoa(client), "seq", seq, "status", status}, attrs...)...)
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
