// Package protocol holds stateflush's protocols as deterministic, event-driven state machines: a
// partitioned, replicated key-value store whose new bucket replicas are created by the state flush
// operation (with blocking and naive baselines and named mutants), and Chandy–Lamport snapshots.
//
// Protocol code does no I/O and reads no clock. A Node is driven through three calls (Start, Receive,
// Fire) and acts only through the Env it is handed: it sends messages, sets and cancels timers, reads
// virtual time, draws random choices and emits trace events. The simulator in package sim implements
// Env; a real transport could implement it too, so the same code runs outside the simulator.
//
// Determinism rules for this package and its subpackages: no wall clock, no goroutines or channels, no
// global randomness, and no map iteration order that reaches a message, a decision or an output
// (iterate sorted keys).
package protocol

import (
	"fmt"
	"strconv"
	"time"
)

// NodeID names a process in a cluster: servers and clients alike. IDs are dense, starting at 0.
type NodeID int32

// External is the sender of messages injected from outside the cluster (an operator's rebalance
// request, a test script, the CLI). It is never a real node.
const External NodeID = -1

// Time is a point in virtual time, in microseconds since the start of a run.
type Time int64

// Duration is a span of virtual time in microseconds.
type Duration int64

// Virtual-time units, so that code reads 5*protocol.Millisecond rather than 5000.
const (
	Microsecond Duration = 1
	Millisecond          = 1000 * Microsecond
	Second               = 1000 * Millisecond
)

// String formats a time as seconds with microsecond precision, e.g. "1.250000s".
func (t Time) String() string { return fmt.Sprintf("%d.%06ds", int64(t)/1e6, int64(t)%1e6) }

// Readable writes a duration as people write it: "1.5s", "80ms", "250µs", "2m0s". Traces and
// violation texts keep Time's fixed microsecond format, which sorts and compares as text; banners
// and summaries use this one. It formats only: the standard library's Duration text, from the
// virtual microseconds.
func Readable(d Duration) string { return (time.Duration(d) * time.Microsecond).String() }

// TimerID identifies one armed timer of one node. IDs are unique within a run.
type TimerID uint64

// TimerTag says what a timer is for. Kind is the protocol's own enumeration; Arg carries one value
// (a sequence number, a bucket, a generation). It is a value type so arming a timer never allocates.
// A Background timer (a heartbeat, a periodic probe) does not keep a run from being quiescent: a run
// is quiescent when no foreground message is in flight and only background timers are armed.
type TimerTag struct {
	Kind       int32
	Arg        int64
	Background bool
}

// Message is anything a node sends. Type names the message kind in traces ("put", "state-marker").
// Messages are treated as immutable once sent: the network may deliver the same value twice
// (duplication), so receivers must not mutate what they receive.
type Message interface {
	Type() string
}

// BackgroundMessage is an optional interface of messages. A message whose Background method returns
// true is background traffic (a heartbeat, a liveness probe): like a background timer, it does not
// keep a run from being quiescent, so that a cluster whose only activity is its failure detector
// counts as quiet. Protocols must send as background only messages whose loss at the end of a run
// changes nothing a checker reads.
type BackgroundMessage interface {
	Message
	Background() bool
}

// IsBackground reports whether m is background traffic (see BackgroundMessage).
func IsBackground(m Message) bool {
	b, ok := m.(BackgroundMessage)
	return ok && b.Background()
}

// Rand is the single source of random choices a node may use. Implementations are a seeded PRNG or a
// property-based testing engine (rapid), so that shrinking a failing run shrinks its choices.
// Encode choices so that 0 is the boring one: the default, no fault, the minimum delay.
type Rand interface {
	// Intn returns a value in [0, n). n must be positive.
	Intn(n int) int
	// Float64 returns a value in [0, 1).
	Float64() float64
}

// Attr is one key-value pair of a trace event. Values are strings so that a trace reads back from
// JSON exactly as it was written.
type Attr struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// A makes an Attr, formatting the value as fmt's %v verb does. Integers and strings, the common
// case on every client operation, take a fast path that avoids fmt.
func A(key string, value any) Attr {
	switch v := value.(type) {
	case string:
		return Attr{Key: key, Value: v}
	case int:
		return Attr{Key: key, Value: strconv.Itoa(v)}
	case int64:
		return Attr{Key: key, Value: strconv.FormatInt(v, 10)}
	case uint64:
		return Attr{Key: key, Value: strconv.FormatUint(v, 10)}
	case NodeID:
		return Attr{Key: key, Value: strconv.Itoa(int(v))}
	case bool:
		return Attr{Key: key, Value: strconv.FormatBool(v)}
	case fmt.Stringer:
		return Attr{Key: key, Value: v.String()}
	default:
		return Attr{Key: key, Value: fmt.Sprint(v)}
	}
}

// AStr, AInt, AUint and ABool make the same Attr as A for a value of their type, without boxing the
// value in an interface (A's argument escapes, so every call with a string or a large integer costs a
// heap allocation before any formatting): the hot emit and trace paths use them.
func AStr(key, value string) Attr { return Attr{Key: key, Value: value} }

// AInt is A for an int (or a NodeID converted to int).
func AInt(key string, value int) Attr { return Attr{Key: key, Value: strconv.Itoa(value)} }

// AUint is A for a uint64.
func AUint(key string, value uint64) Attr {
	return Attr{Key: key, Value: strconv.FormatUint(value, 10)}
}

// ABool is A for a bool.
func ABool(key string, value bool) Attr { return Attr{Key: key, Value: strconv.FormatBool(value)} }

// Env is everything a node may do to the world. It is valid only during the call it was passed to.
type Env interface {
	// Self is the ID of the node being driven.
	Self() NodeID
	// Incarnation counts the node's restarts: 0 for the first start, 1 after the first restart, ...
	Incarnation() uint32
	// Now is the current virtual time.
	Now() Time
	// Send puts a message on the directed channel from Self to the given node. The network decides
	// when (and whether) it arrives; by default each channel is FIFO.
	Send(to NodeID, m Message)
	// SetTimer arms a timer that fires after the given delay unless cancelled first.
	SetTimer(after Duration, tag TimerTag) TimerID
	// CancelTimer disarms a timer. Cancelling a timer that already fired or was cancelled is a no-op.
	CancelTimer(id TimerID)
	// Rand is the node's random source.
	Rand() Rand
	// Emit records a protocol event in the trace (a phase change, a client operation's completion).
	// It must not keep attrs once it returns: callers reuse the slice, so that an event costs no
	// allocation for its attribute list.
	Emit(name string, attrs ...Attr)
}

// Node is an event-driven state machine. The driver calls Start once per incarnation, then Receive
// and Fire, one call at a time, never concurrently. A crash discards the Node value (volatile state is
// lost); a restart builds a fresh Node.
type Node interface {
	// Start runs when the incarnation begins.
	Start(env Env)
	// Receive handles one message delivered on the channel from the given node (or External).
	Receive(env Env, from NodeID, m Message)
	// Fire handles a timer armed by this incarnation.
	Fire(env Env, id TimerID, tag TimerTag)
}
