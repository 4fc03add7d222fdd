package kv

// IsCoordinator reports whether this server currently acts as the membership coordinator. Tools use
// it to route operator requests (rebalance) and to name roles (the chaos monkey's blind spots).
func (s *Server) IsCoordinator() bool { return s.isCoordinator() }

// InitializedBuckets lists, in bucket order, the buckets of which this server holds a complete copy
// (none after a forced disconnect). It is the cheap form of Holdings for tools that only count copies.
func (s *Server) InitializedBuckets() []int {
	if s.stopped {
		return nil
	}
	var out []int
	for i, b := range s.buckets {
		if b != nil && b.initialized {
			out = append(out, i)
		}
	}
	return out
}

// IsPrimaryOfAny reports whether this server is the primary of at least one bucket.
func (s *Server) IsPrimaryOfAny() bool {
	if s.stopped {
		return false
	}
	for _, b := range s.buckets {
		if b != nil && b.role != roleFollower {
			return true
		}
	}
	return false
}
