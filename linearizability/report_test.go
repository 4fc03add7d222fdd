package linearizability

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

// failoverTrace is a small run in which a new replica misses an acknowledged put: client 5 writes
// k=v1 then k=v2, the chaos monkey crashes the primary, node 2 becomes primary after a state flush,
// and client 6 reads the stale v1.
func failoverTrace() []trace.Record {
	var b traceBuilder
	at := func(timeUS int64, r trace.Record) uint64 {
		r.TimeUS = timeUS
		return b.add(r)
	}
	event := func(timeUS int64, node int32, name string, attrs ...string) {
		r := trace.Record{Kind: trace.KindEvent, Node: node, Name: name}
		for i := 0; i+1 < len(attrs); i += 2 {
			r.Attrs = append(r.Attrs, trace.Attr{Key: attrs[i], Value: attrs[i+1]})
		}
		at(timeUS, r)
	}
	for n := int32(0); n < 3; n++ {
		event(100+int64(n), n, protocol.EventViewChange, "view", "1", "members", "0,1,2")
	}
	event(200, 5, protocol.EventOpInvoke, "client", "5", "seq", "1", "op", "put", "key", "k", "value", "v1")
	event(300, 5, protocol.EventOpReturn, "client", "5", "seq", "1", "status", "ok")
	event(400, 5, protocol.EventOpInvoke, "client", "5", "seq", "2", "op", "put", "key", "k", "value", "v2")
	event(420, 0, "apply", "bucket", "0", "key", "k")
	event(500, 5, protocol.EventOpReturn, "client", "5", "seq", "2", "status", "ok")
	event(450, 6, protocol.EventOpInvoke, "client", "6", "seq", "1", "op", "get", "key", "j")
	event(520, 6, protocol.EventOpReturn, "client", "6", "seq", "1", "status", "ok", "found", "false")
	event(560, 2, protocol.EventAnnounceSent, "bucket", "0", "replica", "2")
	event(580, 2, protocol.EventAnnounceComplete, "bucket", "0", "replica", "2")
	event(590, 2, protocol.EventMarkerSent, "bucket", "0", "replica", "2", "source", "1")
	at(600, trace.Record{Kind: trace.KindCrash, Node: 0, Attrs: []trace.Attr{{Key: "by", Value: "chaos-monkey"}}})
	at(650, trace.Record{Kind: trace.KindFault, Node: -1, Peer: -1, Name: "partition", Attrs: []trace.Attr{{Key: "a", Value: "[1]"}, {Key: "b", Value: "[3]"}}})
	event(700, 1, protocol.EventPrimaryChange, "bucket", "0", "primary", "1")
	event(800, 2, protocol.EventFlushComplete, "bucket", "0", "replica", "2")
	event(820, 2, protocol.EventImageChunkApplied, "bucket", "0", "replica", "2")
	event(840, 2, protocol.EventImageChunkApplied, "bucket", "0", "replica", "2")
	event(900, 2, protocol.EventInitialized, "bucket", "0", "replica", "2")
	at(950, trace.Record{Kind: trace.KindFault, Node: -1, Peer: -1, Name: "heal"})
	event(960, 2, protocol.EventPrimaryChange, "bucket", "0", "primary", "2")
	event(1000, 6, protocol.EventOpInvoke, "client", "6", "seq", "2", "op", "get", "key", "k")
	event(1100, 6, protocol.EventOpReturn, "client", "6", "seq", "2", "status", "ok", "found", "true", "value", "v1")
	event(1150, 5, protocol.EventOpInvoke, "client", "5", "seq", "3", "op", "put", "key", "k", "value", "late")
	at(1200, trace.Record{Kind: trace.KindEnd, Node: -1, Name: "quiescent"})
	// Trace times must not decrease: the events above were listed by topic, so sort them.
	return sortedByTime(b.records)
}

func sortedByTime(records []trace.Record) []trace.Record {
	out := append([]trace.Record(nil), records...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].TimeUS < out[j-1].TimeUS; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	for i := range out {
		out[i].Seq = uint64(i + 1)
	}
	return out
}

func TestWriteReportFromTraceToVerdict(t *testing.T) {
	records := failoverTrace()
	h, err := HistoryFromTrace(records)
	if err != nil {
		t.Fatal(err)
	}
	verdict, err := CheckHistory(h, testBudget)
	if err != nil {
		t.Fatal(err)
	}
	if verdict.Result != Illegal || len(verdict.IllegalKeys) != 1 || verdict.IllegalKeys[0] != "k" {
		t.Fatalf("got %v, want illegal key k", verdict)
	}
	holdings := []Holding{{Node: 2, NodeName: "s2", Bucket: 0, Primary: true, Initialized: true, Entries: entries("k", "v1", "1")}}
	violations, err := CheckAcknowledgedWrites(h, holdings, func(string) int { return 0 }, records)
	if err != nil {
		t.Fatal(err)
	}
	if len(violations) != 1 {
		t.Fatalf("want the lost put, got:\n%s", describeViolations(violations))
	}
	dir := filepath.Join(t.TempDir(), "report")
	if keep := os.Getenv("STATEFLUSH_KEEP_REPORT"); keep != "" {
		dir = keep // to open the report in a browser: STATEFLUSH_KEEP_REPORT=/tmp/report go test -run FromTrace
	}
	replay := "go run ./cmd/stateflush replay -seed 42 -scenario failover"
	err = WriteReport(dir, ReportInput{
		Description:      "scenario failover, seed 42, mutant skip-flush",
		ReplayCommand:    replay,
		Records:          records,
		TraceDescription: json.RawMessage(`{"seed":42}`),
		History:          h,
		Verdicts:         []Verdict{verdict},
		Violations:       violations,
		NodeNames:        map[int32]string{0: "s0", 1: "s1", 2: "s2"},
	})
	if err != nil {
		t.Fatal(err)
	}

	html := readFile(t, dir, ReportVisualizationFile)
	for _, text := range []string{"crash n0 s0 by chaos-monkey", "flush n2 s2", "b0 announce", "b0 flush", "b0 copy → initialized", `"Tag":"network"`, "partition", "view 1", "b0 primary n2", `get(\"k\") -\u003e \"v1\"`} {
		if !strings.Contains(html, text) {
			t.Errorf("index.html lacks %q", text)
		}
	}
	summary := readFile(t, dir, ReportSummaryFile)
	for _, text := range []string{replay, "ILLEGAL", `illegal keys: "k"`, "[acknowledged-write] bucket 0 key \"k\"", "seed 42", "0=client 5;", "2=client 5 op #3 (outcome unknown)"} {
		if !strings.Contains(summary, text) {
			t.Errorf("summary.txt lacks %q:\n%s", text, summary)
		}
	}
	if script := readFile(t, dir, ReportReplayFile); !strings.Contains(script, replay+"\n") {
		t.Errorf("replay.sh = %q", script)
	}
	if info, err := os.Stat(filepath.Join(dir, ReportReplayFile)); err != nil || info.Mode()&0o100 == 0 {
		t.Errorf("replay.sh is not executable: %v %v", info, err)
	}
	f, err := os.Open(filepath.Join(dir, ReportTraceFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	header, readBack, err := trace.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(readBack, records) || string(header.Description) != `{"seed":42}` {
		t.Error("trace.jsonl does not read back as the trace")
	}
	readHistory, err := ReadHistoryFile(filepath.Join(dir, ReportHistoryFile))
	if err != nil || !reflect.DeepEqual(readHistory, h) {
		t.Errorf("history.json does not read back as the history: %v", err)
	}
	var parsed struct {
		Verdicts   []Verdict
		Violations []Violation
	}
	if err := json.Unmarshal([]byte(readFile(t, dir, ReportViolationsFile)), &parsed); err != nil || len(parsed.Violations) != 1 || parsed.Verdicts[0].Result != Illegal {
		t.Errorf("violations.json: %v %+v", err, parsed)
	}
}

func TestWriteReportIsTolerant(t *testing.T) {
	records := failoverTrace()
	records[3].Seq = records[2].Seq // sim/trace refuses a Seq that does not increase
	bad := history(putOp(1, "k", "v", 10, 5))
	dir := t.TempDir()
	err := WriteReport(dir, ReportInput{Records: records, History: bad})
	if err == nil {
		t.Fatal("want an error naming the refused trace and the invalid history")
	}
	for _, name := range []string{ReportVisualizationFile, ReportTraceFile, ReportHistoryFile, ReportSummaryFile, ReportViolationsFile, ReportReplayFile} {
		if _, statErr := os.Stat(filepath.Join(dir, name)); statErr != nil {
			t.Errorf("%s not written: %v", name, statErr)
		}
	}
	summary := readFile(t, dir, ReportSummaryFile)
	if !strings.Contains(summary, "Problems writing this report") || !strings.Contains(summary, "unvalidated") || !strings.Contains(summary, "refused") {
		t.Errorf("summary does not state the problems:\n%s", summary)
	}
	lines := strings.Count(readFile(t, dir, ReportTraceFile), "\n")
	if lines != len(records) {
		t.Errorf("fallback trace has %d lines, want %d records", lines, len(records))
	}
	if !strings.Contains(readFile(t, dir, ReportReplayFile), "no replay command") {
		t.Error("replay.sh without a command should say so")
	}
}

func TestWriteReportChoosesWhatToVisualize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    ReportInput
		want  string
		lacks string
	}{
		{"snapshots: the whole store", ReportInput{History: history(putOp(1, "a", "1", 0, 10), snapshotOp(2, map[string]string{"a": "1"}, 20, 30))},
			"the whole history as one partition (the store model", ""},
		{"small history, nothing named", ReportInput{History: history(putOp(1, "a", "1", 0, 10), getOp(2, "b", "x", 20, 30))},
			"the whole history, one partition per key", ""},
		{"named keys only", ReportInput{History: history(putOp(1, "a", "1", 0, 10), putOp(1, "b", "1", 0, 10)), Violations: []Violation{{Key: "b"}}},
			`keys shown: "b"`, `"a"`},
		{"large history, nothing named", ReportInput{History: history(putOp(1, "a", "1", 0, 10), putOp(1, "b", "1", 0, 10)), MaxVisualizedOperations: 1},
			"only the trace annotations", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteReport(dir, tc.in); err != nil {
				t.Fatal(err)
			}
			summary := readFile(t, dir, ReportSummaryFile)
			if !strings.Contains(summary, tc.want) || (tc.lacks != "" && strings.Contains(summary, tc.lacks)) {
				t.Errorf("summary should contain %q and not %q:\n%s", tc.want, tc.lacks, summary)
			}
		})
	}
	if err := WriteReport("", ReportInput{}); err == nil {
		t.Error("empty directory accepted")
	}
}

// TestWriteReportReChecksWithTheHistorysModel: the visualization re-checks with the model the
// history was checked against, a model of one's own included (its operations are the history's,
// not the built-in models' inputs).
func TestWriteReportReChecksWithTheHistorysModel(t *testing.T) {
	bad := history(
		Operation{Client: 1, Kind: "incr", Status: StatusOK, CallUS: 0, ReturnUS: 10},
		Operation{Client: 3, Kind: "read", Found: true, Output: "0", Status: StatusOK, CallUS: 20, ReturnUS: 30})
	v, err := CheckHistory(bad, testBudget, WithModel(counterModel))
	if err != nil || v.Result != Illegal {
		t.Fatalf("got %v, %v; want illegal", v, err)
	}
	dir := t.TempDir()
	if err := WriteReport(dir, ReportInput{History: bad, Model: &counterModel, Verdicts: []Verdict{v}}); err != nil {
		t.Fatal(err)
	}
	if summary := readFile(t, dir, ReportSummaryFile); !strings.Contains(summary, "re-checked: illegal") {
		t.Errorf("the re-check should use the counter model and find the read illegal:\n%s", summary)
	}
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimPrefix(data, []byte{0xef, 0xbb, 0xbf}))
}
