package dlock

import (
	"fmt"

	"github.com/stateflush/stateflush/protocol/membership"
)

// A token is 63 bits: the epoch's view term (termBits), the view's sequence within its term
// (seqBits), then the grant's counter within the epoch (counterBits). Views order lexicographically
// by term then sequence, so tokens of a later epoch are greater than every token of an earlier one.
const (
	termBits    = 15
	seqBits     = 28
	counterBits = 20
)

// epochNumber packs a view version into the token's high bits. A version beyond the packing is a
// run far beyond any configuration's limits (views per run are bounded by the run's faults); it
// panics, which the harness reports as a crash naming it, rather than issue tokens that wrap.
func epochNumber(v membership.Version) uint64 {
	if v.Term >= 1<<termBits || v.Seq >= 1<<seqBits {
		panic(fmt.Sprintf("dlock: view %v is beyond the token space (term < 2^%d, sequence < 2^%d)", v, termBits, seqBits))
	}
	return v.Term<<seqBits | v.Seq
}

// token is the counter-th grant of the epoch of version v (counter from 1).
func token(v membership.Version, counter uint64, m Mutants) uint64 {
	if counter >= MaxGrantsPerEpoch {
		panic(fmt.Sprintf("dlock: grant %d of epoch %v is beyond the %d an epoch can number", counter, v, MaxGrantsPerEpoch))
	}
	if m.Has(TokensRestart) {
		return counter
	}
	return epochNumber(v)<<counterBits | counter
}
