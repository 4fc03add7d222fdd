package linearizability

import (
	"fmt"
	"math"
	"strconv"

	"github.com/anishathalye/porcupine"
)

// The operations of a lock service (LockModel): named locks that grant fencing tokens.
const (
	// OpLock acquires the lock named Key, for the lease in Value (µs, a positive decimal integer;
	// empty: no lease, held until unlocked). Status ok: granted, and Output is the fencing token (a
	// positive decimal integer); fail: not granted (a try-lock that gave up: no effect); unknown:
	// either, under a token nobody learned.
	OpLock OpKind = "lock"
	// OpUnlock releases the lock named Key, held under the token in Value. Status ok: released;
	// fail: refused (no effect); unknown: either.
	OpUnlock OpKind = "unlock"
)

// LockModel is a lock service, one lock name at a time (Key): a lock is granted only while no one
// holds it (mutual exclusion), each grant's fencing token is greater than every token granted
// before it under that name (tokens that grow across grantors tell an old holder apart), and only
// the holder releases it, with its token. Failed operations had no effect and are left out; a lock
// of unknown outcome may have been granted (under a token nobody learned, which its holder's
// unlock then names); an unlock of unknown outcome may have released the lock.
//
// A lock granted with a lease may also be taken over once the lease can have expired: the grantor
// granted it at some moment between the holder's call and return, and grants the next at some
// moment before that lock's return, so a grant to another client is legal if the holder's call
// plus its lease is no later than the new grant's return (the most a history's times allow; a
// takeover sooner than that is a violation of mutual exclusion). Tokens must grow across a
// takeover as everywhere, so an old holder's token stays told apart.
var LockModel = Model{
	Name:     ModelLock,
	Summary:  "named locks with fencing tokens, one name at a time: lock (output: the token) and unlock (value: the token); mutual exclusion, tokens growing per name, unlock only by the holder",
	Kinds:    []OpKind{OpLock, OpUnlock},
	PerKey:   true,
	Validate: lockOperationRules,
	Porcupine: porcupine.Model{
		Init: func() any { return lockState{} },
		Step: func(state, input, _ any) (bool, any) {
			return stepLock(state.(lockState), input.(*Operation))
		},
		Hash: func(state any) uint64 {
			s := state.(lockState)
			h := s.last*0x9e3779b97f4a7c15 ^ s.token*0xff51afd7ed558ccd ^ uint64(s.expiresBy)*0xc2b2ae3d27d4eb4f ^ uint64(uint32(s.holder))<<1
			if s.held {
				h |= 1
			}
			return h
		},
		DescribeOperation: func(input, _ any) string { return describeCall(input.(*Operation)) },
		DescribeState: func(state any) string {
			s := state.(lockState)
			if !s.held {
				return fmt.Sprintf("free (last token %d)", s.last)
			}
			token := "unknown"
			if s.token != 0 {
				token = strconv.FormatUint(s.token, 10)
			}
			return fmt.Sprintf("held by client %d, token %s (last token %d)", s.holder, token, s.last)
		},
	},
}

// ModelLock names LockModel (Verdict.Model, check --model lock).
const ModelLock = "lock"

// lockState is one lock name's state: who holds it under which token (0: a grant of unknown
// outcome, whose token nobody learned), from when its lease can have expired (the holder's call
// plus the lease; 0: no lease), and the greatest token granted so far.
type lockState struct {
	held      bool
	holder    int32
	token     uint64
	expiresBy int64
	last      uint64
}

func stepLock(s lockState, op *Operation) (bool, lockState) {
	unknown := op.Status == StatusUnknown
	switch op.Kind {
	case OpLock:
		if s.held && (s.expiresBy == 0 || s.expiresBy > op.ReturnUS) {
			// A lock of unknown outcome placed here was not granted (it gave up waiting); one
			// placed where the lock is free was. Placed last it is harmless either way, which is
			// how the search lets it never take effect.
			return unknown, s
		}
		var expiresBy int64
		if op.Value != "" {
			lease, _ := strconv.ParseInt(op.Value, 10, 64) // lockOperationRules checked it
			expiresBy = math.MaxInt64                      // a call so late that the sum overflows: never
			if op.CallUS <= math.MaxInt64-lease {
				expiresBy = op.CallUS + lease
			}
		}
		if unknown {
			return true, lockState{held: true, holder: op.Client, expiresBy: expiresBy, last: s.last}
		}
		token, _ := strconv.ParseUint(op.Output, 10, 64)
		if token <= s.last {
			return false, s
		}
		return true, lockState{held: true, holder: op.Client, token: token, expiresBy: expiresBy, last: token}
	case OpUnlock:
		token, _ := strconv.ParseUint(op.Value, 10, 64)
		holds := s.held && s.holder == op.Client && (s.token == token || s.token == 0 && token > s.last)
		if !holds {
			// An unlock of unknown outcome by someone else changed nothing; an acknowledged one
			// released a lock its caller did not hold.
			return unknown, s
		}
		return true, lockState{last: max(s.last, token)}
	}
	panic(fmt.Sprintf("lock model: operation kind %q reached Step (LockModel admits only lock and unlock)", op.Kind))
}

// lockOperationRules checks an operation of a lock service (lock, unlock).
func lockOperationRules(op *Operation) error {
	switch op.Kind {
	case OpLock, OpUnlock:
	default:
		return fmt.Errorf("unknown op %q (a lock service knows lock and unlock)", op.Kind)
	}
	if op.Key == "" {
		return fmt.Errorf("%s without a lock name (key)", op.Kind)
	}
	if op.Expected != "" || op.Found {
		return fmt.Errorf("%s with an expected value or found (a lock has neither)", op.Kind)
	}
	switch op.Kind {
	case OpLock:
		if op.Value != "" {
			if lease, err := strconv.ParseInt(op.Value, 10, 64); err != nil || lease <= 0 || lease > maxLeaseUS {
				return fmt.Errorf("lock's value %q is not a lease: a positive decimal number of µs up to %d (the token is its output)", op.Value, int64(maxLeaseUS))
			}
		}
		if op.Status != StatusOK {
			if op.Output != "" {
				return fmt.Errorf("lock output %q with status %s (only a granted lock has a token)", op.Output, op.Status)
			}
			return nil
		}
		if _, err := parseToken(op.Output); err != nil {
			return fmt.Errorf("granted lock's output: %v", err)
		}
	case OpUnlock:
		if op.Output != "" {
			return fmt.Errorf("unlock with output %q", op.Output)
		}
		if _, err := parseToken(op.Value); err != nil {
			return fmt.Errorf("unlock's value: %v", err)
		}
	}
	return nil
}

// maxLeaseUS bounds a lease (a year), so that call time plus lease cannot overflow.
const maxLeaseUS = 365 * 24 * 3600 * 1e6

// parseToken reads a fencing token: a positive decimal integer.
func parseToken(s string) (uint64, error) {
	token, err := strconv.ParseUint(s, 10, 64)
	if err != nil || token == 0 {
		return 0, fmt.Errorf("token %q is not a positive decimal integer", s)
	}
	return token, nil
}
