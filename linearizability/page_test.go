package linearizability

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/internal/browser"
)

// externalHistory has one illegal key (a put lost: a later read finds nothing), one key with only
// an acknowledged-write violation, and one healthy key.
func externalHistory(t *testing.T) (History, Verdict) {
	t.Helper()
	h := history(
		putOp(1, "ok", "1", 0, 10), getOp(2, "ok", "1", 20, 30),
		putOp(1, "lost", "v", 40, 50), getAbsentOp(2, "lost", 60, 70),
		appendOp(3, "quiet", "a;", 80, 90),
	)
	v, err := CheckHistory(h, testBudget)
	if err != nil {
		t.Fatal(err)
	}
	if v.Result != Illegal || len(v.IllegalKeys) != 1 || v.IllegalKeys[0] != "lost" {
		t.Fatalf("fixture: %v, want key lost illegal", v)
	}
	return h, v
}

// TestReportPageForAnExternalHistory: with only a history and its verdict (no trace, no run, as
// `stateflush check` has), the page has the headline and one panel per failing key with the
// operations, illegal keys first, and says that it has no diagram; it names clients as given.
func TestReportPageForAnExternalHistory(t *testing.T) {
	h, v := externalHistory(t)
	violation := Violation{Check: AcknowledgedWriteCheck, Bucket: NoBucket, Key: "quiet", Message: `the acknowledged append("quiet", "a;") is missing`}
	dir := t.TempDir()
	err := WriteReport(dir, ReportInput{History: h, Verdicts: []Verdict{v}, Violations: []Violation{violation},
		NodeNames: map[int32]string{1: "writer", 2: "reader"}})
	if err != nil {
		t.Fatal(err)
	}
	page := readFile(t, dir, ReportPageFile)
	for _, want := range []string{
		`<span class="verdict" id="verdict">FAIL</span>`,
		`<span id="headline-key">lost</span>`,
		`<dd id="headline-check">linearizability</dd>`,
		`get(&#34;lost&#34;) -&gt; absent by reader at 0.070 ms has no linearization`,
		`data-row="writer"`, `data-row="reader"`,
		`no space-time diagram: the report has no trace`,
		`href="porcupine.html"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if strings.Contains(page, "annotation-row") {
		t.Error("a page without a trace has annotation rows")
	}
	if i, j := strings.Index(page, `data-key="lost"`), strings.Index(page, `data-key="quiet"`); i < 0 || j < 0 || i > j {
		t.Errorf("panels: illegal key lost at %d, violation key quiet at %d; want both, lost first", i, j)
	}
	if strings.Contains(page, `data-key="ok"`) {
		t.Error("the healthy key has a panel")
	}
	if strings.Contains(page, "http://") && !strings.Contains(page, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Error("the page refers to the network")
	}

	dom := browser.DOM(t, filepath.Join(dir, ReportPageFile), 1280, 900)
	for _, want := range []string{`id="verdict">FAIL<`, `data-key="lost"`, `data-key="quiet"`, `data-row="writer"`, `class="operations"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page rendered by Chromium lacks %q", want)
		}
	}
}

// TestReportPagePassesAndLimitsPanels: a passing history gives PASS and no panels; more failing keys
// than maxPanels give maxPanels panels and name the others.
func TestReportPagePassesAndLimitsPanels(t *testing.T) {
	h := history(putOp(1, "k", "1", 0, 10), getOp(2, "k", "1", 20, 30))
	v, err := CheckHistory(h, testBudget)
	if err != nil {
		t.Fatal(err)
	}
	page, err := writePage(ReportInput{History: h, Verdicts: []Verdict{v}}, ReportVisualizationFile, "the whole history", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `id="verdict">PASS<`) || strings.Contains(string(page), `data-key=`) {
		t.Errorf("a linearizable history: want PASS and no panel")
	}

	var ops []Operation
	for i := range maxPanels + 3 {
		key := fmt.Sprintf("k%02d", i)
		ops = append(ops, putOp(1, key, "v", int64(100*i), int64(100*i+10)), getAbsentOp(2, key, int64(100*i+20), int64(100*i+30)))
	}
	many := history(ops...)
	v, err = CheckHistory(many, testBudget)
	if err != nil {
		t.Fatal(err)
	}
	page, err = writePage(ReportInput{History: many, Verdicts: []Verdict{v}}, ReportVisualizationFile, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(page), `<section class="panel" id="panel-`); got != maxPanels {
		t.Errorf("%d failing keys gave %d panels, want %d", len(v.IllegalKeys), got, maxPanels)
	}
	if !strings.Contains(string(page), fmt.Sprintf("k%02d", maxPanels+2)) || !strings.Contains(string(page), `id="omitted"`) {
		t.Error("the keys without a panel are not named")
	}
}
