package kv

// slab hands out values of T carved from arrays of slabSize, so that the messages a node sends most
// (client requests and replies, replicated writes and their acks) cost one allocation per
// slabSize messages instead of one each. Every value is handed out once, zeroed, and never reused:
// messages are immutable once sent (the network may deliver one twice), so a slab is an allocation
// arena, not a pool. An array lives as long as any of its messages is referenced.
type slab[T any] struct {
	free []T
}

// slabSize is how many values one allocation carves.
const slabSize = 32

// next is a fresh zero value of T.
func (s *slab[T]) next() *T {
	if len(s.free) == 0 {
		s.free = make([]T, slabSize)
	}
	v := &s.free[0]
	s.free = s.free[1:]
	return v
}

// pieces carves slices of T from arrays of piecesSize: each has the length asked for and no
// capacity beyond it, so that growing one reallocates it rather than running into the next.
type pieces[T any] struct {
	free []T
}

const piecesSize = 256

// take is a slice of n zero values of T.
func (p *pieces[T]) take(n int) []T {
	if n > piecesSize/4 {
		return make([]T, n)
	}
	if n > len(p.free) {
		p.free = make([]T, piecesSize)
	}
	out := p.free[:n:n]
	p.free = p.free[n:]
	return out
}
