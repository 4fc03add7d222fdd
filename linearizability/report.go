package linearizability

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stateflush/stateflush/sim/trace"
)

// ReportInput is everything a report says. Every field is optional except that an empty report
// says little.
type ReportInput struct {
	// Description is free-form text shown at the top of summary.txt (scenario, seed, mutant).
	Description string
	// ReplayCommand is the exact command that reproduces the run.
	ReplayCommand string
	// ReplayScript is the whole of replay.sh; empty for a script that runs ReplayCommand.
	ReplayScript string
	// Records is the run's trace.
	Records []trace.Record
	// TraceDescription is the trace file header's description (JSON, e.g. seed and scenario);
	// empty for none.
	TraceDescription json.RawMessage
	// History is the clients' history.
	History History
	// Model is the model the history was checked against, which the visualization re-checks with;
	// nil means the one CheckHistory picks for the history (ModelFor).
	Model *Model
	// Verdicts are the linearizability verdicts of the run; Violations what the other checks found.
	Verdicts   []Verdict
	Violations []Violation
	// NodeNames names nodes in the visualization (optional).
	NodeNames map[int32]string
	// VisualizationBudget bounds the re-check that computes the linearizations the visualization
	// shows; 0 means DefaultVisualizationBudget.
	VisualizationBudget time.Duration
	// MaxVisualizedOperations: when no verdict or violation names a key, the whole history is
	// visualized if it has at most this many operations; 0 means DefaultMaxVisualizedOperations.
	MaxVisualizedOperations int

	// Scenario, Seed and Mutants are the run's, for the page's headline (empty for a history
	// that does not come from the simulator).
	Scenario, Seed, Mutants string
	// Holdings are the live members' bucket copies at the end, for the final state of every
	// holder of a failing key's bucket (violations that list holders take precedence).
	Holdings []Holding
	// BucketOf maps a key to its bucket; nil when keys have no buckets.
	BucketOf func(key string) int
	// Diagram draws the space-time diagram of a failing key as an SVG document; write is the
	// acknowledged write a violation says was lost (nil when none does). Nil for no diagrams; it is
	// called only when Records is not empty.
	Diagram func(key string, write *Operation) ([]byte, error)
}

// Defaults for ReportInput's optional limits.
const (
	DefaultVisualizationBudget     = 10 * time.Second
	DefaultMaxVisualizedOperations = 2000
	// maxVisualizedKeys bounds how many named keys the visualization shows, so that the page stays
	// usable; the summary lists the rest.
	maxVisualizedKeys = 20
)

// Files of a report directory.
const (
	ReportPageFile          = "index.html"
	ReportVisualizationFile = "porcupine.html"
	ReportHistoryFile       = "history.json"
	ReportTraceFile         = "trace.jsonl"
	ReportSummaryFile       = "summary.txt"
	ReportViolationsFile    = "violations.json"
	ReportReplayFile        = "replay.sh"
)

// WriteReport writes a report directory that a person can open:
//
//   - index.html: the report page (see page.go): a headline with the verdict, check, key,
//     bucket, violation, run and replay command, then one panel per failing key (illegal keys
//     first) with its operations on a time axis by client name, the faults (crashes and who
//     caused them: the "by" attribute, e.g. the chaos monkey), partitions, view changes, primaries
//     and state-flush phases (announce, flush, copy, initialized) of its bucket as rows, the
//     final state of every holder and, with ReportInput.Diagram, a space-time diagram. With only
//     a history (no trace, e.g. `stateflush check`), the page has the headline and the
//     operations;
//   - porcupine.html: porcupine's self-contained visualization of the failing partitions (the
//     illegal keys when there are any, else the keys that violations name; the whole history when
//     it has snapshots or is small and nothing narrower is named), with the same annotation rows,
//     opened at the first illegal point;
//   - trace.jsonl: the trace, in sim/trace's JSON Lines format;
//   - history.json: the history (see WriteHistory);
//   - violations.json: the verdicts and violations, for tools;
//   - summary.txt: the verdicts and violations in words, what the visualization shows, and the
//     replay command;
//   - replay.sh: the replay command as an executable script.
//
// The writer is tolerant: a part that cannot be produced (an invalid history, a trace that
// sim/trace refuses) is written as well as it can be and the problem is stated in summary.txt;
// the error returned joins those problems with any I/O error, after every file was attempted.
func WriteReport(dir string, in ReportInput) error {
	if dir == "" {
		return fmt.Errorf("%w: report directory is empty", ErrInvalidParameter)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var problems []error
	note := func(err error) {
		if err != nil {
			problems = append(problems, err)
		}
	}

	visualized, visualizationErr := writeVisualization(filepath.Join(dir, ReportVisualizationFile), in)
	note(visualizationErr)
	note(writeTraceFile(filepath.Join(dir, ReportTraceFile), in.TraceDescription, in.Records))
	note(writeHistoryFileTolerant(filepath.Join(dir, ReportHistoryFile), in.History, in.Model))
	note(writeJSONFile(filepath.Join(dir, ReportViolationsFile), struct {
		Verdicts   []Verdict   `json:"verdicts"`
		Violations []Violation `json:"violations"`
	}{in.Verdicts, in.Violations}))
	script := "#!/bin/sh\n# Reproduces the run this report describes.\n"
	if in.ReplayScript != "" {
		script = in.ReplayScript
	} else if in.ReplayCommand != "" {
		script += in.ReplayCommand + "\n"
	} else {
		script += "echo 'no replay command was recorded' >&2; exit 1\n"
	}
	note(os.WriteFile(filepath.Join(dir, ReportReplayFile), []byte(script), 0o755))
	note(os.WriteFile(filepath.Join(dir, ReportSummaryFile), []byte(summaryText(in, visualized, problems)), 0o644))
	page, err := writePage(in, ReportVisualizationFile, visualized.what, problems)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, ReportPageFile), page, 0o644)
	}
	note(err)
	return errors.Join(problems...)
}

// visualization says what index.html shows, for the summary.
type visualization struct {
	what       string
	keys       []string
	omitted    []string // named keys left out to keep the page usable
	rows       []string // row label -> what it holds, for client rows
	result     Result
	operations int
}

func writeVisualization(path string, in ReportInput) (visualization, error) {
	var vis visualization
	if err := in.model().validate(in.History); err != nil {
		vis.what = "nothing: the history is invalid"
		return vis, writeAnnotationsOnly(path, in, err)
	}
	model, ops := selectForVisualization(in, &vis)
	budget := in.VisualizationBudget
	if budget <= 0 {
		budget = DefaultVisualizationBudget
	}
	vis.operations = len(ops)
	vis.rows = assignRows(ops)
	result, info := porcupine.CheckOperationsVerbose(model, ops, budget)
	vis.result = fromPorcupine(result)
	info.AddAnnotations(annotationsFor(in, ops))
	var buf bytes.Buffer
	if err := porcupine.Visualize(model, info, &buf); err != nil {
		return vis, fmt.Errorf("visualization: %w", err)
	}
	return vis, os.WriteFile(path, openAtFirstError(buf.Bytes()), 0o644)
}

// model is the model the history was checked against (ModelFor the history when none is given).
func (in ReportInput) model() *Model {
	if in.Model != nil {
		return in.Model
	}
	m := ModelFor(in.History)
	return &m
}

// selectForVisualization picks the operations the visualization shows and the model to show them
// with.
func selectForVisualization(in ReportInput, vis *visualization) (porcupine.Model, []porcupine.Operation) {
	m := in.model()
	model := m.searchModel()
	all := m.operations(in.History)
	if !m.PerKey {
		vis.what = fmt.Sprintf("the whole history as one partition (the %s model is not per key)", m.Name)
		return model, all
	}
	named := illegalKeys(in)
	what := "the %d keys that no linearization explains"
	if len(named) == 0 {
		named, what = namedKeys(in), "the partitions of the %d keys named by verdicts and violations"
	}
	if len(named) > 0 {
		if len(named) > maxVisualizedKeys {
			vis.omitted = named[maxVisualizedKeys:]
			named = named[:maxVisualizedKeys]
		}
		vis.keys = named
		vis.what = fmt.Sprintf(what, len(named))
		var ops []porcupine.Operation
		for _, op := range all {
			if slices.Contains(named, operationKey(op)) {
				ops = append(ops, op)
			}
		}
		return model, ops
	}
	limit := in.MaxVisualizedOperations
	if limit <= 0 {
		limit = DefaultMaxVisualizedOperations
	}
	if len(all) <= limit {
		vis.what = "the whole history, one partition per key"
		return model, all
	}
	vis.what = fmt.Sprintf("only the trace annotations: no key is named and the history has %d operations (more than %d)", len(all), limit)
	return model, nil
}

// illegalKeys are the keys that verdicts found illegal or undecided, illegal ones first: what
// porcupine's visualization can show a person (a key it finds linearizable shows only valid
// points, whatever other checks say about it).
func illegalKeys(in ReportInput) []string {
	var keys []string
	for _, v := range in.Verdicts {
		keys = append(keys, v.IllegalKeys...)
	}
	if len(keys) == 0 {
		return nil
	}
	for _, v := range in.Verdicts {
		keys = append(keys, v.UnknownKeys...)
	}
	var out []string
	for _, k := range keys {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// namedKeys are the keys that Illegal or Unknown verdicts and violations name, illegal ones first.
func namedKeys(in ReportInput) []string {
	var keys []string
	add := func(k string) {
		if k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, v := range in.Verdicts {
		for _, k := range v.IllegalKeys {
			add(k)
		}
	}
	for _, v := range in.Violations {
		add(v.Key)
	}
	for _, v := range in.Verdicts {
		for _, k := range v.UnknownKeys {
			add(k)
		}
	}
	return keys
}

// assignRows sets each operation's ClientId to its visualization row: one row per client (in
// client order), then one row per operation of unknown outcome, which never returns and would hide
// its client's later operations. It returns what each row holds.
func assignRows(ops []porcupine.Operation) []string {
	var clients []int32
	for _, op := range ops {
		if client, _, unknown := operationOrigin(op); !unknown && !slices.Contains(clients, client) {
			clients = append(clients, client)
		}
	}
	slices.Sort(clients)
	rows := make([]string, len(clients))
	for i, c := range clients {
		rows[i] = fmt.Sprintf("client %d", c)
	}
	for i := range ops {
		client, seq, unknown := operationOrigin(ops[i])
		if unknown {
			ops[i].ClientId = len(rows)
			rows = append(rows, fmt.Sprintf("client %d op #%d (outcome unknown)", client, seq))
			continue
		}
		ops[i].ClientId = slices.Index(clients, client)
	}
	return rows
}

// annotationsFor returns the trace annotations around the visualized operations' time span (the
// whole trace when there are none).
func annotationsFor(in ReportInput, ops []porcupine.Operation) []porcupine.Annotation {
	fromUS, toUS := int64(0), InfiniteTimeUS
	if len(ops) > 0 {
		fromUS, toUS = InfiniteTimeUS, 0
		for _, op := range ops {
			fromUS = min(fromUS, op.Call)
			toUS = max(toUS, op.Call)
			if op.Return != InfiniteTimeUS {
				toUS = max(toUS, op.Return)
			}
		}
	}
	return traceAnnotations(in.Records, fromUS, toUS, in.NodeNames)
}

// jumpToFirstError clicks porcupine's own "jump to first error" link once the page has rendered,
// so that the visualization opens at the first illegal point (the link is inactive without one).
const jumpToFirstError = `<script>
window.addEventListener('load', function () {
  var jump = document.querySelector('#jump-link');
  if (!jump || jump.classList.contains('inactive')) { return; }
  jump.dispatchEvent(new Event('click'));
  // Porcupine scrolls smoothly, which a page opened in the background may never finish: scroll to
  // the leftmost visible illegal point at once.
  var points = Array.from(document.querySelectorAll('.linearization-invalid.linearization-point'))
    .filter(function (p) { return !p.closest('.hidden'); });
  points.sort(function (a, b) { return a.x1.baseVal.value - b.x1.baseVal.value; });
  if (points.length > 0) { points[0].scrollIntoView({block: 'center', inline: 'center'}); }
});
</script>
`

// openAtFirstError adds jumpToFirstError to porcupine's page and names the page.
func openAtFirstError(page []byte) []byte {
	page = bytes.Replace(page, []byte("<title>Porcupine</title>"), []byte("<title>Porcupine: linearizability of the failing keys · stateflush report</title>"), 1)
	if i := bytes.LastIndex(page, []byte("</body>")); i >= 0 {
		return slices.Concat(page[:i], []byte(jumpToFirstError), page[i:])
	}
	return append(page, jumpToFirstError...)
}

func writeAnnotationsOnly(path string, in ReportInput, cause error) error {
	var info porcupine.LinearizationInfo
	info.AddAnnotations(traceAnnotations(in.Records, 0, InfiniteTimeUS, in.NodeNames))
	var buf bytes.Buffer
	if err := porcupine.Visualize(RegisterModel, info, &buf); err != nil {
		return errors.Join(cause, fmt.Errorf("visualization: %w", err))
	}
	return errors.Join(cause, os.WriteFile(path, buf.Bytes(), 0o644))
}

// writeTraceFile writes the trace with sim/trace's encoder. If the encoder refuses the records, it
// writes them one JSON object per line anyway, so that nothing is lost, and reports why.
func writeTraceFile(path string, description json.RawMessage, records []trace.Record) error {
	var buf bytes.Buffer
	err := trace.Write(&buf, trace.Header{Description: description}, records)
	if err == nil {
		return os.WriteFile(path, buf.Bytes(), 0o644)
	}
	buf.Reset()
	encoder := json.NewEncoder(&buf)
	for i := range records {
		if encodeErr := encoder.Encode(&records[i]); encodeErr != nil {
			return errors.Join(err, encodeErr)
		}
	}
	return errors.Join(fmt.Errorf("trace written without a header, one record per line, because sim/trace refused it: %w", err),
		os.WriteFile(path, buf.Bytes(), 0o644))
}

// writeHistoryFileTolerant writes the history; an invalid one is written unvalidated, so that the
// report still shows what was recorded. A history checked with a model of one's own is valid by
// that model's rules (its kinds are not the store's), and is written as it is.
func writeHistoryFileTolerant(path string, h History, model *Model) error {
	if model != nil && !model.builtin {
		if err := model.validate(h); err != nil {
			return errors.Join(fmt.Errorf("history written unvalidated: %w", err),
				writeJSONFile(path, historyFile{Format: HistoryFormat, Version: HistoryVersion, Operations: h}))
		}
		return writeJSONFile(path, historyFile{Format: HistoryFormat, Version: HistoryVersion, Operations: h})
	}
	if err := h.Validate(); err != nil {
		return errors.Join(fmt.Errorf("history written unvalidated: %w", err),
			writeJSONFile(path, historyFile{Format: HistoryFormat, Version: HistoryVersion, Operations: h}))
	}
	return WriteHistoryFile(path, h)
}

func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func summaryText(in ReportInput, vis visualization, problems []error) string {
	var b strings.Builder
	b.WriteString("stateflush check report\n=======================\n\n")
	if in.Description != "" {
		b.WriteString(strings.TrimRight(in.Description, "\n") + "\n\n")
	}
	fmt.Fprintf(&b, "Verdicts (%d):\n", len(in.Verdicts))
	if len(in.Verdicts) == 0 {
		b.WriteString("  (no linearizability check)\n")
	}
	for _, v := range in.Verdicts {
		fmt.Fprintf(&b, "  - linearizability: %s\n", v)
	}
	fmt.Fprintf(&b, "\nViolations (%d):\n", len(in.Violations))
	if len(in.Violations) == 0 {
		b.WriteString("  (none)\n")
	}
	for i, v := range in.Violations {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, v)
	}
	fmt.Fprintf(&b, "\nReplay:\n  %s\n", orNone(in.ReplayCommand))
	b.WriteString("\nFiles:\n")
	fmt.Fprintf(&b, "  %s  the report page: headline, then one panel per failing key (operations by client, faults, views, primaries, copies, final state, space-time diagram)\n", ReportPageFile)
	fmt.Fprintf(&b, "  %s  porcupine visualization of %s", ReportVisualizationFile, vis.what)
	if vis.operations > 0 {
		fmt.Fprintf(&b, "; %d operations, re-checked: %s", vis.operations, vis.result)
	}
	b.WriteString("\n")
	if len(vis.keys) > 0 {
		fmt.Fprintf(&b, "      keys shown: %s\n", quoteList(vis.keys, maxVisualizedKeys))
	}
	if len(vis.omitted) > 0 {
		fmt.Fprintf(&b, "      keys not shown (page size): %s\n", quoteList(vis.omitted, 50))
	}
	if len(vis.rows) > 0 {
		b.WriteString("      rows:")
		for i, r := range vis.rows {
			fmt.Fprintf(&b, " %d=%s;", i, r)
		}
		b.WriteString(" then one row per annotation tag (faults, flush <replica>, network, primary, views)\n")
	}
	fmt.Fprintf(&b, "  %s  the trace (%d records)\n", ReportTraceFile, len(in.Records))
	fmt.Fprintf(&b, "  %s  the history (%d operations)\n", ReportHistoryFile, len(in.History))
	fmt.Fprintf(&b, "  %s  verdicts and violations as JSON\n", ReportViolationsFile)
	fmt.Fprintf(&b, "  %s  the replay command\n", ReportReplayFile)
	if len(problems) > 0 {
		b.WriteString("\nProblems writing this report:\n")
		for _, p := range problems {
			fmt.Fprintf(&b, "  - %v\n", p)
		}
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(none recorded)"
	}
	return s
}
