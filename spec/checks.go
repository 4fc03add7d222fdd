package spec

import (
	"fmt"
	"strings"
)

// Expect is the verdict a check requires from Spin.
type Expect int

const (
	// Holds: the search completes and finds no error (no assertion violation, no invalid end state).
	Holds Expect = iota
	// Violated: the search finds at least one error and writes a counterexample trail.
	Violated
)

func (e Expect) String() string {
	switch e {
	case Holds:
		return "holds"
	case Violated:
		return "violated"
	default:
		return fmt.Sprintf("Expect(%d)", int(e))
	}
}

// Search selects how the generated verifier explores the state space.
type Search int

const (
	// DepthFirst is an exhaustive depth-first search with partial-order reduction: the mode that proves
	// a correct model.
	DepthFirst Search = iota
	// BreadthFirst is exhaustive too and finds the shortest counterexample first: the mode for mutants
	// and witnesses, whose trails a person reads.
	BreadthFirst
	// Collapse is DepthFirst with Spin's lossless state compression (-DCOLLAPSE): about a third of the
	// memory, a little slower. For the larger bounds.
	Collapse
)

func (s Search) String() string {
	switch s {
	case DepthFirst:
		return "dfs"
	case BreadthFirst:
		return "bfs"
	case Collapse:
		return "dfs+collapse"
	default:
		return fmt.Sprintf("Search(%d)", int(s))
	}
}

// Model files embedded in this package.
const (
	StateFlushModel    = "stateflush.pml"
	ChandyLamportModel = "chandy_lamport.pml"
	DLockRecoveryModel = "dlock_recovery.pml"
)

// Check is one verification run: a model, the -D switches that select its bounds and variant, and the
// verdict it must produce.
type Check struct {
	// Name identifies the check in test names, trail directories and the README table,
	// e.g. "stateflush.skip-flush".
	Name string
	// Model is the file name of an embedded model (StateFlushModel, ChandyLamportModel or
	// DLockRecoveryModel).
	Model string
	// Defines are preprocessor switches passed to spin as -D flags, e.g. "NWRITES=3", "SKIP_FLUSH".
	Defines []string
	// Expect is the required verdict.
	Expect Expect
	// Search is the exploration mode.
	Search Search
	// What says in a few words what is checked, for the README table.
	What string
}

// SpinFlags returns the -D flags for spin (and for replaying a trail).
func (c Check) SpinFlags() []string {
	flags := make([]string, len(c.Defines))
	for i, d := range c.Defines {
		flags[i] = "-D" + d
	}
	return flags
}

// Bounds returns the check's defines as one string, e.g. "NWRITES=3 RETRY".
func (c Check) Bounds() string { return strings.Join(c.Defines, " ") }

// Bounds of the configurations run by default: each completes in seconds and under 1 GB.
var (
	stateFlushBase  = []string{"NWRITES=3"}          // P0, S1, RQ; three writes, each a put or delete of one of two keys
	stateFlushRetry = []string{"RETRY", "NWRITES=1"} // P0, S1, S2, RQ; S1 may die at any moment; one write
	chandyLamport   = []string{"TOKENS=2", "SENDS=2"}
	dlockRecovery   = []string{"NREQ=1"} // three members, one lock, each client takes it once
	// Mutants and witnesses of the base configuration run with two writes, which is enough for every
	// one of them and keeps the breadth-first searches (shortest counterexamples) under a second. A
	// counterexample with two writes is one with three as well: the third write can come after it.
	stateFlushBaseMutants = []string{"NWRITES=2"}
)

// Larger bounds, run when STATEFLUSH_LONG=1 (see Checks).
var (
	stateFlushBaseLong  = []string{"NWRITES=4"}
	stateFlushRetryLong = []string{"RETRY", "NWRITES=2"}
	chandyLamportLong   = []string{"TOKENS=3", "SENDS=3"}
	dlockRecoveryLong   = []string{"NREQ=2"}
)

// dlockMutants are the grantor-recovery mutants of dlock_recovery.pml, by their -D switch.
var dlockMutants = []struct {
	define string
	name   string
	what   string
}{
	{"GRANT_BEFORE_RECOVERY", "grant-before-recovery", "mutant: the new grantor grants while it still collects the answers"},
	{"RECOVERY_SKIPS_MEMBER", "recovery-skips-member", "mutant: recovery does not ask one member (as if it were still joining)"},
	{"TOKENS_RESTART", "tokens-restart", "mutant: the new grantor's tokens restart under the old epoch"},
	{"ACCEPT_STALE_GRANT", "accept-stale-grant", "mutant: a member accepts a grant from the crashed grantor after noticing the crash"},
	{"DROP_PENDING", "drop-pending", "mutant: recovery drops the pending requests it learns of"},
}

// dlockWitnesses are the WITNESS_POINT numbers of dlock_recovery.pml.
var dlockWitnesses = []struct {
	number int
	name   string
	what   string
}{
	{1, "recovers-held-lock", "the new grantor recovers a lock a live member holds from the old grantor"},
	{2, "recovers-pending-request", "the new grantor recovers a pending request"},
	{3, "stale-grant-discarded", "a member discards a grant from the crashed grantor"},
}

// stateFlushMutants are the mutants of protocol.md that the state flush model expresses, by the
// name of their -D switch, with the protocol.md number and whether they need the retry configuration.
var stateFlushMutants = []struct {
	define string
	name   string
	retry  bool
	what   string
}{
	{"SKIP_FLUSH", "skip-flush", false, "mutant 1: request the image right after the announce"},
	{"NO_WAIT_IN_PROGRESS", "no-wait-in-progress", false, "mutant 2: record the count without waiting for started-before writes"},
	{"OBSERVER_EARLY", "observer-early", false, "mutant 3: proceed on the source's own answer"},
	{"COUNT_ON_RECEIPT", "count-on-receipt", false, "mutant 4: the source counts writes on receipt, not on apply"},
	{"FLUSH_NOT_BOUND_TO_SOURCE", "flush-not-bound-to-source", true, "mutant 5: retry from S2 reusing the flush aimed at S1"},
	{"LATE_ANNOUNCE", "late-announce", false, "mutant 6: announce only after the image is requested"},
	{"NO_MITT", "no-mitt", false, "mutant 7: ignore replicated writes while uninitialized"},
	{"IMAGE_OVERWRITES_MITT", "image-overwrites-mitt", false, "mutant 8: apply image entries unconditionally"},
	{"MITT_IGNORES_DELETES", "mitt-ignores-deletes", false, "mutant 9: a delete during the copy leaves no tombstone"},
	{"PREMATURE_COMPLETION", "premature-completion", false, "mutant 10: initialized when the last chunk is received"},
	{"WRONG_VERSION_ORDER", "wrong-version-order", false, "mutant 11: a tombstone counts as version 0"},
	{"PARTIAL_IMAGE_ACCEPTED", "partial-image-accepted", true, "mutant 12: keep a partial image when the source dies"},
	{"RETRY_WITHOUT_FLUSH_NEW_OPS", "retry-without-flush-new-ops", true, "the retry's flush waits only for writes started before the announce"},
}

// stateFlushWitnesses are the WITNESS_POINT numbers of stateflush.pml: situations that must be
// reachable for the correct model's verdict to mean anything.
var stateFlushWitnesses = []struct {
	number int
	name   string
	retry  bool
	what   string
}{
	{1, "announce-during-write", false, "the primary installs RQ's profile while a write is being distributed"},
	{2, "marker-waits", false, "a marker arrives while a write started before RQ is not all on the wire"},
	{3, "record-before-apply", false, "the source receives a record before applying every write it counts"},
	{4, "mitt-beats-image", false, "the mitt's entry is newer than an image entry"},
	{5, "image-tombstone", false, "an image entry that is a tombstone is applied"},
	{6, "partial-image-discarded", true, "the requester discards a partial image after S1 died"},
	{7, "retry-waits-for-new-write", true, "a retry's marker waits for a write started after the announce"},
	{8, "initialized-after-retry", true, "the requester is initialized after a retry"},
}

// Checks returns every check, in a stable order. With long set it adds the correct models at larger
// bounds, which take minutes and several GB of memory.
func Checks(long bool) []Check {
	var checks []Check
	with := func(bounds []string, extra ...string) []string {
		return append(append([]string(nil), bounds...), extra...)
	}

	checks = append(checks,
		Check{Name: "stateflush.correct", Model: StateFlushModel, Defines: with(stateFlushBase),
			Expect: Holds, Search: DepthFirst, What: "complete image at initialization; convergence; termination"},
		Check{Name: "stateflush-retry.correct", Model: StateFlushModel, Defines: with(stateFlushRetry),
			Expect: Holds, Search: DepthFirst, What: "the same, with S1 dying at any moment and a retry from S2"},
		Check{Name: "stateflush-retry.atomic-distribution", Model: StateFlushModel,
			Defines: with(stateFlushRetry, "ATOMIC_DISTRIBUTION", "RETRY_WITHOUT_FLUSH_NEW_OPS"), Expect: Holds, Search: DepthFirst,
			What: "a write's messages leave in one step: the retry's flush need not wait for new writes"},
	)
	// The retry configuration's counterexamples lie deep (a death, a discard, a second flush and
	// copy): breadth-first search needs millions of states to reach them, depth-first search finds
	// them in thousands, with trails of about the same length.
	violated := func(retry bool) (bounds []string, prefix string, search Search) {
		if retry {
			return stateFlushRetry, "stateflush-retry.", DepthFirst
		}
		return stateFlushBaseMutants, "stateflush.", BreadthFirst
	}
	for _, m := range stateFlushMutants {
		bounds, prefix, search := violated(m.retry)
		checks = append(checks, Check{Name: prefix + m.name, Model: StateFlushModel, Defines: with(bounds, m.define),
			Expect: Violated, Search: search, What: m.what})
	}
	for _, w := range stateFlushWitnesses {
		bounds, prefix, search := violated(w.retry)
		checks = append(checks, Check{Name: prefix + "witness-" + w.name, Model: StateFlushModel,
			Defines: with(bounds, fmt.Sprintf("WITNESS=%d", w.number)),
			Expect:  Violated, Search: search, What: "reachable: " + w.what})
	}

	checks = append(checks,
		Check{Name: "chandy-lamport.correct", Model: ChandyLamportModel, Defines: with(chandyLamport),
			Expect: Holds, Search: DepthFirst, What: "recorded states conserve the tokens; every snapshot terminates"},
		Check{Name: "chandy-lamport.record-after-marker", Model: ChandyLamportModel,
			Defines: with(chandyLamport, "RECORD_AFTER_MARKER"), Expect: Violated, Search: BreadthFirst,
			What: "mutant: keep recording a channel after its marker"},
		Check{Name: "chandy-lamport.non-fifo", Model: ChandyLamportModel, Defines: with(chandyLamport, "NON_FIFO"),
			Expect: Violated, Search: BreadthFirst, What: "channels deliver out of order"},
		Check{Name: "chandy-lamport.witness-token-in-flight", Model: ChandyLamportModel,
			Defines: with(chandyLamport, "WITNESS=1"), Expect: Violated, Search: BreadthFirst,
			What: "reachable: a token is recorded as in flight"},
	)

	checks = append(checks, Check{Name: "dlock-recovery.correct", Model: DLockRecoveryModel, Defines: with(dlockRecovery),
		Expect: Holds, Search: DepthFirst,
		What: "grantor fail-over with recovery: mutual exclusion; fencing tokens grow; every request answered"})
	for _, m := range dlockMutants {
		checks = append(checks, Check{Name: "dlock-recovery." + m.name, Model: DLockRecoveryModel,
			Defines: with(dlockRecovery, m.define), Expect: Violated, Search: BreadthFirst, What: m.what})
	}
	for _, w := range dlockWitnesses {
		checks = append(checks, Check{Name: "dlock-recovery.witness-" + w.name, Model: DLockRecoveryModel,
			Defines: with(dlockRecovery, fmt.Sprintf("WITNESS=%d", w.number)), Expect: Violated, Search: BreadthFirst,
			What: "reachable: " + w.what})
	}

	if long {
		checks = append(checks,
			Check{Name: "dlock-recovery.correct-long", Model: DLockRecoveryModel, Defines: with(dlockRecoveryLong),
				Expect: Holds, Search: Collapse, What: "grantor recovery with each client taking the lock twice"},
			Check{Name: "stateflush.correct-long", Model: StateFlushModel, Defines: with(stateFlushBaseLong),
				Expect: Holds, Search: Collapse, What: "the correct model at a larger bound"},
			Check{Name: "stateflush-retry.correct-long", Model: StateFlushModel, Defines: with(stateFlushRetryLong),
				Expect: Holds, Search: Collapse, What: "the retry configuration at a larger bound"},
			Check{Name: "chandy-lamport.correct-long", Model: ChandyLamportModel, Defines: with(chandyLamportLong),
				Expect: Holds, Search: Collapse, What: "the snapshot at a larger bound"},
		)
	}
	return checks
}
