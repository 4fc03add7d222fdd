package sim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/stateflush/stateflush/protocol"
)

// Pending lists what keeps the run from being quiescent: the foreground messages in flight, the
// foreground timers armed and the foreground actions scheduled, each with its count, as lines such
// as "3× message put s0->s2" or "1× timer kind 4 arg 2 at s1". It is empty exactly when the run is
// quiescent. Use it to say why a run ended by a budget instead. The lines are sorted, so the text
// depends only on the run, never on map order.
func (s *Sim) Pending() []string {
	counts := map[string]int{}
	s.queue.each(func(ev *event) {
		switch ev.kind {
		case evDeliver:
			if notice := s.pendingNotice(ev); notice != "" {
				counts[notice]++
			} else if !ev.background {
				counts[fmt.Sprintf("message %s %s->%s", ev.msg.Type(), s.name(ev.peer), s.name(ev.node))]++
			}
		case evTimer:
			t, armed := s.timers[protocol.TimerID(ev.id)]
			ns := &s.nodes[ev.node]
			if armed && !t.background && ns.alive && ns.incarnation == t.incarnation {
				counts[fmt.Sprintf("timer kind %d arg %d at %s", ev.tag.Kind, ev.tag.Arg, s.name(ev.node))]++
			}
		case evAction:
			if a := s.actions[ev.id]; !a.background {
				counts[fmt.Sprintf("action %q", a.label)]++
			}
		}
	})
	lines := make([]string, 0, len(counts))
	for what, n := range counts {
		lines = append(lines, fmt.Sprintf("%d× %s", n, what))
	}
	slices.Sort(lines)
	return lines
}

// PendingSummary is Pending joined into one line, at most limit entries followed by how many more
// there are; "nothing" when the run is quiescent.
func (s *Sim) PendingSummary(limit int) string {
	lines := s.Pending()
	if len(lines) == 0 {
		return "nothing"
	}
	if limit > 0 && len(lines) > limit {
		return strings.Join(lines[:limit], ", ") + fmt.Sprintf(" and %d more", len(lines)-limit)
	}
	return strings.Join(lines, ", ")
}

func (s *Sim) name(id protocol.NodeID) string {
	if !s.known(id) {
		return "external"
	}
	return s.nodes[id].spec.Name
}
