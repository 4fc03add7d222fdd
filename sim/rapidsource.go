package sim

import (
	"fmt"

	"pgregory.net/rapid"

	"github.com/stateflush/stateflush/protocol"
)

// RapidSource returns a stream factory (for Config.Source) that takes every random choice of a run
// from rapid, so that rapid records the whole schedule and shrinks it when a property fails. Each
// draw is labelled with its stream's name. Intn(n) draws rapid.IntRange(0, n-1) for n up to 256
// and goes through Float64 above; Float64 assembles 16 bits from four 4-bit draws (see Float64 for
// why). Both shrink towards 0, which the simulator and the protocols treat as the boring choice
// (minimum latency, no loss, no duplication, no fault).
//
// All streams share t, so the run is driven by one sequence of draws in the order the simulator
// makes them; that order is deterministic, so rapid can replay and shrink it.
func RapidSource(t *rapid.T) func(stream string) protocol.Rand {
	return func(stream string) protocol.Rand {
		return &rapidRand{t: t, label: stream, intGens: map[int]*rapid.Generator[int]{}}
	}
}

type rapidRand struct {
	t     *rapid.T
	label string
	// intGens caches one generator per bound: generators are immutable, and building one per draw
	// would dominate a rapid-driven run.
	intGens  map[int]*rapid.Generator[int]
	floatGen *rapid.Generator[int]
}

func (r *rapidRand) Intn(n int) int {
	if n <= 0 {
		panic(fmt.Sprintf("sim: rapid stream %q: Intn called with n = %d, want n > 0", r.label, n))
	}
	if n > smallIntn {
		// rapid biases wide integer draws towards tiny values (few significant bits); a choice
		// among thousands (a weighted victim, a delay in µs) would then almost always be the first.
		return min(int(r.Float64()*float64(n)), n-1)
	}
	g, ok := r.intGens[n]
	if !ok {
		g = rapid.IntRange(0, n-1)
		r.intGens[n] = g
	}
	return r.draw(g)
}

// SourcePanic carries a panic raised by the choice source itself, not by the code it drives: rapid
// ends or rejects a test case by panicking inside a draw (an exhausted replay buffer while it
// shrinks, for one). A caller that turns the run's panics into findings (harness's crash verdict)
// must raise Value again instead, so that rapid's engine receives its own signal.
type SourcePanic struct{ Value any }

func (p SourcePanic) String() string { return fmt.Sprintf("choice source panic: %v", p.Value) }

// draw takes one value from g, marking a panic from rapid as the source's own (SourcePanic).
func (r *rapidRand) draw(g *rapid.Generator[int]) int {
	defer func() {
		if p := recover(); p != nil {
			panic(SourcePanic{Value: p})
		}
	}()
	return g.Draw(r.t, r.label)
}

// smallIntn is the widest Intn drawn directly from rapid; wider ones go through Float64.
const smallIntn = 256

// Float64 assembles 16 bits from four draws of 4 bits each. rapid draws narrow ranges nearly
// uniformly but biases a single wide draw towards tiny values, which would make every latency the
// minimum and every fault gap infinite. Each digit still shrinks towards 0, so the whole value does.
func (r *rapidRand) Float64() float64 {
	if r.floatGen == nil {
		r.floatGen = rapid.IntRange(0, 15)
	}
	u := 0
	for range 4 {
		u = u<<4 | r.draw(r.floatGen)
	}
	return float64(u) * 0x1p-16
}
