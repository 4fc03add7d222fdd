package sim

import (
	"fmt"

	"pgregory.net/rapid"

	"github.com/stateflush/stateflush/protocol"
)

// RapidSource returns a stream factory (for Config.Source) that takes every random choice of a run
// from rapid, so that rapid records the whole schedule and shrinks it when a property fails. Each
// draw is labelled with its stream's name. Intn(n) draws rapid.IntRange(0, n-1), and Float64 draws
// an integer in [0, 2^53) scaled to [0, 1); both shrink towards 0, which the simulator and the
// protocols treat as the boring choice (minimum latency, no loss, no duplication).
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
	floatGen *rapid.Generator[uint64]
}

func (r *rapidRand) Intn(n int) int {
	if n <= 0 {
		panic(fmt.Sprintf("sim: rapid stream %q: Intn called with n = %d, want n > 0", r.label, n))
	}
	g, ok := r.intGens[n]
	if !ok {
		g = rapid.IntRange(0, n-1)
		r.intGens[n] = g
	}
	return g.Draw(r.t, r.label)
}

func (r *rapidRand) Float64() float64 {
	if r.floatGen == nil {
		r.floatGen = rapid.Uint64Range(0, 1<<53-1)
	}
	return float64(r.floatGen.Draw(r.t, r.label)) * 0x1p-53
}
