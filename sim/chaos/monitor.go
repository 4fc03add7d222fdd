package chaos

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

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
// that goes away raises an alarm, unless planned work explains it. A crash is planned when it
// carries the chaos monkey's label (or another label the configuration names as planned); a member
// that leaves a view is explained by a planned crash of that incarnation; a member that is forced to
// disconnect, or leaves a view while its process runs, is a real loss. Feed it records in trace
// order with Observe.
type Monitor struct {
	cfg         MonitorConfig
	alarms      []Alarm
	monkeyKills int
	// down marks members whose process is down after a planned crash.
	down map[int32]bool
	// incarnation is each member's current incarnation (from restart records).
	incarnation map[int32]uint32
	// members is the member list of the view each reporter installed last.
	members map[int32]memberList
	// parsed is the member list parsed last: every member reports installing the same view, and a
	// view's text is formatted once, so its repeats compare in constant time and parse once.
	parsed memberList
	// alarmed marks members whose current loss already raised an alarm: every member that installs
	// the new view reports the same departure, and one loss deserves one alarm.
	alarmed map[int32]bool
	// pausedByPlan holds, per member, the incarnation a planned pause froze: the others may remove
	// it and force it to disconnect, and that loss is the planned work's, not a real one.
	pausedByPlan map[int32]uint32
	// splitByPlan holds, per member cut off by a planned split (either side), the incarnation it
	// had and until when (µs) the split explains its removal: the split's mend plus the grace.
	splitByPlan map[int32]plannedSplit
}

// memberList is a view's members as recorded and parsed.
type memberList struct {
	text    string
	members []member
}

type plannedSplit struct {
	inc     uint32
	untilUS int64
}

// ongoing marks a planned split not mended yet.
const ongoing = int64(^uint64(0) >> 1)

// MonitorConfig says which protocol events reveal departures. Empty names watch crash records only.
type MonitorConfig struct {
	// ViewEvent is the event a member emits when it installs a view; its MembersAttr attribute lists
	// the view's members, comma-separated, each as "<letter><id>" or "<letter><id>#<incarnation>".
	ViewEvent, MembersAttr string
	// DisconnectEvent is the event a member emits when the others forced it out of the cluster.
	DisconnectEvent string
	// PlannedLabels are crash labels (the "by" attribute) besides the monkey's that mark planned
	// work, such as a test script's crashes.
	PlannedLabels []string
	// SplitGrace is how long after a planned split is mended the departures of the members it cut
	// off still count as its work: the removals it caused may land after the mend.
	SplitGrace int64
}

type member struct {
	id  int32
	inc uint32
}

// NewMonitor returns a monitor for the given configuration.
func NewMonitor(cfg MonitorConfig) *Monitor {
	return &Monitor{cfg: cfg, down: map[int32]bool{}, incarnation: map[int32]uint32{}, members: map[int32]memberList{}, alarmed: map[int32]bool{},
		pausedByPlan: map[int32]uint32{}, splitByPlan: map[int32]plannedSplit{}}
}

// Observe feeds one trace record.
func (m *Monitor) Observe(r *trace.Record) {
	switch r.Kind {
	case trace.KindCrash:
		delete(m.members, r.Node)
		if m.planned(r) {
			if by, _ := r.Get("by"); by == Label {
				m.monkeyKills++
			}
			m.down[r.Node] = true
			return
		}
		m.raise(Alarm{Seq: r.Seq, TimeUS: r.TimeUS, Node: r.Node, Reason: "crashed unexpectedly"})
	case trace.KindRestart:
		delete(m.down, r.Node)
		delete(m.alarmed, r.Node)
		delete(m.members, r.Node)
		m.incarnation[r.Node] = r.Incarnation
		if p, ok := m.splitByPlan[r.Node]; ok && r.TimeUS <= p.untilUS {
			// Restarted inside a planned split's reach: the new incarnation is cut off as well.
			m.splitByPlan[r.Node] = plannedSplit{inc: r.Incarnation, untilUS: p.untilUS}
		}
	case trace.KindFault:
		switch {
		case r.Name == "pause" && m.planned(r):
			m.pausedByPlan[r.Node] = r.Incarnation + 1 // +1: incarnation 0 must not read as "none"
		case (r.Name == "split" || r.Name == "mend") && m.planned(r):
			m.observeSplit(r)
		case r.Name == "connection-broken" && m.planned(r):
			// The store removes an end of a broken connection: planned work, like a split that
			// mends at once.
			m.creditCutOff(r.Node, r.TimeUS+m.cfg.SplitGrace)
			m.creditCutOff(r.Peer, r.TimeUS+m.cfg.SplitGrace)
		}
	case trace.KindEvent:
		switch {
		case m.cfg.DisconnectEvent != "" && r.Name == m.cfg.DisconnectEvent && m.pausedByPlan[r.Node] == r.Incarnation+1:
			// The planned pause outlasted failure detection: the others removed it, as they should.
		case m.cfg.DisconnectEvent != "" && r.Name == m.cfg.DisconnectEvent && m.cutOff(r.Node, r.Incarnation, r.TimeUS):
			// A planned split cut it off: its side lost the cluster, or the other side removed it.
		case m.cfg.DisconnectEvent != "" && r.Name == m.cfg.DisconnectEvent:
			m.raise(Alarm{Seq: r.Seq, TimeUS: r.TimeUS, Node: r.Node, Reason: "was forced to disconnect while its process was running"})
		case m.cfg.ViewEvent != "" && r.Name == m.cfg.ViewEvent:
			m.observeView(r)
		}
	}
}

// observeView compares the view a member installed with the one it had: a member that left is a
// real loss unless its incarnation is gone (its crash was judged when it happened) or planned.
func (m *Monitor) observeView(r *trace.Record) {
	text, _ := r.Get(m.cfg.MembersAttr)
	if text != m.parsed.text || m.parsed.members == nil {
		m.parsed = memberList{text: text, members: parseMembers(text)}
	}
	now := m.parsed.members
	prev, had := m.members[r.Node]
	m.members[r.Node] = m.parsed
	if !had || prev.text == text {
		return // the same members: nobody left
	}
	for _, p := range prev.members {
		if slices.Contains(now, p) || m.down[p.id] || p.inc < m.incarnation[p.id] || m.pausedByPlan[p.id] == p.inc+1 || m.cutOff(p.id, p.inc, r.TimeUS) {
			continue
		}
		m.raise(Alarm{Seq: r.Seq, TimeUS: r.TimeUS, Node: p.id,
			Reason: fmt.Sprintf("left the view (reported by member %d) while its process was running, with no planned crash to explain it", r.Node)})
	}
}

// observeSplit records the members a planned split cut off (both of its groups), until its mend
// plus the grace.
func (m *Monitor) observeSplit(r *trace.Record) {
	until := ongoing
	if r.Name == "mend" {
		until = r.TimeUS + m.cfg.SplitGrace
	}
	for _, attr := range []string{"a", "b"} {
		text, _ := r.Get(attr)
		for _, field := range strings.Split(text, ",") {
			id, err := strconv.Atoi(field)
			if err != nil {
				continue
			}
			m.creditCutOff(int32(id), until)
		}
	}
}

// creditCutOff records that planned work cuts a member's current incarnation off until a time: its
// removal or disconnection meanwhile is no alarm.
func (m *Monitor) creditCutOff(id int32, untilUS int64) {
	m.splitByPlan[id] = plannedSplit{inc: m.incarnation[id], untilUS: untilUS}
}

// cutOff reports whether a planned split explains the departure of a member's incarnation at a
// time.
func (m *Monitor) cutOff(id int32, inc uint32, atUS int64) bool {
	p, ok := m.splitByPlan[id]
	return ok && p.inc == inc && atUS <= p.untilUS
}

// planned reports whether a crash or fault record is the monkey's work or other planned work.
func (m *Monitor) planned(r *trace.Record) bool {
	by, _ := r.Get("by")
	return by == Label || slices.Contains(m.cfg.PlannedLabels, by)
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

// parseMembers reads a member list such as "s0,s1#2": a letter, the id, and optionally the
// incarnation after '#'. Malformed items are skipped.
func parseMembers(text string) []member {
	var out []member
	for _, item := range strings.Split(text, ",") {
		item = strings.TrimLeft(strings.TrimSpace(item), "abcdefghijklmnopqrstuvwxyz")
		idText, incText, hasInc := strings.Cut(item, "#")
		id, err := strconv.ParseInt(idText, 10, 32)
		if err != nil {
			continue
		}
		mb := member{id: int32(id)}
		if hasInc {
			inc, err := strconv.ParseUint(incText, 10, 32)
			if err != nil {
				continue
			}
			mb.inc = uint32(inc)
		}
		out = append(out, mb)
	}
	return out
}
