package harness

import (
	"strings"
	"testing"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/dlock"
	"github.com/stateflush/stateflush/sim/trace"
)

// lockMutantBudget is the seeds each lock mutant may take to be caught (the target).
const lockMutantBudget = 1000

// TestLockMutantsAreCaught: every lock mutant fails some seed of lock-grantor-failover within the
// budget, and the correct service passes those seeds.
func TestLockMutantsAreCaught(t *testing.T) {
	correct := mustScenario(t, "lock-grantor-failover")
	for _, m := range dlock.AllMutants() {
		t.Run(m.String(), func(t *testing.T) {
			scn := correct
			scn.KV.Locks.Mutants = dlock.NewMutants(m)
			for seed := uint64(1); seed <= lockMutantBudget; seed++ {
				o, err := Run(scn, seed, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if !o.Final.Found() {
					continue
				}
				base, err := Run(correct, seed, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if base.Final != VerdictPass {
					t.Fatalf("seed %d fails without the mutant too (%s: %v)", seed, base.Final, base.Violations)
				}
				t.Logf("caught at seed %d by %v", seed, o.CaughtBy)
				return
			}
			t.Fatalf("escaped %d seeds", lockMutantBudget)
		})
	}
}

// TestOneHolderCheckCatchesAnOverlap feeds the online check two clients' holds of one name that
// overlap, and two that do not.
func TestOneHolderCheckCatchesAnOverlap(t *testing.T) {
	event := func(seq uint64, name string, attrs ...string) trace.Record {
		r := trace.Record{Seq: seq, TimeUS: int64(seq) * 1000, Kind: trace.KindEvent, Name: name}
		for i := 0; i+1 < len(attrs); i += 2 {
			r.Attrs = append(r.Attrs, trace.Attr{Key: attrs[i], Value: attrs[i+1]})
		}
		return r
	}
	lock := func(seq uint64, client, op string) trace.Record {
		return event(seq, "op-invoke", "client", client, "seq", op, "op", "lock", "key", "lock-0")
	}
	granted := func(seq uint64, client, op, token string) trace.Record {
		return event(seq, "op-return", "client", client, "seq", op, "status", "ok", "token", token)
	}
	leased := func(seq uint64, client, op, lease string) trace.Record {
		return event(seq, "op-invoke", "client", client, "seq", op, "op", "lock", "key", "lock-0", "value", lease)
	}
	unlock := func(seq uint64, client, op, token string) trace.Record {
		return event(seq, "op-invoke", "client", client, "seq", op, "op", "unlock", "key", "lock-0", "value", token)
	}
	for _, tc := range []struct {
		name    string
		records []trace.Record
		overlap bool
	}{
		{"one after the other", []trace.Record{lock(1, "7", "1"), granted(2, "7", "1", "5"), unlock(3, "7", "2", "5"), lock(4, "8", "1"), granted(5, "8", "1", "6")}, false},
		{"granted while held", []trace.Record{lock(1, "7", "1"), granted(2, "7", "1", "5"), lock(3, "8", "1"), granted(4, "8", "1", "6"), unlock(5, "7", "2", "5")}, true},
		// A lease of 2 ms from the call at 1 ms: held until 3 ms, so a grant at 4 ms is a takeover
		// and one at 2.5 ms is not.
		{"granted after the holder's lease", []trace.Record{leased(1, "7", "1", "2000"), granted(2, "7", "1", "5"), lock(3, "8", "1"), granted(4, "8", "1", "6")}, false},
		{"granted within the holder's lease", []trace.Record{leased(1, "7", "1", "3500"), granted(2, "7", "1", "5"), lock(3, "8", "1"), granted(4, "8", "1", "6")}, true},
		// An answer that arrives after its own lease ran out is no hold.
		{"granted after its own lease", []trace.Record{lock(1, "7", "1"), granted(2, "7", "1", "5"), leased(3, "8", "1", "500"), granted(4, "8", "1", "6")}, false},
	} {
		h := newHoldChecker()
		var found []string
		for i := range tc.records {
			h.observe(&tc.records[i], func(protocol.NodeID) string { return "n" }, func(subject, key string, seqs []uint64, format string, args ...any) {
				found = append(found, subject)
			})
		}
		if (len(found) > 0) != tc.overlap {
			t.Errorf("%s: violations on %v, want an overlap: %v", tc.name, found, tc.overlap)
		}
	}
}

// TestLockHistoryIsCheckedAgainstTheLockModel: a lock scenario's outcome carries its lock history
// and a lock-model verdict, and the store's history holds no lock operations.
func TestLockHistoryIsCheckedAgainstTheLockModel(t *testing.T) {
	o, err := Run(mustScenario(t, "lock-and-store"), 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Final != VerdictPass || o.LockVerdict.Model != linearizability.ModelLock || len(o.LockHistory) == 0 {
		t.Fatalf("verdict %s, lock verdict %+v over %d lock operations", o.Final, o.LockVerdict, len(o.LockHistory))
	}
	for _, op := range o.History {
		if op.Kind == linearizability.OpLock || op.Kind == linearizability.OpUnlock {
			t.Fatalf("the store's history holds a lock operation: %+v", op)
		}
	}
	if !strings.Contains(o.Banner(), "locks: 6 lock clients") {
		t.Errorf("the banner does not describe the lock workload:\n%s", o.Banner())
	}
}

// TestLockLivenessNamesTheWaitingOperations: under grant-before-recovery, with locks without
// leases (which would end a stuck hold), seed 22 grants a held lock a second time and the table it
// builds can no longer release it: the clients that wait for it never finish, and lock-liveness
// names what they wait for.
func TestLockLivenessNamesTheWaitingOperations(t *testing.T) {
	correct := mustScenario(t, "lock-grantor-failover")
	correct.LockWorkload.LeaseMin, correct.LockWorkload.LeaseMax = 0, 0
	scn := correct
	scn.KV.Locks.Mutants = dlock.NewMutants(dlock.GrantBeforeRecovery)
	o, err := Run(scn, 22, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var waiting []string
	for _, v := range o.Violations {
		if v.Check == LockLivenessCheck {
			waiting = append(waiting, v.Message)
		}
	}
	if !strings.Contains(strings.Join(waiting, "\n"), "did not finish its workload (pending: lock(lock-") {
		t.Fatalf("lock-liveness reported %q, want the clients waiting for a lock (caught by %v)", waiting, o.CaughtBy)
	}
	if base, err := Run(correct, 22, Options{}); err != nil || base.Final != VerdictPass {
		t.Fatalf("the correct service fails seed 22 too: %v %v", err, base.Violations)
	}
}

// TestLockRunsAreDeterministic: a lock scenario's seed gives the same trace hash and verdict every
// time, and another seed another hash.
func TestLockRunsAreDeterministic(t *testing.T) {
	scn := mustScenario(t, "lock-and-store")
	a, err := Run(scn, 3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(scn, 3, Options{HashOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Run(scn, 4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Result.Hash != b.Result.Hash || a.Result.Hash == c.Result.Hash {
		t.Fatalf("seed 3 hashed %016x and %016x, seed 4 %016x", a.Result.Hash, b.Result.Hash, c.Result.Hash)
	}
}
