package kv

import (
	"github.com/stateflush/stateflush/protocol/dlock"
)

// InitializedBuckets lists, in bucket order, the buckets of which this server holds a complete copy
// (none after a forced disconnect). It is the cheap form of Holdings for tools that only count copies.
func (s *Server) InitializedBuckets() []int {
	if s.stopped {
		return nil
	}
	var out []int
	for _, i := range s.held {
		if s.buckets[i].initialized {
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
	for _, i := range s.held {
		if s.buckets[i].role != roleFollower {
			return true
		}
	}
	return false
}

// CopyInProgress describes one bucket copy this server is creating.
type CopyInProgress struct {
	Bucket  int
	Attempt uint64
	// Phase is "announcing", "flushing" or "copying"; Source is valid from "flushing" on.
	Phase  string
	Source Member
}

// CopiesInProgress lists, by bucket, the copies this server is creating. Fault injectors use it to
// aim at the moments that matter, such as the image source dying mid-copy.
func (s *Server) CopiesInProgress() []CopyInProgress { return s.AppendCopiesInProgress(nil) }

// AppendCopiesInProgress appends the copies CopiesInProgress lists to out, so that a caller that
// asks on every tick can reuse one buffer.
func (s *Server) AppendCopiesInProgress(out []CopyInProgress) []CopyInProgress {
	for _, i := range s.held {
		b := s.buckets[i]
		if b.creation == nil {
			continue
		}
		c := b.creation
		out = append(out, CopyInProgress{Bucket: i, Attempt: c.attempt, Phase: c.phase.String(), Source: c.source})
	}
	return out
}

// EntryVersion is the version of key in this server's copy of bucket, a tombstone's included. ok is
// false when the server holds no copy of the bucket (or was disconnected) or the copy has no entry
// for the key. Online checkers read it to see that versions at a holder never go backwards.
func (s *Server) EntryVersion(bucket int, key string) (v Version, ok bool) {
	b := s.copyOf(bucket)
	if b == nil {
		return Version{}, false
	}
	e, ok := b.entries[key]
	return e.Version, ok
}

// CopyState reports whether this server holds a copy of bucket and whether that copy is
// initialized (complete).
func (s *Server) CopyState(bucket int) (held, initialized bool) {
	b := s.copyOf(bucket)
	return b != nil, b != nil && b.initialized
}

// EntryVersions maps every key of this server's copy of bucket to its version, tombstones included
// (nil without a copy). It is a copy: the caller may keep it.
func (s *Server) EntryVersions(bucket int) map[string]Version {
	b := s.copyOf(bucket)
	if b == nil {
		return nil
	}
	out := make(map[string]Version, len(b.entries))
	for k, e := range b.entries {
		out[k] = e.Version
	}
	return out
}

func (s *Server) copyOf(bucket int) *bucketState {
	if s.stopped || bucket < 0 || bucket >= len(s.buckets) {
		return nil
	}
	return s.buckets[bucket]
}

// IsGrantor reports whether this server is the lock service's grantor of its view.
func (s *Server) IsGrantor() bool { return !s.stopped && s.locks != nil && s.locks.IsGrantor() }

// LockService is this server's part of the lock service (nil when the cluster has none).
func (s *Server) LockService() *dlock.Service { return s.locks }
