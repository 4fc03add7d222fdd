package kv

import (
	"fmt"
	"math/bits"
	"strings"
)

// Mutant is one plausible bug of the store, carried as a named switch so that the toolkit can
// measure how reliably its checkers find real bugs. Each changes only its behaviour. The first
// twelve are the state flush operation's, numbered and named as in the reference description
// (shared design, protocol.md); the others each remove or weaken one of the store's other safety
// mechanisms (Mechanism names it; the package comment describes them all).
type Mutant int

// The twelve state flush mutants, in the reference order, then one or more per safety mechanism of
// the store.
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

	// AckBeforeReplicas (synchronous acknowledgement): the primary acknowledges a client write as
	// soon as it is on the wire, without waiting for the recipients to apply it. A recipient that
	// rejects it (a newer primary fenced it) leaves an acknowledged write that exists nowhere else.
	AckBeforeReplicas
	// NoDedupeWrites (event-id dedupe in writes): the primary does not look up a write's event id in
	// its table, so a retry of a write it already applied is applied again.
	NoDedupeWrites
	// NoDedupeImage (event-id dedupe in images): the new copy ignores the event-id table of the
	// image's last chunk, so once primary it applies again a retry of a write the image held.
	NoDedupeImage
	// NoDedupeFailover (event-id dedupe in failover): the failover synchronization merges the
	// holders' entries but not their event-id tables, and the new primary starts its epoch with an
	// empty table, so a retry of a write applied under the old primary is applied again.
	NoDedupeFailover
	// NoEpochFence (epoch fencing): a holder accepts replicated writes of an older primary after a
	// newer one fenced it, so a write of the old primary can land after the new primary's
	// synchronization and differ from what the new primary holds.
	NoEpochFence
	// MergeKeepsOwn (the failover merge): the new primary pushes its own entries and ignores the
	// holders' answers, so a write that reached some holders but not the new primary is kept by
	// those holders only.
	MergeKeepsOwn
	// PromoteUninitialized (initialized-only promotion): the coordinator makes the lowest-id holder
	// primary, initialized or not.
	PromoteUninitialized
	// ServeUninitialized (initialized-only serving): a copy under creation answers the reads that
	// reach it (a client with a stale idea of the primary) from its partial state instead of
	// redirecting them.
	ServeUninitialized
	// NoTombstones (tombstones): a delete removes the key instead of leaving a tombstone, so an older
	// version of the key (from an image, or a holder's answer to a failover) brings it back.
	NoTombstones
	// TombstoneOldVersion (tombstones' versions): a delete's tombstone keeps the version of the entry
	// it deletes instead of a new one, so a holder that has that entry takes the tombstone for the
	// same write and keeps the value.
	TombstoneOldVersion
	// RecoveryPicksDeparted (redundancy recovery's choice of members): the coordinator places new
	// copies among the members of the view before the change, so a member leaving in this very
	// change can receive a copy that will never be created.
	RecoveryPicksDeparted
	// IgnoreLapse (the lapse quarantine): a server back from a pause longer than failure detection
	// goes on as before: it serves clients from the copies it may no longer hold for the cluster,
	// acts on its stale suspicions and finishes a takeover it began before the pause.
	IgnoreLapse
	// TakeoverSkipsQuorum (the partition rule): only a coordinator applies the weighted partition
	// rule to the views it publishes; a member that takes over after losing its coordinator does
	// not, so the side of a partition without the coordinator keeps serving whatever weight it
	// lost.
	TakeoverSkipsQuorum
	// LocalReads (the read fence): the primary answers a get from its own copy at once, without
	// asking its holders whether they still accept it, so a primary cut off from the cluster
	// answers gets with stale values after a newer primary has acknowledged writes.
	LocalReads
	// IgnoreConnectionLoss (connection loss): a server whose connection to another member breaks
	// goes on as before: it neither refuses what comes over the new connection nor has an end
	// removed, so a copy may apply writes that follow a gap, without the writes (and the event
	// ids) that were lost with the connection.
	IgnoreConnectionLoss

	mutantCount = int(IgnoreConnectionLoss)
)

// Mechanism is the safety mechanism of the store that a mutant removes or weakens.
type Mechanism string

// The store's safety mechanisms, as the package comment lists them.
const (
	MechFlush          Mechanism = "state flush"
	MechSyncAck        Mechanism = "synchronous ack"
	MechDedupeWrites   Mechanism = "dedupe: writes"
	MechDedupeImage    Mechanism = "dedupe: image"
	MechDedupeFailover Mechanism = "dedupe: failover"
	MechEpochFence     Mechanism = "epoch fence"
	MechFailoverMerge  Mechanism = "failover merge"
	MechPromotion      Mechanism = "initialized-only promotion"
	MechServing        Mechanism = "initialized-only serving"
	MechTombstones     Mechanism = "tombstones"
	MechTombstoneVers  Mechanism = "tombstone versions"
	MechRecovery       Mechanism = "recovery placement"
	MechLapse          Mechanism = "lapse quarantine"
	MechPartitionRule  Mechanism = "partition rule"
	MechReadFence      Mechanism = "read fence"
	MechConnectionLoss Mechanism = "connection loss"
)

var mutantMechanisms = [...]Mechanism{
	AckBeforeReplicas:     MechSyncAck,
	NoDedupeWrites:        MechDedupeWrites,
	NoDedupeImage:         MechDedupeImage,
	NoDedupeFailover:      MechDedupeFailover,
	NoEpochFence:          MechEpochFence,
	MergeKeepsOwn:         MechFailoverMerge,
	PromoteUninitialized:  MechPromotion,
	ServeUninitialized:    MechServing,
	NoTombstones:          MechTombstones,
	TombstoneOldVersion:   MechTombstoneVers,
	RecoveryPicksDeparted: MechRecovery,
	IgnoreLapse:           MechLapse,
	TakeoverSkipsQuorum:   MechPartitionRule,
	LocalReads:            MechReadFence,
	IgnoreConnectionLoss:  MechConnectionLoss,
}

// Mechanism names the safety mechanism the mutant removes or weakens: MechFlush for the twelve
// state flush mutants (the flush and its announce, mitt, image and initialization steps).
func (m Mutant) Mechanism() Mechanism {
	if int(m) < len(mutantMechanisms) && mutantMechanisms[m] != "" {
		return mutantMechanisms[m]
	}
	return MechFlush
}

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
	AckBeforeReplicas:     "ack-before-replicas",
	NoDedupeWrites:        "no-dedupe-writes",
	NoDedupeImage:         "no-dedupe-image",
	NoDedupeFailover:      "no-dedupe-failover",
	NoEpochFence:          "no-epoch-fence",
	MergeKeepsOwn:         "merge-keeps-own",
	PromoteUninitialized:  "promote-uninitialized",
	ServeUninitialized:    "serve-uninitialized",
	NoTombstones:          "no-tombstones",
	TombstoneOldVersion:   "tombstone-old-version",
	RecoveryPicksDeparted: "recovery-picks-departed",
	IgnoreLapse:           "ignore-lapse",
	TakeoverSkipsQuorum:   "takeover-skips-quorum",
	LocalReads:            "local-reads",
	IgnoreConnectionLoss:  "ignore-connection-loss",
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

// MutantNames lists the mutant names in the reference order (the twelve state flush mutants first).
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
