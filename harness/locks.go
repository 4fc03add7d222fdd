package harness

import (
	"fmt"
	"slices"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/dlock"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/trace"
)

// The lock service's checks (protocol/dlock), beside the store's.
const (
	// LockLinearizabilityCheck: the lock clients' history is linearizable against the lock model
	// (linearizability.LockModel): mutual exclusion per name, tokens growing per name, unlock only
	// by the holder.
	LockLinearizabilityCheck = "lock-linearizability"
	// OneHolderCheck, online: at no moment do two clients hold one lock name, a client holding a
	// lock from the return of its lock until it invokes its unlock or, for a lock with a lease,
	// until its call plus the lease (while it may rely on the lock). The grant of the second came
	// before its return and the release of the first after its unlock's invoke (or its lease), so
	// an overlap is a grant while the name was held.
	OneHolderCheck = "one-holder"
	// LockLivenessCheck: when the run ends, after heal and quiesce, every lock client finished its
	// workload (every request was granted or answered) and no grantor holds an unanswered request.
	// A client waiting for an answer keeps its retry timer armed, so such a run also fails to
	// quiesce; this check names the operations that wait.
	LockLivenessCheck = "lock-liveness"
)

// holdChecker is OneHolderCheck: it follows the lock clients' op-invoke and op-return events.
type holdChecker struct {
	// pending maps an invoked lock operation (client, seq) to its name, call and lease.
	pending map[[2]uint64]pendingLock
	// holder maps a name to the client holding it and the record that granted it.
	holder map[string]heldBy
}

type heldBy struct {
	client int32
	token  string
	seq    uint64
	// until is when the holder stops relying on the lock (its call plus its lease; 0: no lease).
	until int64
}

type pendingLock struct {
	name  string
	until int64
}

func newHoldChecker() *holdChecker {
	return &holdChecker{pending: map[[2]uint64]pendingLock{}, holder: map[string]heldBy{}}
}

// observe reads one op event; a violation is reported through violate.
func (h *holdChecker) observe(r *trace.Record, name func(protocol.NodeID) string, violate func(subject, key string, seqs []uint64, format string, args ...any)) {
	client, ok1 := intAttr(r, "client")
	seq, ok2 := intAttr(r, "seq")
	if !ok1 || !ok2 {
		return // HistoryFromTrace reports malformed events
	}
	id := [2]uint64{uint64(client), uint64(seq)}
	switch r.Name {
	case protocol.EventOpInvoke:
		op, _ := r.Get("op")
		key, _ := r.Get("key")
		switch op {
		case protocol.OpLock:
			p := pendingLock{name: key}
			if lease, ok := intAttr(r, "value"); ok && lease > 0 {
				p.until = r.TimeUS + int64(lease)
			}
			h.pending[id] = p
		case protocol.OpUnlock:
			if held, ok := h.holder[key]; ok && held.client == int32(client) {
				delete(h.holder, key)
			}
		}
	case protocol.EventOpReturn:
		p, ok := h.pending[id]
		if !ok {
			return
		}
		delete(h.pending, id)
		if status, _ := r.Get("status"); status != protocol.StatusOK {
			return
		}
		if p.until != 0 && r.TimeUS >= p.until {
			// Granted, but the answer arrived after the lease it asked for had run out: the
			// client never held it.
			return
		}
		key := p.name
		token, _ := r.Get("token")
		if held, ok := h.holder[key]; ok && held.client != int32(client) && (held.until == 0 || r.TimeUS < held.until) {
			violate(key, key, []uint64{held.seq},
				"%s was granted %s under token %s while %s held it under token %s (granted at step %d, not yet unlocked)",
				name(protocol.NodeID(client)), key, token, name(protocol.NodeID(held.client)), held.token, held.seq)
		}
		h.holder[key] = heldBy{client: int32(client), token: token, seq: r.Seq, until: p.until}
	}
}

// splitLockOperations separates the lock service's operations from the store's; a history without
// lock operations comes back as it is.
func splitLockOperations(h linearizability.History) (store, locks linearizability.History) {
	if !slices.ContainsFunc(h, func(op linearizability.Operation) bool {
		return op.Kind == linearizability.OpLock || op.Kind == linearizability.OpUnlock
	}) {
		return h, nil
	}
	for _, op := range h {
		if op.Kind == linearizability.OpLock || op.Kind == linearizability.OpUnlock {
			locks = append(locks, op)
		} else {
			store = append(store, op)
		}
	}
	return store, locks
}

// lockLiveness lists, at the end of a run, the lock clients that did not finish and the grantors
// that hold unanswered requests.
func lockLiveness(world *kvWorld) []string {
	cfg := world.cfg
	var out []string
	for id := kv.FirstLockClient(cfg); id < kv.Nodes(cfg); id++ {
		c, ok := world.sim.Node(protocol.NodeID(id)).(*dlock.Client)
		if !ok {
			continue
		}
		if !c.Done() {
			what := c.Pending()
			if what == "" {
				what = "no operation in flight"
			}
			out = append(out, fmt.Sprintf("lock client %s did not finish its workload (pending: %s)", kv.NodeName(cfg, protocol.NodeID(id)), what))
		}
	}
	for id := 0; id < cfg.Servers; id++ {
		srv := world.server(protocol.NodeID(id))
		if srv == nil || srv.Stopped() || srv.LockService() == nil {
			continue
		}
		if l := srv.LockService(); l.IsGrantor() && (l.Recovering() || l.Waiting() > 0) {
			out = append(out, fmt.Sprintf("grantor %s ended recovering=%v with %d unanswered requests", kv.NodeName(cfg, protocol.NodeID(id)), l.Recovering(), l.Waiting()))
		}
	}
	slices.Sort(out)
	return out
}
