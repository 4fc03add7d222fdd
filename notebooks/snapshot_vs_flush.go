package notebooks

import (
	"errors"
	"fmt"
)

// Experiment 8: a Chandy–Lamport snapshot and a state flush on the same workload.

// ErrSnapshotUnavailable is returned by the snapshot-vs-flush experiment while the store has no
// Chandy–Lamport snapshot to compare with.
var ErrSnapshotUnavailable = errors.New("the store implements no Chandy–Lamport snapshot yet")

func runSnapshotVsFlush(string) error {
	return fmt.Errorf("snapshot-vs-flush: %w: it needs protocol/kv to emit the snapshot-* events of protocol/events.go and harness to start a snapshot at a scripted time", ErrSnapshotUnavailable)
}
