package linearizability

import (
	"errors"
	"strings"
	"testing"
)

// Each of the lock model's three rules rejects the history that breaks it, and the model is what
// ModelFor picks for lock histories.
func TestLockModelRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    History
		want Result
	}{
		{"lock, unlock, lock again with a greater token", history(lockOp(1, "m", "1", 0, 10), unlockOp(1, "m", "1", 20, 30), lockOp(2, "m", "2", 40, 50), unlockOp(2, "m", "2", 60, 70)), Ok},
		{"two names held at once", history(lockOp(1, "m", "1", 0, 10), lockOp(2, "n", "1", 5, 15)), Ok},
		{"overlapping grants resolved by order", history(lockOp(1, "m", "1", 0, 30), unlockOp(1, "m", "1", 31, 40), lockOp(2, "m", "2", 10, 50)), Ok},
		{"mutual exclusion: granted while held", history(lockOp(1, "m", "1", 0, 10), lockOp(2, "m", "2", 20, 30)), Illegal},
		{"tokens must grow", history(lockOp(1, "m", "5", 0, 10), unlockOp(1, "m", "5", 20, 30), lockOp(2, "m", "3", 40, 50)), Illegal},
		{"tokens must grow, not repeat", history(lockOp(1, "m", "5", 0, 10), unlockOp(1, "m", "5", 20, 30), lockOp(2, "m", "5", 40, 50)), Illegal},
		{"unlock only by the holder", history(lockOp(1, "m", "1", 0, 10), unlockOp(2, "m", "1", 20, 30)), Illegal},
		{"unlock only with the holder's token", history(lockOp(1, "m", "2", 0, 10), unlockOp(1, "m", "1", 20, 30)), Illegal},
		{"unlock of a free lock", history(unlockOp(1, "m", "1", 0, 10)), Illegal},
		// A grant of unknown outcome holds the lock under a token nobody learned: its holder's
		// unlock names it, and later tokens must exceed it.
		{"unknown grant, then its unlock", history(unknown(lockOp(1, "m", "", 0, 0)), unlockOp(1, "m", "4", 20, 30), lockOp(2, "m", "5", 40, 50)), Ok},
		{"unknown grant's token is below a later one", history(unknown(lockOp(1, "m", "", 0, 0)), unlockOp(1, "m", "4", 20, 30), lockOp(2, "m", "3", 40, 50)), Illegal},
		{"unknown grant that never happened", history(unknown(lockOp(1, "m", "", 0, 0)), lockOp(2, "m", "1", 20, 30)), Ok},
		{"failed lock has no effect", history(lockOp(1, "m", "1", 0, 10), failed(lockOp(2, "m", "", 20, 30)), unlockOp(1, "m", "1", 40, 50)), Ok},
		{"unknown unlock may release", history(lockOp(1, "m", "1", 0, 10), unknown(unlockOp(1, "m", "1", 20, 0)), lockOp(2, "m", "2", 40, 50)), Ok},
		// Leases: a grant called at 0 with a 100 µs lease can have expired by 100.
		{"takeover once the lease can have expired", history(leased(lockOp(1, "m", "1", 0, 10), 100), lockOp(2, "m", "2", 90, 100)), Ok},
		{"takeover before the lease can have expired", history(leased(lockOp(1, "m", "1", 0, 10), 100), lockOp(2, "m", "2", 50, 99)), Illegal},
		{"takeover still needs a greater token", history(leased(lockOp(1, "m", "5", 0, 10), 100), lockOp(2, "m", "3", 150, 160)), Illegal},
		{"the old holder's unlock after a takeover", history(leased(lockOp(1, "m", "1", 0, 10), 100), lockOp(2, "m", "2", 150, 160), unlockOp(1, "m", "1", 170, 180)), Illegal},
		{"no lease, no takeover", history(lockOp(1, "m", "1", 0, 10), lockOp(2, "m", "2", 1_000_000, 1_000_010)), Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m := ModelFor(tc.h); m.Name != ModelLock {
				t.Fatalf("ModelFor picked %s", m.Name)
			}
			v, err := CheckHistory(tc.h, testBudget)
			if err != nil {
				t.Fatal(err)
			}
			if v.Result != tc.want || v.Model != ModelLock {
				t.Fatalf("got %v, want %s\n%s", v, tc.want, describeHistory(tc.h))
			}
		})
	}
}

func TestLockModelRejectsMalformedOperations(t *testing.T) {
	for _, tc := range []struct {
		op   Operation
		want string
	}{
		{lockOp(1, "m", "", 0, 10), "not a positive decimal integer"},
		{lockOp(1, "m", "0", 0, 10), "not a positive decimal integer"},
		{lockOp(1, "m", "x1", 0, 10), "not a positive decimal integer"},
		{lockOp(1, "", "1", 0, 10), "without a lock name"},
		{failed(Operation{Client: 1, Kind: OpLock, Key: "m", Output: "3", Status: StatusOK, CallUS: 0, ReturnUS: 10}), ""},
		{unlockOp(1, "m", "", 0, 10), "unlock's value"},
		{Operation{Client: 1, Kind: OpLock, Key: "m", Value: "nine", Output: "1", Status: StatusOK, CallUS: 0, ReturnUS: 10}, "is not a lease"},
		{Operation{Client: 1, Kind: OpLock, Key: "m", Value: "0", Output: "1", Status: StatusOK, CallUS: 0, ReturnUS: 10}, "is not a lease"},
		{Operation{Client: 1, Kind: OpLock, Key: "m", Value: "99999999999999999", Output: "1", Status: StatusOK, CallUS: 0, ReturnUS: 10}, "is not a lease"},
		{Operation{Client: 1, Kind: OpUnlock, Key: "m", Value: "1", Output: "1", Status: StatusOK, CallUS: 0, ReturnUS: 10}, "unlock with output"},
	} {
		_, err := CheckHistory(history(tc.op), testBudget)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.op.String(), err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformedHistory) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a malformed-history error containing %q", tc.op.String(), err, tc.want)
		}
	}
	// The lock's kinds under another model: the error names the lock model.
	if _, err := CheckHistory(history(lockOp(1, "m", "1", 0, 10)), testBudget, WithModel(KVModel)); err == nil || !strings.Contains(err.Error(), "model lock knows it") {
		t.Errorf("lock under the register model: got %v", err)
	}
}
