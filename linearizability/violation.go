package linearizability

import (
	"fmt"
	"slices"
	"strings"
)

// CheckName names the check that found a violation.
type CheckName string

// The checks of this package.
const (
	LinearizabilityCheck   CheckName = "linearizability"
	ConsistentCutCheck     CheckName = "consistent-cut"
	ConvergenceCheck       CheckName = "convergence"
	AcknowledgedWriteCheck CheckName = "acknowledged-write"
	RedundancyCheck        CheckName = "redundancy"
)

// NoBucket is Violation.Bucket for violations that concern no single bucket.
const NoBucket = -1

// HolderValue is what one holder of a bucket has for one key.
type HolderValue struct {
	Node        int32  `json:"node"`
	NodeName    string `json:"node_name,omitempty"`
	Primary     bool   `json:"primary,omitempty"`
	Initialized bool   `json:"initialized,omitempty"`
	// Present is false when the holder has no entry for the key at all (not even a tombstone).
	Present   bool   `json:"present"`
	Value     string `json:"value,omitempty"`
	Version   string `json:"version,omitempty"`
	Tombstone bool   `json:"tombstone,omitempty"`
	// LastTraceSeq is the last trace record at this holder that touched the key (an event with
	// that key attribute) or, failing that, the bucket's image (an image-chunk-applied event with
	// that bucket attribute); 0 when the trace has neither.
	LastTraceSeq uint64 `json:"last_trace_seq,omitempty"`
}

// describe renders the holder's entry, e.g. `node 2 (s2) "v1"@1.3 [trace seq 812]`.
func (h HolderValue) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "node %d", h.Node)
	if h.NodeName != "" {
		fmt.Fprintf(&b, " (%s)", h.NodeName)
	}
	if h.Primary {
		b.WriteString(" primary")
	}
	if !h.Initialized {
		b.WriteString(" uninitialized")
	}
	switch {
	case !h.Present:
		b.WriteString(" has no entry")
	case h.Tombstone:
		fmt.Fprintf(&b, " has a tombstone@%s", h.Version)
	default:
		fmt.Fprintf(&b, " has %q@%s", h.Value, h.Version)
	}
	if h.LastTraceSeq != 0 {
		fmt.Fprintf(&b, " [last trace seq %d]", h.LastTraceSeq)
	}
	return b.String()
}

// Violation is one broken property, described for a person (Message) and for tools (the other
// fields). Fields that do not apply are zero (Bucket is NoBucket).
type Violation struct {
	Check   CheckName `json:"check"`
	Message string    `json:"message"`
	Bucket  int       `json:"bucket"`
	Key     string    `json:"key,omitempty"`
	// Holders are the holders' entries for Key (convergence, acknowledged writes) or the bucket's
	// holders (redundancy).
	Holders []HolderValue `json:"holders,omitempty"`
	// Channel and MsgID locate consistent-cut violations.
	Channel *Channel `json:"channel,omitempty"`
	MsgID   uint64   `json:"msg,omitempty"`
	// TraceSeqs are the trace records that produced the violation, ascending.
	TraceSeqs []uint64 `json:"trace_seqs,omitempty"`
}

// String renders the violation in one line, with its trace positions.
func (v Violation) String() string {
	s := fmt.Sprintf("[%s] %s", v.Check, v.Message)
	if len(v.TraceSeqs) > 0 {
		seqs := make([]string, len(v.TraceSeqs))
		for i, seq := range v.TraceSeqs {
			seqs[i] = fmt.Sprint(seq)
		}
		s += " (trace seqs " + strings.Join(seqs, ", ") + ")"
	}
	return s
}

// traceSeqs returns the nonzero seqs sorted and without duplicates.
func traceSeqs(seqs ...uint64) []uint64 {
	var out []uint64
	for _, s := range seqs {
		if s != 0 {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
