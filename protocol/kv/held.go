package kv

import "slices"

// The indices of the buckets a server holds a copy of, kept sorted beside s.buckets: a view
// change, a takeover's facts and the harness's questions are about the copies a server holds, and
// scanning every bucket slot made each of them cost the cluster's buckets (a thousand slots for
// the thirty copies a server of a hundred holds).

// setBucket installs b as this server's copy of its bucket.
func (s *Server) setBucket(b *bucketState) {
	if s.buckets[b.index] == nil {
		i, _ := slices.BinarySearch(s.held, b.index)
		s.held = slices.Insert(s.held, i, b.index)
	}
	s.buckets[b.index] = b
}

// clearBucket forgets this server's copy of bucket i.
func (s *Server) clearBucket(i int) {
	if s.buckets[i] == nil {
		return
	}
	s.buckets[i] = nil
	if k, found := slices.BinarySearch(s.held, i); found {
		s.held = slices.Delete(s.held, k, k+1)
	}
}

// heldBuckets returns this server's copies in bucket order, in a new slice: callers may drop or
// create copies as they go.
func (s *Server) heldBuckets() []*bucketState {
	out := make([]*bucketState, len(s.held))
	for k, i := range s.held {
		out[k] = s.buckets[i]
	}
	return out
}

// mergeSorted appends to dst the union of the ascending lists x and y, ascending, each index once.
func mergeSorted(dst, x, y []int) []int {
	for len(x) > 0 || len(y) > 0 {
		switch {
		case len(y) == 0 || (len(x) > 0 && x[0] < y[0]):
			dst, x = append(dst, x[0]), x[1:]
		case len(x) == 0 || y[0] < x[0]:
			dst, y = append(dst, y[0]), y[1:]
		default:
			dst, x, y = append(dst, x[0]), x[1:], y[1:]
		}
	}
	return dst
}
