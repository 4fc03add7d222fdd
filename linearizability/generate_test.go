package linearizability

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
)

// historyShape describes a generated history: how many operations, keys and concurrent clients,
// and how many writes end with an unknown outcome.
type historyShape struct {
	operations     int
	keys           int
	clients        int
	unknownPercent int // of writes
	snapshots      bool
	seed           uint64
}

// generateHistory builds a linearizable history deterministically from a seed: clients issue
// operations one after another with random think times and latencies, each operation takes effect
// at a random point inside its interval, and outputs are computed by applying the operations in
// that order to a map. Some writes end with an unknown outcome; half of those took effect.
func generateHistory(shape historyShape) History {
	h, _ := generateHistoryWithFinalState(shape)
	return h
}

// generateHistoryWithFinalState is generateHistory that also returns the store's final state.
func generateHistoryWithFinalState(shape historyShape) (History, map[string]string) {
	rng := rand.New(rand.NewPCG(shape.seed, 0x5eed))
	type pending struct {
		op          Operation
		effectUS    int64
		takesEffect bool
	}
	all := make([]pending, 0, shape.operations)
	clientTimeUS := make([]int64, shape.clients)
	for c := range clientTimeUS {
		clientTimeUS[c] = int64(rng.IntN(1000))
	}
	clientSeq := make([]uint64, shape.clients)
	for i := 0; i < shape.operations; i++ {
		c := i % shape.clients
		clientSeq[c]++
		call := clientTimeUS[c] + int64(rng.IntN(200))
		latency := int64(100 + rng.IntN(1900))
		op := Operation{
			Client: int32(c + 100), // client node ids follow the servers', as in a cluster
			Seq:    clientSeq[c],
			Key:    fmt.Sprintf("k%d", rng.IntN(shape.keys)),
			Status: StatusOK,
			CallUS: call,
		}
		switch roll := rng.IntN(100); {
		case shape.snapshots && roll < 5:
			op.Kind, op.Key = OpSnapshot, ""
		case roll < 50:
			op.Kind = OpGet
		case roll < 80:
			op.Kind, op.Value = OpPut, fmt.Sprintf("v%d", i)
		case roll < 87:
			op.Kind = OpDelete
		default:
			op.Kind, op.Value = OpAppend, fmt.Sprintf("+%d", i)
		}
		op.ReturnUS = call + latency
		p := pending{op: op, effectUS: call + int64(rng.Int64N(latency+1)), takesEffect: true}
		if op.Kind.IsWrite() && rng.IntN(100) < shape.unknownPercent {
			p.op.Status, p.op.ReturnUS = StatusUnknown, InfiniteTimeUS
			p.takesEffect = rng.IntN(2) == 0
		}
		clientTimeUS[c] = call + latency
		all = append(all, p)
	}
	// Apply in effect order. Ties between equal effect times are broken by position, which is a
	// valid linearization because both points lie inside both intervals.
	type effect struct {
		timeUS int64
		index  int
	}
	byEffect := make([]effect, len(all))
	for i := range all {
		byEffect[i] = effect{all[i].effectUS, i}
	}
	slices.SortStableFunc(byEffect, func(a, b effect) int { return cmp.Compare(a.timeUS, b.timeUS) })
	store := map[string]string{}
	for _, e := range byEffect {
		p := &all[e.index]
		if !p.takesEffect {
			continue
		}
		switch p.op.Kind {
		case OpGet:
			p.op.Output, p.op.Found = store[p.op.Key]
		case OpPut:
			store[p.op.Key] = p.op.Value
		case OpDelete:
			delete(store, p.op.Key)
		case OpAppend:
			store[p.op.Key] += p.op.Value
		case OpSnapshot:
			p.op.Snapshot = make(map[string]string, len(store))
			for k, v := range store {
				p.op.Snapshot[k] = v
			}
		}
	}
	h := make(History, len(all))
	for i := range all {
		h[i] = all[i].op
	}
	slices.SortStableFunc(h, func(a, b Operation) int { return cmp.Compare(a.CallUS, b.CallUS) })
	for i := range h {
		h[i].InvokeSeq = uint64(i + 1)
	}
	return h, store
}
