package sim

import (
	"fmt"
	"math/bits"

	"github.com/stateflush/stateflush/protocol"
)

// Names of the random streams the simulator itself draws from. Callers draw from their own streams
// through Sim.Stream (by convention "faults" for a chaos monkey and "workload" for client workloads);
// a node draws from "node/<name>" through Env.Rand.
const (
	StreamNetwork = "network" // prefix of the per-link streams: latency samples, loss and duplication decisions
	StreamFaults  = "faults"
	StreamWork    = "workload"
)

// NodeStream returns the name of the random stream of the node with the given name.
func NodeStream(nodeName string) string { return "node/" + nodeName }

// PRNG is the simulator's default random source: xoshiro256** seeded through splitmix64. It is fast,
// allocation-free and identical on every platform. It implements protocol.Rand.
type PRNG struct {
	s0, s1, s2, s3 uint64
}

var _ protocol.Rand = (*PRNG)(nil)

// NewPRNG returns a generator seeded with seed. Every seed, 0 included, gives a usable generator.
func NewPRNG(seed uint64) *PRNG {
	sm := seed
	p := &PRNG{}
	p.s0 = splitmix64(&sm)
	p.s1 = splitmix64(&sm)
	p.s2 = splitmix64(&sm)
	p.s3 = splitmix64(&sm)
	return p
}

// StreamSeed derives the seed of a named stream from the root seed: the stream name is hashed
// (FNV-1a 64) and mixed with the root through splitmix64. Streams are therefore independent of one
// another and of the order in which they are created, so adding draws to one subsystem never
// reshuffles another.
func StreamSeed(root uint64, stream string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(stream); i++ {
		h ^= uint64(stream[i])
		h *= 1099511628211
	}
	x := root ^ bits.RotateLeft64(h, 32)
	return splitmix64(&x)
}

// PRNGSource returns the default stream factory for a root seed: each stream is a PRNG seeded with
// StreamSeed(root, stream).
func PRNGSource(root uint64) func(stream string) protocol.Rand {
	return func(stream string) protocol.Rand { return NewPRNG(StreamSeed(root, stream)) }
}

// Uint64 returns 64 uniformly random bits.
func (p *PRNG) Uint64() uint64 {
	result := bits.RotateLeft64(p.s1*5, 7) * 9
	t := p.s1 << 17
	p.s2 ^= p.s0
	p.s3 ^= p.s1
	p.s1 ^= p.s2
	p.s0 ^= p.s3
	p.s2 ^= t
	p.s3 = bits.RotateLeft64(p.s3, 45)
	return result
}

// Intn returns a uniform value in [0, n) without modulo bias (Lemire's multiply-and-reject). n must
// be positive: a non-positive n is a bug in the caller, as with math/rand.
func (p *PRNG) Intn(n int) int {
	if n <= 0 {
		panic(fmt.Sprintf("sim: PRNG.Intn called with n = %d, want n > 0", n))
	}
	bound := uint64(n)
	hi, lo := bits.Mul64(p.Uint64(), bound)
	if lo < bound {
		threshold := -bound % bound
		for lo < threshold {
			hi, lo = bits.Mul64(p.Uint64(), bound)
		}
	}
	return int(hi)
}

// Float64 returns a uniform value in [0, 1) with 53 random bits.
func (p *PRNG) Float64() float64 {
	return float64(p.Uint64()>>11) * 0x1p-53
}

func splitmix64(state *uint64) uint64 {
	*state += 0x9E3779B97F4A7C15
	z := *state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Happens draws whether an event of probability p happens. The draw u=0, where a property-based
// testing engine shrinks, means "it does not happen", so the boring schedule is the fault-free one.
func Happens(r protocol.Rand, p float64) bool { return 1-r.Float64() <= p }
