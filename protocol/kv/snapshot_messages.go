package kv

import (
	"errors"
	"fmt"
	"strings"

	"github.com/stateflush/stateflush/protocol"
)

// Sentinel errors of the snapshot switches.
var (
	ErrUnknownSnapshotVariant = errors.New("kv: unknown snapshot variant")
	ErrUnknownSnapshotMutant  = errors.New("kv: unknown snapshot mutant")
)

// SnapshotVariant is how a Chandy–Lamport snapshot of the store is taken (see StartSnapshot).
type SnapshotVariant int

// Snapshot variants. SnapshotPlain is the zero value: the textbook algorithm.
const (
	// SnapshotPlain runs the marker algorithm while clients keep writing. Its result is a
	// consistent cut, but not necessarily a linearizable read of the whole store: clients are
	// outside the snapshot, so a client can see a write that the cut leaves out and then make one
	// that the cut includes.
	SnapshotPlain SnapshotVariant = iota
	// SnapshotFlush first drains the store: every member holds new client writes at the buckets it
	// serves and waits until each of its writes in progress is acknowledged; once every member is
	// drained the marker algorithm runs, then the initiator releases the writes. The store does not
	// change while it is recorded, so the result is a linearizable snapshot, at the price of the
	// held writes' latency.
	SnapshotFlush
)

var snapshotVariantNames = [...]string{"plain", "flush"}

func (v SnapshotVariant) String() string {
	if v.valid() {
		return snapshotVariantNames[v]
	}
	return fmt.Sprintf("SnapshotVariant(%d)", int(v))
}

func (v SnapshotVariant) valid() bool { return v >= 0 && int(v) < len(snapshotVariantNames) }

// SnapshotVariants lists the variant names.
func SnapshotVariants() []string { return append([]string(nil), snapshotVariantNames[:]...) }

// ParseSnapshotVariant turns "plain" or "flush" into a SnapshotVariant.
func ParseSnapshotVariant(name string) (SnapshotVariant, error) {
	for i, n := range snapshotVariantNames {
		if n == name {
			return SnapshotVariant(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (known: %s)", ErrUnknownSnapshotVariant, name, strings.Join(snapshotVariantNames[:], ", "))
}

// MarshalText writes the variant's name.
func (v SnapshotVariant) MarshalText() ([]byte, error) {
	if !v.valid() {
		return nil, fmt.Errorf("%w: SnapshotVariant(%d)", ErrUnknownSnapshotVariant, int(v))
	}
	return []byte(v.String()), nil
}

// UnmarshalText reads a variant name ("plain", "flush").
func (v *SnapshotVariant) UnmarshalText(b []byte) error {
	parsed, err := ParseSnapshotVariant(string(b))
	if err != nil {
		return err
	}
	*v = parsed
	return nil
}

// SnapshotMutant is a plausible bug of the snapshot algorithm, carried as a named switch so that
// the toolkit can show its consistent-cut check catching it. It is separate from Mutant, whose
// twelve values are the state flush operation's bugs. The switch travels in the snapshot's own
// messages (StartSnapshot, SnapshotMarker), so one cluster can take correct and mutant snapshots
// side by side; it is a testing switch, not a protocol option.
type SnapshotMutant int

// Snapshot mutants. NoSnapshotMutant (the zero value) is the correct algorithm.
const (
	NoSnapshotMutant SnapshotMutant = iota
	// RecordAfterMarker keeps recording every incoming channel until the member's last marker has
	// arrived, instead of closing each channel when its own marker arrives: messages that were sent
	// after the sender's cut, and so are already part of the receiver's future, land in the
	// recorded channel state.
	RecordAfterMarker
)

var snapshotMutantNames = [...]string{"none", "record-after-marker"}

func (m SnapshotMutant) String() string {
	if m.valid() {
		return snapshotMutantNames[m]
	}
	return fmt.Sprintf("SnapshotMutant(%d)", int(m))
}

func (m SnapshotMutant) valid() bool { return m >= 0 && int(m) < len(snapshotMutantNames) }

// SnapshotMutantNames lists the snapshot mutants' names ("none" excluded).
func SnapshotMutantNames() []string { return append([]string(nil), snapshotMutantNames[1:]...) }

// ParseSnapshotMutant turns a snapshot mutant's name ("" and "none" for none) into a
// SnapshotMutant.
func ParseSnapshotMutant(name string) (SnapshotMutant, error) {
	if name == "" {
		return NoSnapshotMutant, nil
	}
	for i, n := range snapshotMutantNames {
		if n == name {
			return SnapshotMutant(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (known: %s)", ErrUnknownSnapshotMutant, name, strings.Join(snapshotMutantNames[:], ", "))
}

// MarshalText writes the snapshot mutant's name.
func (m SnapshotMutant) MarshalText() ([]byte, error) {
	if !m.valid() {
		return nil, fmt.Errorf("%w: SnapshotMutant(%d)", ErrUnknownSnapshotMutant, int(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText reads a snapshot mutant's name.
func (m *SnapshotMutant) UnmarshalText(b []byte) error {
	parsed, err := ParseSnapshotMutant(string(b))
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}

// SnapshotMarkerType is the Type() of SnapshotMarker. It is the marker type the consistent-cut
// checker assumes by default (linearizability.DefaultMarkerType).
const SnapshotMarkerType = "snapshot-marker"

// StartSnapshot asks the server it is sent to (from protocol.External) to take a snapshot of the
// store as its initiator. ID names the snapshot in every message and trace event; it must be unique
// in the cluster (a server refuses an ID it has seen, and a member refuses a second initiator
// using an ID it knows).
type StartSnapshot struct {
	ID      string
	Variant SnapshotVariant
	Mutant  SnapshotMutant
}

func (*StartSnapshot) Type() string { return "start-snapshot" }
func (m *StartSnapshot) TraceAttrs() []protocol.Attr {
	attrs := []protocol.Attr{a("snapshot", m.ID), a("variant", m.Variant)}
	if m.Mutant != NoSnapshotMutant {
		attrs = append(attrs, a("mutant", m.Mutant))
	}
	return attrs
}

// snapshotMessage is a server-to-server message of the snapshot algorithm.
type snapshotMessage interface {
	serverMessage
	snapshotID() string
}

// SnapshotMarker is the Chandy–Lamport marker: its sender recorded its state before sending it,
// and sent it on the channel before any message sent after that. It carries the snapshot's
// definition (initiator and members), so the first marker a member receives is enough to take
// part.
type SnapshotMarker struct {
	Hdr
	ID        string
	Initiator Member
	Members   []Member
	// View is the version of the initiator's view the members come from. A member absent from a
	// view at least this new has left; absent from an older one, it may simply be newer than what
	// the receiver has heard of.
	View    ConfigVersion
	Variant SnapshotVariant
	Mutant  SnapshotMutant
}

func (*SnapshotMarker) Type() string         { return SnapshotMarkerType }
func (m *SnapshotMarker) snapshotID() string { return m.ID }
func (m *SnapshotMarker) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("snapshot", m.ID), a("initiator", m.Initiator)}
}

// SnapshotHold (flush variant) asks a member to hold new client writes at the buckets it serves
// and to answer SnapshotHoldReady once every write it has in progress is acknowledged.
type SnapshotHold struct {
	Hdr
	ID        string
	Initiator Member
	Members   []Member
	View      ConfigVersion // as in SnapshotMarker
	Mutant    SnapshotMutant
}

func (*SnapshotHold) Type() string         { return "snapshot-hold" }
func (m *SnapshotHold) snapshotID() string { return m.ID }
func (m *SnapshotHold) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("snapshot", m.ID), a("initiator", m.Initiator)}
}

// SnapshotHoldReady (flush variant): the member holds new client writes and has none in progress.
type SnapshotHoldReady struct {
	Hdr
	ID string
}

func (*SnapshotHoldReady) Type() string                  { return "snapshot-hold-ready" }
func (m *SnapshotHoldReady) snapshotID() string          { return m.ID }
func (m *SnapshotHoldReady) TraceAttrs() []protocol.Attr { return []protocol.Attr{a("snapshot", m.ID)} }

// SnapshotCopy is one bucket copy as a member recorded it at its cut point.
type SnapshotCopy struct {
	Bucket int
	// Primary: the member served the bucket (or was synchronizing the holders as its new primary).
	Primary     bool
	Initialized bool
	Epoch       uint64
	Entries     []Entry // sorted by key, tombstones included
}

// SnapshotReport carries a member's part of the snapshot to the initiator once every incoming
// channel is closed: its recorded copies and the entries of the replicated writes that were part of
// its recorded state without being applied (received but still queued for application at the cut,
// or recorded in flight on a channel). Refused says the member will not take part (the ID is
// already used by another initiator); Broken says a flush-variant member served a client write
// while it should have been holding (a synchronization released writes held for it), so the cut
// is no longer a quiet point of the store.
type SnapshotReport struct {
	Hdr
	ID      string
	Copies  []SnapshotCopy
	Writes  []Entry
	Refused bool
	Broken  bool
}

func (*SnapshotReport) Type() string         { return "snapshot-report" }
func (m *SnapshotReport) snapshotID() string { return m.ID }
func (m *SnapshotReport) TraceAttrs() []protocol.Attr {
	attrs := []protocol.Attr{a("snapshot", m.ID), a("copies", len(m.Copies)), a("writes", len(m.Writes))}
	if m.Refused {
		attrs = append(attrs, a("refused", true))
	}
	if m.Broken {
		attrs = append(attrs, a("broken", true))
	}
	return attrs
}

// SnapshotRelease ends a member's part: the snapshot completed (flush variant: release the held
// writes) or was aborted (stop recording, release the held writes).
type SnapshotRelease struct {
	Hdr
	ID      string
	Aborted bool
}

func (*SnapshotRelease) Type() string         { return "snapshot-release" }
func (m *SnapshotRelease) snapshotID() string { return m.ID }
func (m *SnapshotRelease) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("snapshot", m.ID), a("aborted", m.Aborted)}
}
