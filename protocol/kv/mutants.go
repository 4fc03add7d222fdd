package kv

import (
	"fmt"
	"math/bits"
	"strings"
)

// Mutant is one plausible bug of the state flush operation, carried as a named switch so that the
// toolkit can measure how reliably its checkers find real bugs. Each changes only its behaviour.
// The numbering and names follow the reference description (shared design, protocol.md).
type Mutant int

// The twelve mutants, in the reference order.
const (
	// SkipFlush: request the image right after the announce.
	SkipFlush Mutant = iota + 1
	// NoWaitInProgress: a holder records its channel count without waiting for its writes started
	// before the new copy to be on the wire.
	NoWaitInProgress
	// ObserverEarly: the new copy proceeds after the first stabilized reply.
	ObserverEarly
	// CountOnReceipt: the source counts a replicated message when it arrives, not when applied.
	CountOnReceipt
	// FlushNotBoundToSource: after the source dies, the copy retries from another source reusing
	// the old flush.
	FlushNotBoundToSource
	// LateAnnounce: the new copy's profile reaches the holders only after the copy has started.
	LateAnnounce
	// NoMitt: the new copy ignores replicated writes while uninitialized (but acknowledges them).
	NoMitt
	// ImageOverwritesMitt: image entries are applied unconditionally.
	ImageOverwritesMitt
	// MittIgnoresDeletes: a delete reaching the uninitialized copy leaves no tombstone.
	MittIgnoresDeletes
	// PrematureCompletion: the copy is marked initialized when the last chunk is received, before
	// every chunk is applied.
	PrematureCompletion
	// WrongVersionOrder: a tombstone in the mitt counts as version 0 against image entries.
	WrongVersionOrder
	// PartialImageAccepted: when the source dies mid-copy, the copy keeps what it has and
	// initializes.
	PartialImageAccepted

	mutantCount = int(PartialImageAccepted)
)

var mutantNames = [...]string{
	SkipFlush:             "skip-flush",
	NoWaitInProgress:      "no-wait-in-progress",
	ObserverEarly:         "observer-early",
	CountOnReceipt:        "count-on-receipt",
	FlushNotBoundToSource: "flush-not-bound-to-source",
	LateAnnounce:          "late-announce",
	NoMitt:                "no-mitt",
	ImageOverwritesMitt:   "image-overwrites-mitt",
	MittIgnoresDeletes:    "mitt-ignores-deletes",
	PrematureCompletion:   "premature-completion",
	WrongVersionOrder:     "wrong-version-order",
	PartialImageAccepted:  "partial-image-accepted",
}

func (m Mutant) String() string {
	if m >= 1 && int(m) <= mutantCount {
		return mutantNames[m]
	}
	return fmt.Sprintf("Mutant(%d)", int(m))
}

// InFlush reports whether the mutant changes only the flush (the phase between the announce and
// the image request, with its channel counts and stabilized replies). The Blocking and Naive
// strategies run no flush, so with them such a mutant changes nothing.
func (m Mutant) InFlush() bool {
	switch m {
	case SkipFlush, NoWaitInProgress, ObserverEarly, CountOnReceipt, FlushNotBoundToSource:
		return true
	}
	return false
}

// MutantNames lists the mutant names in the reference order.
func MutantNames() []string { return append([]string(nil), mutantNames[1:]...) }

// AllMutants lists the mutants in the reference order.
func AllMutants() []Mutant {
	out := make([]Mutant, 0, mutantCount)
	for m := Mutant(1); int(m) <= mutantCount; m++ {
		out = append(out, m)
	}
	return out
}

// ParseMutant turns a mutant name into a Mutant; an unknown name is an error naming it.
func ParseMutant(name string) (Mutant, error) {
	for m := 1; m <= mutantCount; m++ {
		if mutantNames[m] == name {
			return Mutant(m), nil
		}
	}
	return 0, fmt.Errorf("%w %q (known: %s)", ErrUnknownMutant, name, strings.Join(MutantNames(), ", "))
}

// Mutants is a set of mutants; the zero value is the correct protocol.
type Mutants uint32

const allMutantsMask = Mutants(1<<(mutantCount+1) - 2)

// NewMutants makes a set.
func NewMutants(ms ...Mutant) Mutants {
	var s Mutants
	for _, m := range ms {
		s |= 1 << uint(m)
	}
	return s
}

// ParseMutants parses a comma-separated list of names ("" is the empty set).
func ParseMutants(csv string) (Mutants, error) {
	var s Mutants
	for _, name := range strings.Split(csv, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		m, err := ParseMutant(name)
		if err != nil {
			return 0, err
		}
		s |= NewMutants(m)
	}
	return s, nil
}

// Has reports whether m is switched on.
func (s Mutants) Has(m Mutant) bool { return s&(1<<uint(m)) != 0 }

// With returns the set with ms added.
func (s Mutants) With(ms ...Mutant) Mutants { return s | NewMutants(ms...) }

// List returns the members in the reference order.
func (s Mutants) List() []Mutant {
	var out []Mutant
	for _, m := range AllMutants() {
		if s.Has(m) {
			out = append(out, m)
		}
	}
	return out
}

// Len is the number of mutants switched on.
func (s Mutants) Len() int { return bits.OnesCount32(uint32(s & allMutantsMask)) }

// String is the comma-separated list of names ("" for none).
func (s Mutants) String() string {
	names := make([]string, 0, s.Len())
	for _, m := range s.List() {
		names = append(names, m.String())
	}
	return strings.Join(names, ",")
}

// Validate rejects bits that name no mutant.
func (s Mutants) Validate() error {
	if extra := s &^ allMutantsMask; extra != 0 {
		return fmt.Errorf("%w: bits %#x name no mutant", ErrUnknownMutant, uint32(extra))
	}
	return nil
}
