package kv

import (
	"fmt"
	"strings"
)

// Describe renders the server's state for tests and debugging: view, and per bucket copy its role,
// fence, entries, profiles and any creation in progress.
func (s *Server) Describe() string {
	var b strings.Builder
	switch {
	case s.stopped:
		fmt.Fprintf(&b, "%s: disconnected\n", s.self)
		return b.String()
	case !s.joined:
		fmt.Fprintf(&b, "%s: joining\n", s.self)
		return b.String()
	}
	fmt.Fprintf(&b, "%s: view %s [%s]\n", s.self, s.view.Version, s.view.memberNames())
	for i, bs := range s.buckets {
		if bs == nil {
			continue
		}
		role := [...]string{"follower", "syncing", "primary"}[bs.role]
		init := "initialized"
		if !bs.initialized {
			init = "uninitialized"
		}
		fmt.Fprintf(&b, "  bucket %d: %s %s fence=%s@%d\n", i, role, init, bs.primary, bs.epoch)
		parts := []string{}
		for _, e := range bs.sortedEntries() {
			parts = append(parts, e.String())
		}
		fmt.Fprintf(&b, "    entries: [%s]\n", strings.Join(parts, " "))
		if len(bs.profiles) > 0 {
			parts = parts[:0]
			for _, m := range bs.profileMembers() {
				p := bs.profiles[m]
				flag := ""
				if !p.initialized {
					flag = "(uninit)"
				}
				parts = append(parts, m.String()+flag)
			}
			fmt.Fprintf(&b, "    profiles: %s\n", strings.Join(parts, " "))
		}
		if c := bs.creation; c != nil {
			fmt.Fprintf(&b, "    creating: attempt %d %s source=%s\n", c.attempt, c.phase, c.source)
		}
	}
	return b.String()
}
