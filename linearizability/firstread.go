package linearizability

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrNoIllegalRead is returned by FirstIllegalRead when every read of the key has a linearization
// of the history up to it (the key may still be illegal: a write can be lost without any read
// seeing it, or the history's end may be what no order explains).
var ErrNoIllegalRead = errors.New("no read of the key fails linearizability on its own")

// FirstIllegalRead is the first acknowledged read of the key (by return time) such that the key's
// history up to it has no linearization: every write invoked before the read returned, and every
// read that returned by then. It is the read a person should look at first. budget bounds each
// check; a check that runs out is an error, never a pass.
func FirstIllegalRead(h History, key string, budget time.Duration) (*Operation, error) {
	var reads []*Operation
	for i := range h {
		if h[i].Key == key && h[i].Kind == OpGet && h[i].Acknowledged() {
			reads = append(reads, &h[i])
		}
	}
	slices.SortStableFunc(reads, func(a, b *Operation) int { return int(a.ReturnUS - b.ReturnUS) })
	for _, g := range reads {
		var prefix History
		for i := range h {
			op := &h[i]
			if op.Key != key {
				continue
			}
			if (op.Kind.IsWrite() && op.CallUS < g.ReturnUS) || (op.Kind == OpGet && op.Acknowledged() && op.ReturnUS <= g.ReturnUS) {
				prefix = append(prefix, *op)
			}
		}
		v, err := CheckHistory(prefix, budget)
		if err != nil {
			return nil, err
		}
		switch v.Result {
		case Illegal:
			return g, nil
		case Unknown:
			return nil, fmt.Errorf("key %s: the check of the history up to %v ran out of its %v budget", key, g, budget)
		}
	}
	return nil, fmt.Errorf("key %s: %w", key, ErrNoIllegalRead)
}
