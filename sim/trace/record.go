// Package trace defines the structured record of everything that happens in a simulator run: sends,
// deliveries, drops, timers, crashes, restarts, faults and protocol events, each stamped with virtual
// time and the record that caused it. A trace has a stable 64-bit hash (same seed, same binary, same
// platform: same hash) and a JSON Lines encoding that reads back losslessly.
//
// Package trace imports nothing of the simulator, so that checkers (package linearizability) and tools
// can read traces without depending on the simulator's internals.
//
// Files: Write encodes a trace as JSON Lines (a header line with the format version and a free-form
// description of the run, then one Record per line); Read decodes it, rejecting malformed, truncated
// or wrong-version input with a *LineError that names the line. Hashing: Hash(records) is the trace
// hash, and a Hasher computes the same value incrementally, as the simulator does while it runs (see
// Hasher for the canonical encoding). A trace read back from a file has the hash of the run that
// wrote it, so a file can be checked against a replay of the seed in its header.
package trace

import (
	"fmt"
	"strconv"
)

// Kind classifies a record.
type Kind string

// Record kinds. The simulator writes the network and fault kinds; protocol code writes KindEvent
// records through protocol.Env.Emit.
const (
	KindSend      Kind = "send"      // Node put message MsgID on its channel to Peer
	KindDeliver   Kind = "deliver"   // message MsgID from Peer was handed to Node
	KindDrop      Kind = "drop"      // message MsgID from Peer to Node was lost; Name says why
	KindDuplicate Kind = "duplicate" // the network scheduled a second copy of MsgID
	KindTimerSet  Kind = "timer-set" // Node armed timer TimerID
	KindTimer     Kind = "timer"     // timer TimerID fired at Node
	KindCrash     Kind = "crash"     // Node crashed; Attrs may say by whom (e.g. the chaos monkey)
	KindRestart   Kind = "restart"   // Node restarted as incarnation Incarnation
	KindFault     Kind = "fault"     // a network fault began or ended (partition, heal, delay spike)
	KindEvent     Kind = "event"     // a protocol event emitted by Node; Name and Attrs describe it
	KindEnd       Kind = "end"       // the run ended; Name says why (quiescent, time-budget, step-budget)
)

// Attr is one key-value pair. Values are strings so that records round-trip through JSON exactly.
type Attr struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// Record is one entry of a trace. Seq numbers records from 1 in the order they were written; Cause
// is the Seq of the record being handled when this one was written (the delivery or timer that
// triggered it), 0 when the run's driver itself caused it.
type Record struct {
	Seq         uint64 `json:"seq"`
	TimeUS      int64  `json:"t"`
	Kind        Kind   `json:"kind"`
	Node        int32  `json:"node"`
	Peer        int32  `json:"peer,omitempty"`
	Incarnation uint32 `json:"inc,omitempty"`
	MsgID       uint64 `json:"msg,omitempty"`
	TimerID     uint64 `json:"timer,omitempty"`
	Cause       uint64 `json:"cause,omitempty"`
	Name        string `json:"name,omitempty"`
	Attrs       []Attr `json:"attrs,omitempty"`
}

// Get returns the value of the named attribute and whether it is present.
func (r *Record) Get(key string) (string, bool) {
	for _, a := range r.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// Int returns the named attribute as an integer; the error names the record and the attribute
// when it is missing or not an integer.
func (r *Record) Int(key string) (int, error) {
	v, ok := r.Get(key)
	if !ok {
		return 0, fmt.Errorf("trace record %d (%s): no attribute %q", r.Seq, r.Name, key)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("trace record %d (%s): attribute %s=%q is not an integer", r.Seq, r.Name, key, v)
	}
	return n, nil
}
