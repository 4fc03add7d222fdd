package linearizability

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The report page (index.html) is what a person opens first: a headline that says what failed
// (verdict, check, key, bucket, the violation's text, the run and the command that replays it),
// then one panel per failing key, illegal keys first: the key's operations on a time axis, one
// row per client by name, with the trace's faults, view changes, primaries and state-flush phases
// of the key's bucket as rows below them; the operations as a table; the final state of every
// holder of the bucket; and the space-time diagram of the messages that matter, when the caller
// can draw one (ReportInput.Diagram). It is one HTML file with its styles and a few lines of
// script inline, and loads nothing from the network. Porcupine's own visualization is the second
// file (porcupine.html), linked from the page, and opens at the first illegal point.

const (
	// maxPanels bounds the panels of the page, so that it stays quick to read and to load; the
	// headline names the keys left out.
	maxPanels = 12
	// diagramBudget bounds FirstIllegalRead's checks for one panel.
	firstReadBudget = 5 * time.Second
)

type pageData struct {
	Title         string
	Verdict       string // PASS, FAIL, UNKNOWN
	VerdictClass  string
	Counts        string
	Check         string
	Key           string
	Bucket        string
	Violation     string
	Scenario      string
	Seed          string
	Mutants       string
	Description   string
	Replay        string
	Panels        []*panel
	Omitted       []string
	Others        []string // violations that name no key
	Porcupine     string   // file name of porcupine's visualization, "" for none
	PorcupineWhat string
	Problems      []string
}

type panel struct {
	ID          string
	Key         string
	Bucket      string
	Status      string // "illegal", "violation", "unknown"
	Checks      string
	Violations  []string
	Lead        string // what to look at first, in words
	Timeline    template.HTML
	Operations  []opRow
	Events      []eventRow
	Holders     []holderRow
	HoldersNote string
	Diagram     template.HTML
	DiagramNote string
}

// eventRow is one fault, primary change or copy phase in the panel's table of events.
type eventRow struct {
	From, To, Row, What, Details string
	startUS                      int64
}

type opRow struct {
	Client, Call, Return, Operation, Result, Note, Class string
}

type holderRow struct {
	Node, Role, State, Version, LastSeq string
}

// pageKey is one key the page has a panel for.
type pageKey struct {
	key        string
	illegal    bool
	unknown    bool
	violations []Violation
}

// pageKeys are the keys that verdicts and violations name: illegal keys first, then keys with
// other violations, then undecided keys, each in the order the verdicts and violations name them.
func pageKeys(in ReportInput) []*pageKey {
	var keys []*pageKey
	find := func(k string) *pageKey {
		for _, pk := range keys {
			if pk.key == k {
				return pk
			}
		}
		pk := &pageKey{key: k}
		keys = append(keys, pk)
		return pk
	}
	for _, v := range in.Verdicts {
		for _, k := range v.IllegalKeys {
			find(k).illegal = true
		}
	}
	for _, v := range in.Violations {
		if v.Key != "" {
			pk := find(v.Key)
			pk.violations = append(pk.violations, v)
		}
	}
	for _, v := range in.Verdicts {
		for _, k := range v.UnknownKeys {
			find(k).unknown = true
		}
	}
	rank := func(pk *pageKey) int {
		switch {
		case pk.illegal:
			return 0
		case len(pk.violations) > 0:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(keys, func(a, b *pageKey) int { return cmp.Compare(rank(a), rank(b)) })
	return keys
}

// writePage renders index.html.
func writePage(in ReportInput, porcupineFile, porcupineWhat string, problems []error) ([]byte, error) {
	d := pageData{Title: "stateflush report", Scenario: in.Scenario, Seed: in.Seed, Mutants: in.Mutants,
		Description: in.Description, Replay: in.ReplayCommand, Porcupine: porcupineFile, PorcupineWhat: porcupineWhat}
	for _, p := range problems {
		d.Problems = append(d.Problems, p.Error())
	}
	illegal, unknown := 0, 0
	for _, v := range in.Verdicts {
		illegal += len(v.IllegalKeys)
		unknown += len(v.UnknownKeys)
		if v.Result == Illegal && len(v.IllegalKeys) == 0 {
			illegal++ // a whole-history verdict
		}
	}
	anyUnknown := unknown > 0 || slices.ContainsFunc(in.Verdicts, func(v Verdict) bool { return v.Result == Unknown })
	switch {
	case illegal > 0 || len(in.Violations) > 0:
		d.Verdict, d.VerdictClass = "FAIL", "fail"
	case anyUnknown:
		d.Verdict, d.VerdictClass = "UNKNOWN", "unknown"
	case len(in.Verdicts) == 0:
		d.Verdict, d.VerdictClass = "NOT CHECKED", "unknown"
	default:
		d.Verdict, d.VerdictClass = "PASS", "pass"
	}
	d.Counts = fmt.Sprintf("%s, %s, %s", plural(illegal, "illegal key"), plural(len(in.Violations), "violation"), plural(unknown, "undecided key"))
	for _, v := range in.Violations {
		if v.Key == "" {
			d.Others = append(d.Others, v.String())
		}
	}

	keys := pageKeys(in)
	if len(keys) > maxPanels {
		for _, pk := range keys[maxPanels:] {
			d.Omitted = append(d.Omitted, pk.key)
		}
		keys = keys[:maxPanels]
	}
	for i, pk := range keys {
		d.Panels = append(d.Panels, buildPanel(in, pk, i))
	}

	// The headline is the first panel's story; without panels, the first violation's.
	switch {
	case len(d.Panels) > 0:
		p, pk := d.Panels[0], keys[0]
		d.Key, d.Bucket, d.Check = p.Key, p.Bucket, p.Checks
		switch {
		case len(pk.violations) > 0:
			d.Violation = pk.violations[0].Message
			if pk.illegal {
				for _, v := range pk.violations {
					if v.Check != LinearizabilityCheck {
						d.Violation = v.Message
						break
					}
				}
			}
		default:
			d.Violation = p.Lead
		}
	case len(in.Violations) > 0:
		v := in.Violations[0]
		d.Check, d.Violation = string(v.Check), v.Message
		if v.Bucket != NoBucket {
			d.Bucket = fmt.Sprint(v.Bucket)
		}
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// buildPanel assembles one key's panel.
func buildPanel(in ReportInput, pk *pageKey, index int) *panel {
	p := &panel{ID: fmt.Sprintf("panel-%d", index+1), Key: pk.key, Bucket: "?"}
	bucket := NoBucket
	if in.BucketOf != nil {
		bucket = in.BucketOf(pk.key)
	}
	for _, v := range pk.violations {
		if v.Bucket != NoBucket {
			bucket = v.Bucket
		}
	}
	if bucket != NoBucket {
		p.Bucket = fmt.Sprint(bucket)
	}
	var checks []string
	switch {
	case pk.illegal:
		p.Status = "illegal"
		checks = append(checks, string(LinearizabilityCheck))
	case len(pk.violations) > 0:
		p.Status = "violation"
	default:
		p.Status = "unknown"
	}
	for _, v := range pk.violations {
		if !slices.Contains(checks, string(v.Check)) {
			checks = append(checks, string(v.Check))
		}
		p.Violations = append(p.Violations, v.String())
	}
	if pk.unknown && !pk.illegal {
		checks = append(checks, "linearizability (undecided)")
	}
	p.Checks = strings.Join(checks, ", ")

	var ops History
	for _, op := range in.History {
		if op.Key == pk.key {
			ops = append(ops, op)
		}
	}
	// The operations to point at: the acknowledged write a violation says was lost, and the first
	// read that no linearization explains.
	var missed, badRead *Operation
	for _, v := range pk.violations {
		for i := range ops {
			op := &ops[i]
			if op.Kind.IsWrite() && op.InvokeSeq != 0 && slices.Contains(v.TraceSeqs, op.InvokeSeq) && missed == nil {
				missed = op
			}
		}
	}
	if pk.illegal {
		if r, err := FirstIllegalRead(ops, pk.key, firstReadBudget); err == nil {
			badRead = r
		}
	}
	name := func(id int32) string {
		if n, ok := in.NodeNames[id]; ok && n != "" {
			return n
		}
		return fmt.Sprintf("client %d", id)
	}
	switch {
	case badRead != nil:
		p.Lead = fmt.Sprintf("%s by %s at %s has no linearization with the operations before it", describeCall(badRead), name(badRead.Client), msText(badRead.ReturnUS))
	case pk.illegal:
		p.Lead = fmt.Sprintf("the history of key %s has no linearization (no single read shows it: look at the final reads)", pk.key)
	case pk.unknown:
		p.Lead = fmt.Sprintf("the check of key %s did not decide within its budget", pk.key)
	}
	if missed != nil && p.Lead == "" {
		p.Lead = fmt.Sprintf("the acknowledged %s by %s is missing from the final state", describeCall(missed), name(missed.Client))
	}

	for i := range ops {
		op := &ops[i]
		row := opRow{Client: name(op.Client), Call: msText(op.CallUS), Return: msText(op.ReturnUS), Operation: callText(op), Result: resultText(op)}
		switch op {
		case missed:
			row.Note, row.Class = "acknowledged, then lost", "missed"
		case badRead:
			row.Note, row.Class = "no linearization", "illegal"
		}
		p.Operations = append(p.Operations, row)
	}
	p.Timeline = timelineSVG(in, ops, bucket, missed, badRead, name)
	if len(ops) > 0 {
		fromUS, toUS := opWindow(ops)
		for _, a := range bucketAnnotations(traceAnnotations(in.Records, fromUS, toUS, in.NodeNames), bucket) {
			if a.Tag == tagViews {
				continue
			}
			row := a.Tag
			if strings.HasPrefix(row, tagFlush) {
				row = "copy " + strings.TrimPrefix(row, tagFlush)
			}
			p.Events = append(p.Events, eventRow{From: msText(a.Start), To: msText(a.End), Row: row, What: a.Description, Details: a.Details, startUS: a.Start})
		}
		slices.SortStableFunc(p.Events, func(a, b eventRow) int { return cmp.Compare(a.startUS, b.startUS) })
	}
	p.Holders, p.HoldersNote = holderRows(in, pk, bucket)
	if in.Diagram != nil && len(in.Records) > 0 {
		svg, err := in.Diagram(pk.key, missed)
		switch {
		case err != nil:
			p.DiagramNote = "no space-time diagram: " + err.Error()
		default:
			p.Diagram = template.HTML(stripXMLHeader(svg))
		}
	} else {
		p.DiagramNote = "no space-time diagram: the report has no trace"
	}
	return p
}

// stripXMLHeader removes what precedes the <svg element, so that the document can sit inline in
// HTML.
func stripXMLHeader(svg []byte) string {
	s := string(svg)
	if i := strings.Index(s, "<svg"); i > 0 {
		s = s[i:]
	}
	return s
}

func msText(us int64) string {
	if us == InfiniteTimeUS {
		return "never"
	}
	return fmt.Sprintf("%.3f ms", float64(us)/1000)
}

func callText(op *Operation) string {
	switch op.Kind {
	case OpGet, OpRead, OpDelete:
		return fmt.Sprintf("%s(%s)", op.Kind, op.Key)
	}
	return fmt.Sprintf("%s(%s, %q)", op.Kind, op.Key, op.Value)
}

func resultText(op *Operation) string {
	switch {
	case op.Status != StatusOK:
		return string(op.Status)
	case op.Kind == OpGet || op.Kind == OpRead:
		return describePresence(op.Found, op.Output)
	}
	return "ok"
}

// holderRows is the final state of every holder of the bucket for the key: from the violation
// that lists them, else from the report's holdings.
func holderRows(in ReportInput, pk *pageKey, bucket int) ([]holderRow, string) {
	role := func(primary, initialized bool) string {
		switch {
		case primary:
			return "primary"
		case initialized:
			return "copy"
		}
		return "copy (uninitialized)"
	}
	for _, v := range pk.violations {
		if len(v.Holders) == 0 {
			continue
		}
		var rows []holderRow
		for _, h := range v.Holders {
			row := holderRow{Node: nodeLabel(h.Node, h.NodeName), Role: role(h.Primary, h.Initialized), Version: h.Version}
			switch {
			case !h.Present:
				row.State = "no entry"
			case h.Tombstone:
				row.State = "tombstone"
			default:
				row.State = fmt.Sprintf("%q", h.Value)
			}
			if h.LastTraceSeq != 0 {
				row.LastSeq = fmt.Sprint(h.LastTraceSeq)
			}
			rows = append(rows, row)
		}
		return rows, fmt.Sprintf("as the %s check read them after quiescence", v.Check)
	}
	if bucket == NoBucket || len(in.Holdings) == 0 {
		return nil, "the report has no final state of the holders"
	}
	var rows []holderRow
	for _, h := range in.Holdings {
		if h.Bucket != bucket {
			continue
		}
		row := holderRow{Node: nodeLabel(h.Node, h.NodeName), Role: role(h.Primary, h.Initialized), State: "no entry"}
		for _, e := range h.Entries {
			if e.Key == pk.key {
				row.State, row.Version = fmt.Sprintf("%q", e.Value), e.Version
				if e.Tombstone {
					row.State = "tombstone"
				}
			}
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, fmt.Sprintf("no live member holds bucket %d at the end", bucket)
	}
	return rows, "the live members' copies at the end of the run"
}

func nodeLabel(id int32, name string) string {
	if name != "" {
		return fmt.Sprintf("%s (node %d)", name, id)
	}
	return fmt.Sprintf("node %d", id)
}

// ---- the timeline: an SVG drawn here, so that rows have names and labels never overlap ----

const (
	tlWidth      = 1180.0
	tlLabelWidth = 150.0
	tlRight      = 16.0
	tlOpRow      = 30.0
	tlAnnRow     = 24.0
	tlAxis       = 26.0
	tlCharWidth  = 6.6 // of the 11px sans-serif labels, for deciding whether a label fits
)

// timelineSVG draws the key's operations (one row per client) and the trace's annotations for the
// bucket over the operations' time span.
func timelineSVG(in ReportInput, ops History, bucket int, missed, badRead *Operation, name func(int32) string) template.HTML {
	if len(ops) == 0 {
		return template.HTML(`<p class="note">The history has no operation on this key.</p>`)
	}
	fromUS, toUS := opWindow(ops)
	x := func(us int64) float64 {
		us = min(max(us, fromUS), toUS)
		return tlLabelWidth + float64(us-fromUS)/float64(toUS-fromUS)*(tlWidth-tlLabelWidth-tlRight)
	}

	// Rows: clients by id, then the annotation tags in a fixed order.
	var clients []int32
	for _, op := range ops {
		if !slices.Contains(clients, op.Client) {
			clients = append(clients, op.Client)
		}
	}
	slices.Sort(clients)
	annotations := bucketAnnotations(traceAnnotations(in.Records, fromUS, toUS, in.NodeNames), bucket)
	var tags []string
	for _, a := range annotations {
		if !slices.Contains(tags, a.Tag) {
			tags = append(tags, a.Tag)
		}
	}
	order := func(tag string) int {
		switch {
		case tag == tagFaults:
			return 0
		case tag == tagNetwork:
			return 1
		case tag == tagViews:
			return 2
		case tag == tagPrimary:
			return 3
		}
		return 4
	}
	slices.SortStableFunc(tags, func(a, b string) int {
		if c := cmp.Compare(order(a), order(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})

	height := tlAxis + float64(len(clients))*tlOpRow + float64(len(tags))*tlAnnRow + tlAxis
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="operations on key %s over time">`,
		tlWidth, height, template.HTMLEscapeString(ops[0].Key))
	// Axis: ticks at a round step in ms, top and bottom, with grid lines.
	step := niceStep(float64(toUS-fromUS)/1000, 8)
	bottom := height - tlAxis
	for t := math.Ceil(float64(fromUS)/1000/step) * step; t <= float64(toUS)/1000; t += step {
		xt := x(int64(t * 1000))
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, xt, tlAxis-4, xt, bottom+4)
		label := trimFloat(t)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f">%s</text>`, xt, tlAxis-8, label)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f">%s</text>`, xt, bottom+18, label)
	}
	fmt.Fprintf(&b, `<text class="axis-label" x="4" y="%.1f">time (ms)</text>`, tlAxis-8)
	fmt.Fprintf(&b, `<text class="axis-label" x="4" y="%.1f">time (ms)</text>`, bottom+18)

	y := tlAxis
	for _, c := range clients {
		fmt.Fprintf(&b, `<g class="row client-row" data-row="%s">`, template.HTMLEscapeString(name(c)))
		fmt.Fprintf(&b, `<rect class="band" x="0" y="%.1f" width="%.0f" height="%.0f"/>`, y, tlWidth, tlOpRow)
		fmt.Fprintf(&b, `<text class="row-label" x="6" y="%.1f">%s</text>`, y+tlOpRow/2+4, template.HTMLEscapeString(name(c)))
		var labels []rowLabel
		for i := range ops {
			op := &ops[i]
			if op.Client != c {
				continue
			}
			class := "op"
			switch {
			case op == missed:
				class += " missed"
			case op == badRead:
				class += " illegal"
			case op.Status == StatusUnknown:
				class += " unknown"
			case op.Status == StatusFail:
				class += " failed"
			}
			x0 := x(op.CallUS)
			end := op.ReturnUS
			if end == InfiniteTimeUS {
				end = toUS
			}
			w := max(x(end)-x0, 3)
			title := fmt.Sprintf("%s: %s -> %s, %s..%s", name(op.Client), callText(op), resultText(op), msText(op.CallUS), msText(op.ReturnUS))
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.0f" rx="2"><title>%s</title></rect>`,
				class, x0, y+5, w, tlOpRow-10, template.HTMLEscapeString(title))
			labels = append(labels, rowLabel{x: x0 + 2, text: shortOp(op), class: "op-label"})
		}
		writeLabels(&b, labels, y+tlOpRow/2+4)
		b.WriteString(`</g>`)
		y += tlOpRow
	}
	for _, tag := range tags {
		label := tag
		if strings.HasPrefix(tag, tagFlush) {
			label = "copy " + strings.TrimPrefix(tag, tagFlush)
		}
		fmt.Fprintf(&b, `<g class="row annotation-row" data-row="%s">`, template.HTMLEscapeString(label))
		fmt.Fprintf(&b, `<rect class="band ann" x="0" y="%.1f" width="%.0f" height="%.0f"/>`, y, tlWidth, tlAnnRow)
		fmt.Fprintf(&b, `<text class="row-label" x="6" y="%.1f">%s</text>`, y+tlAnnRow/2+4, template.HTMLEscapeString(label))
		var labels []rowLabel
		for _, a := range annotations {
			if a.Tag != tag {
				continue
			}
			x0, x1 := x(a.Start), x(a.End)
			title := template.HTMLEscapeString(fmt.Sprintf("%s (%s..%s): %s", a.Description, msText(a.Start), msText(a.End), a.Details))
			if a.End > a.Start && x1-x0 >= 3 {
				fmt.Fprintf(&b, `<rect class="ann-range" x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"><title>%s</title></rect>`,
					x0, y+3, x1-x0, tlAnnRow-6, a.BackgroundColor, title)
				labels = append(labels, rowLabel{x: x0 + 3, text: a.Description, class: "ann-label"})
			} else {
				fmt.Fprintf(&b, `<path class="ann-instant" d="M%.1f %.1fl5 6l-5 6l-5 -6z" fill="%s"><title>%s</title></path>`,
					x0, y+tlAnnRow/2-6, instantColor(a.BackgroundColor), title)
				labels = append(labels, rowLabel{x: x0 + 7, text: a.Description, class: "ann-label"})
			}
		}
		writeLabels(&b, labels, y+tlAnnRow/2+4)
		b.WriteString(`</g>`)
		y += tlAnnRow
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// opWindow is the time span the timeline shows: the operations' calls and returns, with a margin.
func opWindow(ops History) (fromUS, toUS int64) {
	fromUS, toUS = int64(math.MaxInt64), 0
	for _, op := range ops {
		fromUS = min(fromUS, op.CallUS)
		toUS = max(toUS, op.CallUS)
		if op.ReturnUS != InfiniteTimeUS {
			toUS = max(toUS, op.ReturnUS)
		}
	}
	span := max(toUS-fromUS, 1000)
	return fromUS - span/40, toUS + span/40
}

// rowLabel is a text to write on a timeline row at x, if it fits.
type rowLabel struct {
	x           float64
	text, class string
}

// writeLabels writes the labels of one row after its shapes, so that no shape covers a text, and
// only those that end before the next item of the row begins and start after the previous label
// ended: labels never overlap (every shape keeps its text in its tooltip).
func writeLabels(b *strings.Builder, labels []rowLabel, y float64) {
	textEnd := 0.0
	for i, l := range labels {
		limit := tlWidth - tlRight
		for _, next := range labels[i+1:] {
			if next.x > l.x+1 {
				limit = min(limit, next.x-8)
				break
			}
		}
		width := float64(len([]rune(l.text))) * tlCharWidth
		if l.x < textEnd || l.x+width > limit {
			continue
		}
		fmt.Fprintf(b, `<text class="%s" x="%.1f" y="%.1f">%s</text>`, l.class, l.x, y, template.HTMLEscapeString(l.text))
		textEnd = l.x + width + 4
	}
}

// instantColor darkens an annotation's pastel background so that a small marker stays visible.
func instantColor(background string) string {
	switch background {
	case colorCrash, colorLoss:
		return "#c00000"
	case colorRestart, colorCopy:
		return "#009e73"
	case colorView:
		return "#0072b2"
	case colorPartition:
		return "#a040b0"
	}
	return "#e69f00"
}

// bucketAnnotations keeps the rows that concern the bucket: faults, network and views entirely,
// primary and copy rows only for the bucket (their descriptions start with "b<bucket> ").
func bucketAnnotations(all []porcupine.Annotation, bucket int) []porcupine.Annotation {
	if bucket == NoBucket {
		return all
	}
	prefix := fmt.Sprintf("b%d ", bucket)
	var out []porcupine.Annotation
	for _, a := range all {
		if (a.Tag == tagPrimary || strings.HasPrefix(a.Tag, tagFlush)) && !strings.HasPrefix(a.Description, prefix) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// shortOp is an operation's label on the timeline: "append c9-39;", "get → absent".
func shortOp(op *Operation) string {
	switch op.Kind {
	case OpGet, OpRead:
		if op.Status != StatusOK {
			return string(op.Kind) + " " + string(op.Status)
		}
		if !op.Found {
			return string(op.Kind) + " → absent"
		}
		return fmt.Sprintf("%s → %s", op.Kind, op.Output)
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("%s %s", op.Kind, op.Value)
}

// niceStep is a round tick step (1, 2 or 5 times a power of ten) giving about n ticks over span.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Verdict}}{{if .Key}}: key {{.Key}}{{end}}{{if .Scenario}} · {{.Scenario}}{{end}}{{if .Seed}} seed {{.Seed}}{{end}} · stateflush report</title>
<style>
body { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; margin: 0; color: #1a1a1a; background: #fafafa; }
main { max-width: 1220px; margin: 0 auto; padding: 16px 20px 40px; }
header#headline { background: #fff; border: 1px solid #ddd; border-left: 10px solid #888; padding: 12px 18px; border-radius: 4px; }
header#headline.fail { border-left-color: #c00000; }
header#headline.pass { border-left-color: #009e73; }
header#headline.unknown { border-left-color: #e69f00; }
h1 { margin: 0 0 6px; font-size: 26px; }
h1 .verdict { padding: 0 8px; border-radius: 3px; color: #fff; background: #888; }
.fail h1 .verdict { background: #c00000; } .pass h1 .verdict { background: #009e73; } .unknown h1 .verdict { background: #b37400; }
.counts { color: #555; font-size: 15px; margin-left: 8px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 10px 0; font-size: 15px; }
dl.facts dt { color: #555; } dl.facts dd { margin: 0; }
.violation-text { font-size: 15px; background: #fff4f4; border: 1px solid #f0c8c8; padding: 8px 10px; border-radius: 3px; }
#replay { display: flex; gap: 8px; align-items: center; margin-top: 10px; }
#replay code { flex: 1; background: #1e1e1e; color: #f0f0f0; padding: 8px 10px; border-radius: 3px; font-size: 14px; overflow-x: auto; white-space: nowrap; }
button { font: inherit; padding: 6px 12px; cursor: pointer; }
nav { margin: 14px 0; font-size: 14px; }
nav a { margin-right: 10px; }
section.panel { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 10px 18px 16px; margin: 18px 0; }
section.panel h2 { font-size: 19px; margin: 6px 0; }
.status { font-size: 13px; padding: 1px 7px; border-radius: 3px; color: #fff; vertical-align: middle; }
.status.illegal, .status.violation { background: #c00000; } .status.unknown { background: #b37400; }
h3 { font-size: 15px; margin: 14px 0 6px; color: #333; }
.lead { font-size: 15px; margin: 6px 0; }
ul.violations { font-size: 13px; padding-left: 20px; } ul.violations li { margin: 3px 0; }
svg.timeline { display: block; border: 1px solid #e4e4e4; background: #fff; }
svg.timeline text { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; font-size: 11px; }
svg.timeline .row-label { font-weight: bold; font-size: 12px; }
svg.timeline .band { fill: #fff; stroke: #eee; } svg.timeline .band.ann { fill: #f7f7f7; }
svg.timeline .grid { stroke: #e6e6e6; } svg.timeline .tick { text-anchor: middle; fill: #555; } svg.timeline .axis-label { fill: #555; }
svg.timeline .op { fill: #9bbbd8; stroke: #4a7aa8; } svg.timeline .op.missed { fill: #0072b2; stroke: #003d66; }
svg.timeline .op.illegal { fill: #d00000; stroke: #700000; } svg.timeline .op.unknown { fill: #ddd; stroke: #999; stroke-dasharray: 3 2; }
svg.timeline .op.failed { fill: #eee; stroke: #aaa; }
svg.timeline .op-label { fill: #111; } svg.timeline .ann-label { fill: #222; }
svg.timeline .ann-range { stroke: #00000030; }
.legend { font-size: 12px; color: #444; margin: 4px 0 0; }
.legend span.sw { display: inline-block; width: 12px; height: 10px; margin: 0 4px 0 10px; border: 1px solid #0004; vertical-align: middle; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
tr.missed td { background: #e3f0fa; } tr.illegal td { background: #fde2e2; }
td.value { font-family: monospace; word-break: break-all; max-width: 520px; }
figure.spacetime { margin: 6px 0; overflow-x: auto; }
figure.spacetime svg { max-width: 100%; height: auto; }
.note { color: #555; font-size: 13px; }
pre { white-space: pre-wrap; font-size: 13px; }
ul.violations li, .violation-text, .lead { overflow-wrap: anywhere; }
</style>
</head>
<body>
<main>
<header id="headline" class="{{.VerdictClass}}">
<h1><span class="verdict" id="verdict">{{.Verdict}}</span>{{if .Key}} key <span id="headline-key">{{.Key}}</span>{{end}}<span class="counts">{{.Counts}}</span></h1>
<dl class="facts">
{{if .Check}}<dt>check</dt><dd id="headline-check">{{.Check}}</dd>{{end}}
{{if .Key}}<dt>key</dt><dd>{{.Key}}</dd>{{end}}
{{if .Bucket}}<dt>bucket</dt><dd id="headline-bucket">{{.Bucket}}</dd>{{end}}
{{if .Scenario}}<dt>scenario</dt><dd id="headline-scenario">{{.Scenario}}</dd>{{end}}
{{if .Seed}}<dt>seed</dt><dd id="headline-seed">{{.Seed}}</dd>{{end}}
{{if .Mutants}}<dt>mutants</dt><dd>{{.Mutants}}</dd>{{end}}
</dl>
{{if .Violation}}<div class="violation-text" id="headline-violation">{{.Violation}}</div>{{end}}
{{if .Replay}}<div id="replay"><code id="replay-command">{{.Replay}}</code><button id="copy-replay" type="button">Copy</button></div>{{end}}
</header>
<nav id="contents">
{{range .Panels}}<a href="#{{.ID}}">{{.Key}} ({{.Status}})</a>{{end}}
{{if .Porcupine}}<a id="porcupine-link" href="{{.Porcupine}}">porcupine's visualization of {{.PorcupineWhat}} →</a>{{end}}
<a href="summary.txt">summary.txt</a> <a href="trace.jsonl">trace.jsonl</a> <a href="history.json">history.json</a>
</nav>
{{if .Omitted}}<p class="note" id="omitted">Keys without a panel (the page shows {{len .Panels}}): {{range $i, $k := .Omitted}}{{if $i}}, {{end}}{{$k}}{{end}}. summary.txt and violations.json list everything.</p>{{end}}
{{range .Panels}}
<section class="panel" id="{{.ID}}" data-key="{{.Key}}">
<h2>Key {{.Key}} · bucket {{.Bucket}} <span class="status {{.Status}}">{{.Status}}</span> <span class="note">{{.Checks}}</span></h2>
{{if .Lead}}<p class="lead">{{.Lead}}</p>{{end}}
{{if .Violations}}<ul class="violations">{{range .Violations}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h3>Operations on {{.Key}} over time, with the faults, views, primaries and copies of bucket {{.Bucket}}</h3>
{{.Timeline}}
<p class="legend"><span class="sw" style="background:#9bbbd8"></span>operation (call to return)<span class="sw" style="background:#0072b2"></span>acknowledged write that was lost<span class="sw" style="background:#d00000"></span>read with no linearization<span class="sw" style="background:#ddd"></span>outcome unknown<span class="sw" style="background:#f6c6c6"></span>crash<span class="sw" style="background:#d6ecd2"></span>restart<span class="sw" style="background:#cfe0f7"></span>view / primary<span class="sw" style="background:#fde7b0"></span>announce<span class="sw" style="background:#fbd38d"></span>flush<span class="sw" style="background:#c6e9c1"></span>copy → initialized. Hover for details.</p>
{{if .Events}}<details class="events"><summary>{{len .Events}} faults, primary changes and copy phases of bucket {{.Bucket}} in this window (who crashed what, and when)</summary>
<table class="events"><thead><tr><th>from</th><th>to</th><th>row</th><th>what</th><th>details</th></tr></thead><tbody>
{{range .Events}}<tr><td>{{.From}}</td><td>{{.To}}</td><td>{{.Row}}</td><td>{{.What}}</td><td class="value">{{.Details}}</td></tr>
{{end}}</tbody></table></details>{{end}}
<h3>Operations</h3>
<table class="operations"><thead><tr><th>client</th><th>call</th><th>return</th><th>operation</th><th>result</th><th></th></tr></thead><tbody>
{{range .Operations}}<tr class="{{.Class}}"><td>{{.Client}}</td><td>{{.Call}}</td><td>{{.Return}}</td><td class="value">{{.Operation}}</td><td class="value">{{.Result}}</td><td>{{.Note}}</td></tr>
{{end}}</tbody></table>
<h3>Final state of the holders of bucket {{.Bucket}}</h3>
{{if .Holders}}<table class="holders"><thead><tr><th>holder</th><th>role</th><th>{{.Key}}</th><th>version</th><th>last trace seq</th></tr></thead><tbody>
{{range .Holders}}<tr><td>{{.Node}}</td><td>{{.Role}}</td><td class="value">{{.State}}</td><td>{{.Version}}</td><td>{{.LastSeq}}</td></tr>
{{end}}</tbody></table>{{end}}
<p class="note">{{.HoldersNote}}</p>
<h3>Space-time diagram of the messages that matter</h3>
{{if .Diagram}}<figure class="spacetime">{{.Diagram}}</figure>{{end}}
{{if .DiagramNote}}<p class="note">{{.DiagramNote}}</p>{{end}}
</section>
{{end}}
{{if .Others}}<section class="panel" id="other-violations"><h2>Violations that name no key</h2><ul class="violations">{{range .Others}}<li>{{.}}</li>{{end}}</ul></section>{{end}}
{{if .Description}}<section class="panel" id="run"><h2>The run</h2><pre>{{.Description}}</pre></section>{{end}}
{{if .Problems}}<section class="panel" id="problems"><h2>Problems writing this report</h2><ul>{{range .Problems}}<li>{{.}}</li>{{end}}</ul></section>{{end}}
</main>
<script>
(function () {
  var button = document.getElementById('copy-replay');
  if (!button) return;
  button.addEventListener('click', function () {
    var text = document.getElementById('replay-command').textContent;
    var done = function () { button.textContent = 'Copied'; setTimeout(function () { button.textContent = 'Copy'; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done); return; }
    var range = document.createRange();
    range.selectNodeContents(document.getElementById('replay-command'));
    var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
    try { document.execCommand('copy'); done(); } catch (e) { button.textContent = 'Selected: press Ctrl+C'; }
  });
})();
</script>
</body>
</html>
`))
