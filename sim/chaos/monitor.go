package chaos

import (
	"fmt"

	"github.com/stateflush/stateflush/sim/trace"
)

// Alarm is what monitoring raises when a member is lost and nobody said it would be.
type Alarm struct {
	Seq    uint64 // trace record that revealed the loss
	TimeUS int64
	Node   int32
	Reason string
}

func (a Alarm) String() string {
	return fmt.Sprintf("ALARM at %dµs (trace #%d): member %d %s", a.TimeUS, a.Seq, a.Node, a.Reason)
}

// Monitor watches a trace the way an operations team's monitoring watches a cluster: every member
// that goes away raises an alarm, unless the loss carries the chaos monkey's label, in which case it
// is counted as planned work. Feed it records in trace order with Observe.
type Monitor struct {
	alarms      []Alarm
	monkeyKills int
	// killedByMonkey marks members whose current loss is the monkey's, so that the membership
	// layer noticing the same loss later (a view that removes them) does not alarm either.
	killedByMonkey map[int32]bool
	// alarmed marks members whose current loss already raised an alarm: every member that installs
	// the new view reports the same departure, and one loss deserves one alarm.
	alarmed map[int32]bool
	// departedEvent is the protocol event name whose "removed" attribute lists members that the
	// membership layer dropped from the view; empty to watch crashes only.
	departedEvent string
}

// NewMonitor returns a monitor. departedEvent names the protocol event that announces members removed
// from the view (its "removed" attribute is a comma-separated list of member ids); pass "" to watch
// crash records only.
func NewMonitor(departedEvent string) *Monitor {
	return &Monitor{killedByMonkey: map[int32]bool{}, alarmed: map[int32]bool{}, departedEvent: departedEvent}
}

// Observe feeds one trace record.
func (m *Monitor) Observe(r *trace.Record) {
	switch r.Kind {
	case trace.KindCrash:
		if by, _ := r.Get("by"); by == Label {
			m.monkeyKills++
			m.killedByMonkey[r.Node] = true
			return
		}
		m.raise(Alarm{Seq: r.Seq, TimeUS: r.TimeUS, Node: r.Node, Reason: "crashed unexpectedly"})
	case trace.KindRestart:
		delete(m.killedByMonkey, r.Node)
		delete(m.alarmed, r.Node)
	case trace.KindEvent:
		if m.departedEvent == "" || r.Name != m.departedEvent {
			return
		}
		removed, _ := r.Get("removed")
		for _, id := range parseIDList(removed) {
			if !m.killedByMonkey[id] {
				m.raise(Alarm{Seq: r.Seq, TimeUS: r.TimeUS, Node: id,
					Reason: fmt.Sprintf("left the view (reported by member %d) without the monkey's label", r.Node)})
			}
		}
	}
}

func (m *Monitor) raise(a Alarm) {
	if m.alarmed[a.Node] {
		return
	}
	m.alarmed[a.Node] = true
	m.alarms = append(m.alarms, a)
}

// Alarms returns the alarms raised so far, in trace order.
func (m *Monitor) Alarms() []Alarm { return append([]Alarm(nil), m.alarms...) }

// MonkeyKills counts the losses recognised as the monkey's work.
func (m *Monitor) MonkeyKills() int { return m.monkeyKills }

func parseIDList(s string) []int32 {
	var ids []int32
	var cur int32
	in := false
	for _, c := range s {
		if c >= '0' && c <= '9' {
			cur = cur*10 + int32(c-'0')
			in = true
			continue
		}
		if in {
			ids = append(ids, cur)
		}
		cur, in = 0, false
	}
	if in {
		ids = append(ids, cur)
	}
	return ids
}
