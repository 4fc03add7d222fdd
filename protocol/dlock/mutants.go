package dlock

import (
	"fmt"
	"math/bits"
	"strings"
)

// Mutant is a plausible bug of the lock service, switched on by name for measuring the checks.
// Each one is a mistake a careful engineer could make; none is on by default.
type Mutant uint

const (
	// GrantBeforeRecovery: a new grantor serves the requests that reach it at once, before every
	// participant has told it what it holds ("the old grantor's table is probably empty anyway").
	// A lock held across the fail-over is granted a second time.
	GrantBeforeRecovery Mutant = iota
	// RecoveryAsksKnown: recovery asks, and waits for, only the participants this member has heard
	// from, rather than every participant of the service. A fresh grantor knows no one, so a holder
	// that has not talked to it yet is never asked, and its lock is granted again.
	RecoveryAsksKnown
	// TokensRestart: tokens count from 1 in every epoch instead of carrying the epoch, so a new
	// grantor's tokens repeat the old grantor's and a stale holder is no longer told apart.
	TokensRestart
	// AcceptStaleGrant: a participant accepts a grant of an epoch older than the newest recovery
	// it answered: the old grantor, not yet aware it was replaced, grants a lock the new grantor
	// also grants.
	AcceptStaleGrant
	// UnlockIgnoresToken: the grantor releases a lock on any unlock that names it, whatever token
	// the unlock carries, so a late copy of an earlier holder's unlock (a retry whose first attempt
	// got through) releases the current holder's lock.
	UnlockIgnoresToken
	mutantCount
)

var mutantNames = [mutantCount]string{
	GrantBeforeRecovery: "grant-before-recovery",
	RecoveryAsksKnown:   "recovery-asks-known",
	TokensRestart:       "tokens-restart",
	AcceptStaleGrant:    "accept-stale-grant",
	UnlockIgnoresToken:  "unlock-ignores-token",
}

// String is the mutant's name.
func (m Mutant) String() string {
	if m < mutantCount {
		return mutantNames[m]
	}
	return fmt.Sprintf("mutant(%d)", uint(m))
}

// AllMutants lists every mutant in declaration order.
func AllMutants() []Mutant {
	all := make([]Mutant, mutantCount)
	for i := range all {
		all[i] = Mutant(i)
	}
	return all
}

// Mutants is a set of mutants.
type Mutants uint

// NewMutants is the set of the given mutants.
func NewMutants(ms ...Mutant) Mutants {
	var s Mutants
	for _, m := range ms {
		s |= 1 << m
	}
	return s
}

// Has reports whether m is in the set.
func (s Mutants) Has(m Mutant) bool { return s&(1<<m) != 0 }

// String names the set's mutants, comma-separated ("" for none).
func (s Mutants) String() string {
	var names []string
	for _, m := range AllMutants() {
		if s.Has(m) {
			names = append(names, m.String())
		}
	}
	return strings.Join(names, ",")
}

func (s Mutants) validate() error {
	if s>>mutantCount != 0 {
		return invalidf("unknown lock mutant bits %#x", uint(s>>mutantCount)<<mutantCount)
	}
	return nil
}

// Count is how many mutants the set holds.
func (s Mutants) Count() int { return bits.OnesCount(uint(s)) }

// ParseMutant reads one mutant's name.
func ParseMutant(name string) (Mutant, error) {
	for _, m := range AllMutants() {
		if m.String() == name {
			return m, nil
		}
	}
	return 0, invalidf("unknown lock mutant %q (lock mutants: %s)", name, NewMutants(AllMutants()...))
}

// ParseMutants reads a comma-separated list of mutant names ("" is none).
func ParseMutants(text string) (Mutants, error) {
	var s Mutants
	if strings.TrimSpace(text) == "" {
		return 0, nil
	}
	for _, name := range strings.Split(text, ",") {
		m, err := ParseMutant(strings.TrimSpace(name))
		if err != nil {
			return 0, err
		}
		s |= 1 << m
	}
	return s, nil
}

// MarshalText writes the set as its comma-separated names, as configurations and trace headers
// carry it.
func (s Mutants) MarshalText() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a comma-separated list of mutant names.
func (s *Mutants) UnmarshalText(b []byte) error {
	v, err := ParseMutants(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
