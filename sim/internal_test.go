package sim

import (
	"math"
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

// zeroRand always makes the boring choice, as a fully shrunk rapid run does.
type zeroRand struct{}

func (zeroRand) Intn(int) int     { return 0 }
func (zeroRand) Float64() float64 { return 0 }

func TestLatencySamplesStayInBoundsWithTheRightMean(t *testing.T) {
	cases := []struct {
		l        Latency
		wantMean float64
		// tolerance of the sample mean, relative to wantMean
		tolerance float64
	}{
		{Latency{Kind: Constant, Mean: 500}, 500, 0},
		{Latency{Kind: Uniform, Min: 100, Max: 300}, 200, 0.02},
		{Latency{Kind: Uniform, Min: 40, Max: 40}, 40, 0},
		{Latency{Kind: Exponential, Min: 100, Mean: 1100}, 1100, 0.03},
		{Latency{Kind: Exponential, Min: 100, Mean: 1100, Max: 1500}, 0, 0}, // capped: mean unchecked
		// Lomax(2, scale) capped at c above Min has mean scale*(1 - 1/(1 + c/scale)); here c = 1000*scale.
		{Latency{Kind: LongTail, Min: 100, Mean: 1100, Max: 100 + 1000*1000}, 100 + 1000*(1-1.0/1001), 0.05},
	}
	for _, tc := range cases {
		if err := tc.l.validate("l"); err != nil {
			t.Fatalf("%+v: %v", tc.l, err)
		}
		r := NewPRNG(3)
		const draws = 200000
		sum := 0.0
		for i := 0; i < draws; i++ {
			d := tc.l.sample(r)
			if d < tc.l.Min || (tc.l.Max > 0 && d > tc.l.Max) || (tc.l.Kind == Constant && d != tc.l.Mean) {
				t.Fatalf("%+v: sample %d out of bounds", tc.l, d)
			}
			sum += float64(d)
		}
		if mean := sum / draws; tc.wantMean > 0 && math.Abs(mean-tc.wantMean) > tc.tolerance*tc.wantMean+0.5 {
			t.Errorf("%s %+v: mean %.1f, want %.1f", tc.l.Kind, tc.l, mean, tc.wantMean)
		}
		if boring := tc.l.sample(zeroRand{}); boring != tc.l.Min && tc.l.Kind != Constant {
			t.Errorf("%+v: the zero draw gives %d, want Min", tc.l, boring)
		}
	}
}

func TestLongTailHasATail(t *testing.T) {
	l := Latency{Kind: LongTail, Min: 0, Mean: 1000, Max: 1_000_000}
	r := NewPRNG(11)
	over10x := 0
	const draws = 100000
	for i := 0; i < draws; i++ {
		if l.sample(r) > 10*l.Mean {
			over10x++
		}
	}
	// Lomax(2, 1000): P(X > 10000) = (1 + 10)^-2 ≈ 0.83%; an exponential of the same mean gives 0.005%.
	if rate := float64(over10x) / draws; rate < 0.006 || rate > 0.011 {
		t.Fatalf("fraction above 10x the mean = %.4f, want about 0.0083", rate)
	}
}

func TestEventQueueOrdersByTimeThenInsertion(t *testing.T) {
	var q eventQueue
	r := NewPRNG(5)
	prev := event{at: -1}
	popped := 0
	check := func() {
		e := q.pop()
		popped++
		if e.at < prev.at || (e.at == prev.at && e.seq < prev.seq) {
			t.Fatalf("popped (%d, %d) after (%d, %d)", e.at, e.seq, prev.at, prev.seq)
		}
		if e.id != e.seq {
			t.Fatalf("popped event %d carries the payload of event %d: a reused slot was overwritten", e.seq, e.id)
		}
		prev = e
	}
	// Pops interleaved with pushes reuse slots; each push is no earlier than the last pop, as in
	// the simulator.
	for seq := uint64(1); seq <= 2000; seq++ {
		q.push(&event{at: prev.at + 1 + protocol.Time(r.Intn(50)), seq: seq, id: seq})
		if seq%3 == 0 {
			check()
		}
	}
	for q.len() > 0 {
		check()
	}
	if popped != 2000 {
		t.Fatalf("popped %d events, pushed 2000", popped)
	}
}
