package linearizability

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// Annotation rows of the visualization. Porcupine puts each distinct tag on its own row, sorted by
// name, below the client rows.
const (
	tagFaults  = "faults"  // crashes and restarts
	tagNetwork = "network" // partitions, heals, link changes
	tagViews   = "views"   // view changes
	tagPrimary = "primary" // primary changes and data loss, per bucket
	tagFlush   = "flush "  // prefix of one row per new replica: "flush n3"
)

// Annotation colours (CSS).
const (
	colorCrash     = "#f6c6c6"
	colorRestart   = "#d6ecd2"
	colorPartition = "#efaefc"
	colorView      = "#cfe0f7"
	colorAnnounce  = "#fde7b0"
	colorFlush     = "#fbd38d"
	colorCopy      = "#c6e9c1"
	colorLoss      = "#f4a3a3"
)

// traceAnnotations turns the trace's faults, view changes and state-flush phases into porcupine
// annotations, each category on its own row(s). Only records within [fromUS, toUS] are shown, so
// that the annotations stay next to the operations they explain. names gives node names (may be
// nil).
func traceAnnotations(records []trace.Record, fromUS, toUS int64, names map[int32]string) []porcupine.Annotation {
	var out []porcupine.Annotation
	add := func(a porcupine.Annotation) {
		if a.End < a.Start {
			a.End = a.Start
		}
		if a.End >= fromUS && a.Start <= toUS {
			out = append(out, a)
		}
	}
	node := func(id int32) string {
		if name, ok := names[id]; ok && name != "" {
			return fmt.Sprintf("n%d %s", id, name)
		}
		return fmt.Sprintf("n%d", id)
	}
	endUS := int64(0)
	if len(records) > 0 {
		endUS = records[len(records)-1].TimeUS
	}

	// Partitions last until the next heal.
	var openPartitions []*trace.Record
	closePartitions := func(atUS int64, how string) {
		for _, p := range openPartitions {
			add(porcupine.Annotation{Tag: tagNetwork, Start: p.TimeUS, End: atUS, Description: p.Name,
				Details: describeAttrs(p) + how, BackgroundColor: colorPartition})
		}
		openPartitions = nil
	}

	// Views: one annotation per view number, from its first installation until the next view's
	// first installation (or the end of the trace).
	type viewSpan struct {
		startUS, lastInstallUS int64
		members                string
		installs               int
	}
	views := map[string]*viewSpan{}
	var viewOrder []string

	// State-flush phases, per (new replica, bucket).
	type replicaBucket struct {
		replica int32
		bucket  string
	}
	type phaseStart struct {
		announceUS, flushUS, copyUS int64 // -1 when the phase has not started
		chunks                      int
	}
	phases := map[replicaBucket]*phaseStart{}
	var phaseOrder []replicaBucket
	phaseOf := func(r *trace.Record) (replicaBucket, *phaseStart) {
		replica := r.Node
		if text, ok := r.Get("replica"); ok {
			var id int32
			if _, err := fmt.Sscan(text, &id); err == nil {
				replica = id
			}
		}
		bucket, _ := r.Get("bucket")
		key := replicaBucket{replica, bucket}
		p, ok := phases[key]
		if !ok {
			p = &phaseStart{announceUS: -1, flushUS: -1, copyUS: -1}
			phases[key] = p
			phaseOrder = append(phaseOrder, key)
		}
		return key, p
	}
	phaseRange := func(key replicaBucket, startUS, endUS int64, what, color, details string) {
		add(porcupine.Annotation{Tag: tagFlush + node(key.replica), Start: startUS, End: endUS,
			Description: fmt.Sprintf("b%s %s", key.bucket, what), Details: details, BackgroundColor: color})
	}

	for i := range records {
		r := &records[i]
		switch r.Kind {
		case trace.KindCrash:
			description := "crash " + node(r.Node)
			if cause := CrashCause(r); cause != "" {
				description += " by " + cause
			}
			add(porcupine.Annotation{Tag: tagFaults, Start: r.TimeUS, Description: description,
				Details: fmt.Sprintf("trace seq %d %s", r.Seq, describeAttrs(r)), BackgroundColor: colorCrash})
		case trace.KindRestart:
			add(porcupine.Annotation{Tag: tagFaults, Start: r.TimeUS, Description: fmt.Sprintf("restart %s #%d", node(r.Node), r.Incarnation),
				Details: fmt.Sprintf("trace seq %d %s", r.Seq, describeAttrs(r)), BackgroundColor: colorRestart})
		case trace.KindFault:
			switch r.Name {
			case "partition", "partition-one-way":
				openPartitions = append(openPartitions, r)
			case "heal":
				closePartitions(r.TimeUS, fmt.Sprintf(" (healed at trace seq %d)", r.Seq))
			default:
				description := r.Name
				if r.Node >= 0 && r.Peer >= 0 {
					description += fmt.Sprintf(" %s→%s", node(r.Node), node(r.Peer))
				}
				add(porcupine.Annotation{Tag: tagNetwork, Start: r.TimeUS, Description: description,
					Details: fmt.Sprintf("trace seq %d %s", r.Seq, describeAttrs(r)), BackgroundColor: colorPartition})
			}
		case trace.KindEvent:
			switch r.Name {
			case protocol.EventViewChange:
				view, _ := r.Get("view")
				span, ok := views[view]
				if !ok {
					span = &viewSpan{startUS: r.TimeUS}
					views[view] = span
					viewOrder = append(viewOrder, view)
				}
				span.lastInstallUS = r.TimeUS
				span.installs++
				span.members, _ = r.Get("members")
			case protocol.EventPrimaryChange:
				bucket, _ := r.Get("bucket")
				primary, _ := r.Get("primary")
				add(porcupine.Annotation{Tag: tagPrimary, Start: r.TimeUS, Description: fmt.Sprintf("b%s primary %s", bucket, memberName(primary)),
					Details: fmt.Sprintf("trace seq %d at %s: %s", r.Seq, node(r.Node), describeAttrs(r)), BackgroundColor: colorView})
			case protocol.EventAnnounceSent:
				_, p := phaseOf(r)
				p.announceUS = r.TimeUS
			case protocol.EventAnnounceComplete:
				key, p := phaseOf(r)
				if p.announceUS >= 0 {
					phaseRange(key, p.announceUS, r.TimeUS, "announce", colorAnnounce, fmt.Sprintf("announce complete at trace seq %d", r.Seq))
					p.announceUS = -1
				}
			case protocol.EventMarkerSent:
				if _, p := phaseOf(r); p.flushUS < 0 {
					p.flushUS = r.TimeUS
				}
			case protocol.EventFlushComplete:
				key, p := phaseOf(r)
				if p.flushUS >= 0 {
					phaseRange(key, p.flushUS, r.TimeUS, "flush", colorFlush, fmt.Sprintf("flush complete at trace seq %d", r.Seq))
					p.flushUS = -1
				}
			case protocol.EventImageChunkApplied:
				_, p := phaseOf(r)
				if p.copyUS < 0 {
					p.copyUS = r.TimeUS
				}
				p.chunks++
			case protocol.EventInitialized, protocol.EventImageDiscarded:
				key, p := phaseOf(r)
				start := p.copyUS
				if start < 0 {
					start = r.TimeUS
				}
				what, color := "copy → initialized", colorCopy
				if r.Name == protocol.EventImageDiscarded {
					what, color = "copy discarded", colorLoss
				}
				phaseRange(key, start, r.TimeUS, what, color, fmt.Sprintf("%d chunks applied; %s at trace seq %d", p.chunks, r.Name, r.Seq))
				p.copyUS, p.chunks = -1, 0
			case protocol.EventDataLost:
				bucket, _ := r.Get("bucket")
				add(porcupine.Annotation{Tag: tagPrimary, Start: r.TimeUS, Description: "b" + bucket + " DATA LOST",
					Details: fmt.Sprintf("trace seq %d at %s: %s", r.Seq, node(r.Node), describeAttrs(r)), BackgroundColor: colorLoss})
			}
		}
	}
	closePartitions(endUS, " (not healed before the end)")
	for i, view := range viewOrder {
		span := views[view]
		until := endUS
		if i+1 < len(viewOrder) {
			until = views[viewOrder[i+1]].startUS
		}
		add(porcupine.Annotation{Tag: tagViews, Start: span.startUS, End: until, Description: "view " + view,
			Details:         fmt.Sprintf("members %s; installed by %d members, the last at %dµs", span.members, span.installs, span.lastInstallUS),
			BackgroundColor: colorView})
	}
	for _, key := range phaseOrder {
		p := phases[key]
		for _, unfinished := range []struct {
			startUS int64
			what    string
		}{{p.announceUS, "announce"}, {p.flushUS, "flush"}, {p.copyUS, "copy"}} {
			if unfinished.startUS >= 0 {
				phaseRange(key, unfinished.startUS, endUS, unfinished.what+" (unfinished)", colorLoss, "still running when the trace ended")
			}
		}
	}
	slices.SortStableFunc(out, func(a, b porcupine.Annotation) int {
		if c := strings.Compare(a.Tag, b.Tag); c != 0 {
			return c
		}
		return cmp.Compare(a.Start, b.Start)
	})
	return out
}

// CrashCause names what caused a crash record: its action attribute (which nemesis: the chaos
// monkey's kill, the source-bounce nemesis's "source-watch", a scripted crash), else its "by"
// label; "" when the record says neither.
func CrashCause(r *trace.Record) string {
	cause, _ := r.Get("action")
	if cause == "" {
		cause, _ = r.Get("by")
	}
	return strings.TrimSuffix(strings.TrimPrefix(cause, "nemesis/"), " kill")
}

// memberName renders a member attribute: the store writes names ("s3", "s2#1"); a bare number is
// a node id.
func memberName(member string) string {
	if member != "" && member[0] >= '0' && member[0] <= '9' {
		return "n" + member
	}
	return member
}

func describeAttrs(r *trace.Record) string {
	parts := make([]string, len(r.Attrs))
	for i, a := range r.Attrs {
		parts[i] = a.Key + "=" + a.Value
	}
	return strings.Join(parts, " ")
}
