package sim_test

import (
	"testing"
	"time"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim"
)

// The floor: the ping-pong workload of BenchmarkPingPong8 as a bare event loop, with a binary heap
// of value events, one inline PRNG, FIFO links and uniform latency, and nothing else (no trace, no
// hash, no interfaces, no fault checks). The simulator's cost is reported as a ratio to it, measured
// in the same run, so the figure does not depend on the machine or its load.

type floorEvent struct {
	at       int64
	seq      uint64
	to, from int32
	ping     bool
}

type floorHeap []floorEvent

func (h floorHeap) before(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}

func (h *floorHeap) push(e floorEvent) {
	*h = append(*h, e)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.before(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *floorHeap) pop() floorEvent {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(q) {
			break
		}
		m := l
		if r := l + 1; r < len(q) && q.before(r, l) {
			m = r
		}
		if !q.before(m, i) {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// floorPingPong delivers n messages among nodes nodes and returns a checksum of the delivery times
// (so that the compiler cannot drop the loop).
func floorPingPong(nodes, n int) int64 {
	state := uint64(1)
	next := func() uint64 { // splitmix64
		state += 0x9e3779b97f4a7c15
		z := state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
	last := make([]int64, nodes*nodes)
	h := make(floorHeap, 0, 4*nodes)
	var now int64
	var seq uint64
	send := func(from, to int32, ping bool) {
		idx := int(from)*nodes + int(to)
		at := now + 100 + int64(next()%901)
		if at < last[idx] {
			at = last[idx]
		}
		last[idx] = at
		seq++
		h.push(floorEvent{at: at, seq: seq, to: to, from: from, ping: ping})
	}
	pingSomeone := func(self int32) {
		to := int32(next() % uint64(nodes-1))
		if to >= self {
			to++
		}
		send(self, to, true)
	}
	for i := 0; i < nodes; i++ {
		pingSomeone(int32(i))
	}
	var sum int64
	for delivered := 0; delivered < n; delivered++ {
		ev := h.pop()
		now = ev.at
		sum += now
		if ev.ping {
			send(ev.to, ev.from, false)
		} else {
			pingSomeone(ev.to)
		}
	}
	return sum
}

// BenchmarkPingPongFloor is the floor alone. One op is one delivered message.
func BenchmarkPingPongFloor(b *testing.B) {
	b.ReportAllocs()
	if floorPingPong(benchNodes, b.N) < 0 {
		b.Fatal("negative checksum")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPingPong8VsFloor runs the floor and the simulator on the same b.N messages, one after the
// other, and reports both costs per message and their ratio ("x-floor"). One op is one delivered
// message of each.
func BenchmarkPingPong8VsFloor(b *testing.B) {
	b.ReportAllocs()
	start := time.Now()
	if floorPingPong(benchNodes, b.N) < 0 {
		b.Fatal("negative checksum")
	}
	floor := time.Since(start)
	cfg := sim.Config{
		Seed:       1,
		Network:    sim.Network{Default: sim.Link{Latency: sim.Latency{Kind: sim.Uniform, Min: 100, Max: 1000}}},
		TimeBudget: protocol.Duration(1) << 62,
		StepBudget: int64(b.N),
		Trace:      sim.TraceHashOnly,
	}
	for i := 0; i < benchNodes; i++ {
		cfg.Nodes = append(cfg.Nodes, sim.NodeSpec{Name: string(rune('a' + i)),
			New: func(protocol.NodeID, uint32) protocol.Node { return &pingPongNode{peers: benchNodes} }})
	}
	s, err := sim.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	res := s.Run()
	simulated := time.Since(start)
	if res.Stats.Delivered != int64(b.N) {
		b.Fatalf("run ended after %d deliveries, want %d", res.Stats.Delivered, b.N)
	}
	b.ReportMetric(float64(floor.Nanoseconds())/float64(b.N), "floor-ns/msg")
	b.ReportMetric(float64(simulated.Nanoseconds())/float64(b.N), "sim-ns/msg")
	b.ReportMetric(float64(simulated)/float64(max(floor, 1)), "x-floor")
}
