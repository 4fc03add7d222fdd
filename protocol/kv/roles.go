package kv

// IsCoordinator reports whether this server currently acts as the membership coordinator. Tools use
// it to route operator requests (rebalance) and to name roles (the chaos monkey's blind spots).
func (s *Server) IsCoordinator() bool { return s.isCoordinator() }
