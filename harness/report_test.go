package harness

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/internal/browser"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "rewrite docs/report-page.png, the README's screenshot of the report page, from this run")

// probeScript runs in the rendered page and reports what a reader sees: the headline's fields, each
// panel's rows and parts, whether anything is wider than the window, and which resources the page
// loaded (none: it is self-contained).
const probeScript = `<script>
window.addEventListener('load', function () {
  var text = function (sel) { var e = document.querySelector(sel); return e ? e.textContent.trim() : ''; };
  var panels = Array.from(document.querySelectorAll('section.panel[data-key]')).map(function (p) {
    var tl = p.querySelector('svg.timeline');
    var diagram = p.querySelector('figure.spacetime svg');
    return {
      key: p.dataset.key,
      status: p.querySelector('.status').textContent,
      height: p.getBoundingClientRect().height,
      clientRows: Array.from(p.querySelectorAll('svg.timeline .client-row')).map(function (r) { return r.dataset.row; }),
      annotationRows: Array.from(p.querySelectorAll('svg.timeline .annotation-row')).map(function (r) { return r.dataset.row; }),
      opBars: p.querySelectorAll('svg.timeline rect.op').length,
      timelineWidth: tl ? tl.getBoundingClientRect().width : 0,
      operations: p.querySelectorAll('table.operations tbody tr').length,
      holders: p.querySelectorAll('table.holders tbody tr').length,
      events: Array.from(p.querySelectorAll('table.events tbody tr td:nth-child(4)')).map(function (td) { return td.textContent; }),
      diagramWidth: diagram ? diagram.getBoundingClientRect().width : 0
    };
  });
  var result = {
    verdict: text('#verdict'), key: text('#headline-key'), check: text('#headline-check'), bucket: text('#headline-bucket'),
    violation: text('#headline-violation'), scenario: text('#headline-scenario'), seed: text('#headline-seed'),
    replay: text('#replay-command'), copyButton: !!document.querySelector('#copy-replay'),
    headlineBottom: document.querySelector('#headline').getBoundingClientRect().bottom,
    porcupine: (document.querySelector('#porcupine-link') || {getAttribute: function () { return ''; }}).getAttribute('href'),
    panels: panels,
    overflow: document.documentElement.scrollWidth > document.documentElement.clientWidth,
    resources: performance.getEntriesByType('resource').map(function (e) { return e.name; })
  };
  var pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script>`

// porcupineProbe says whether the first visible illegal point of porcupine's page is in the window
// once the page has loaded (it runs after the report's own load handler).
const porcupineProbe = `<script>
window.addEventListener('load', function () {
  var points = Array.from(document.querySelectorAll('.linearization-invalid.linearization-point'))
    .filter(function (p) { return !p.closest('.hidden'); });
  var verdict = 'no illegal point';
  if (points.length > 0) {
    points.sort(function (a, b) { return a.x1.baseVal.value - b.x1.baseVal.value; });
    var r = points[0].getBoundingClientRect();
    verdict = (r.left >= 0 && r.right <= window.innerWidth && r.top >= 0 && r.bottom <= window.innerHeight) ? 'in view' :
      'out of view at ' + JSON.stringify(r) + ', scrolled to ' + scrollX + ',' + scrollY;
  }
  var pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = verdict; document.body.appendChild(pre);
});
</script>`

type probePanel struct {
	Key            string   `json:"key"`
	Status         string   `json:"status"`
	Height         float64  `json:"height"`
	ClientRows     []string `json:"clientRows"`
	AnnotationRows []string `json:"annotationRows"`
	OpBars         int      `json:"opBars"`
	TimelineWidth  float64  `json:"timelineWidth"`
	Operations     int      `json:"operations"`
	Holders        int      `json:"holders"`
	Events         []string `json:"events"`
	DiagramWidth   float64  `json:"diagramWidth"`
}

type probeResult struct {
	Verdict, Key, Check, Bucket, Violation, Scenario, Seed, Replay string
	CopyButton                                                     bool    `json:"copyButton"`
	HeadlineBottom                                                 float64 `json:"headlineBottom"`
	Porcupine                                                      string
	Panels                                                         []probePanel
	Overflow                                                       bool
	Resources                                                      []string
}

// probePage renders the report page with probeScript in headless Chromium.
func probePage(t *testing.T, dir string, width, height int) probeResult {
	t.Helper()
	page, err := os.ReadFile(filepath.Join(dir, linearizability.ReportPageFile))
	if err != nil {
		t.Fatal(err)
	}
	probed := filepath.Join(dir, "probed.html") // beside index.html, so that its links resolve the same
	withProbe := strings.Replace(string(page), "</body>", probeScript+"</body>", 1)
	if err := os.WriteFile(probed, []byte(withProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := browser.DOM(t, probed, width, height)
	i := strings.Index(dom, `<pre id="probe">`)
	if i < 0 {
		t.Fatalf("the rendered page has no probe result (did the page's script fail?):\n%.2000s", dom)
	}
	raw := dom[i+len(`<pre id="probe">`):]
	raw = raw[:strings.Index(raw, "</pre>")]
	raw = strings.NewReplacer("&quot;", `"`, "&lt;", "<", "&gt;", ">", "&#39;", "'", "&amp;", "&").Replace(raw)
	var r probeResult
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("probe result: %v\n%s", err, raw)
	}
	t.Logf("rendered: verdict %s, key %s, %d panels; first panel rows %v + %v, %d operations, %d holders, diagram %.0f px",
		r.Verdict, r.Key, len(r.Panels), firstOr(r.Panels).ClientRows, firstOr(r.Panels).AnnotationRows, firstOr(r.Panels).Operations, firstOr(r.Panels).Holders, firstOr(r.Panels).DiagramWidth)
	return r
}

func firstOr(ps []probePanel) probePanel {
	if len(ps) == 0 {
		return probePanel{}
	}
	return ps[0]
}

// TestReportPageInChromium renders the report of a failing run in headless Chromium and checks what
// a person sees: the headline says what failed, where, and how to replay it; there is one panel per
// failing key, illegal keys first, with client rows by name, fault, view, primary and copy rows,
// the operations, the holders' final state and the space-time diagram; nothing is loaded from the
// network and nothing is wider than the window. With -update-screenshot it rewrites the README's
// screenshot.
func TestReportPageInChromium(t *testing.T) {
	browser.Find(t)
	packageDir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	scn := mustScenario(t, DefaultScenario)
	scn.KV.Mutants = kv.NewMutants(kv.NoMitt)
	o, err := Run(scn, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Final != VerdictViolation || len(o.Verdict.IllegalKeys) == 0 {
		t.Fatalf("seed 1 of %s with no-mitt: %s, illegal keys %v; the test needs a run with illegal keys", scn.Name, o.Final, o.Verdict.IllegalKeys)
	}
	// The report is written where the command line writes it, relative to the working directory, so
	// that its replay command reads as a user sees it.
	t.Chdir(t.TempDir())
	dir := filepath.Join("stateflush-out", "steady-monkey-seed1-no-mitt")
	if _, err := o.WriteReport(dir); err != nil {
		t.Fatal(err)
	}
	const width, height = 1280, 1400
	r := probePage(t, dir, width, height)

	if r.Verdict != "FAIL" || r.Key != o.Verdict.IllegalKeys[0] || r.Scenario != scn.Name || r.Seed != "1" {
		t.Errorf("headline: verdict %q key %q scenario %q seed %q; want FAIL, %q, %s, 1", r.Verdict, r.Key, r.Scenario, r.Seed, o.Verdict.IllegalKeys[0], scn.Name)
	}
	if !strings.Contains(r.Check, string(linearizability.LinearizabilityCheck)) || r.Bucket != strconv.Itoa(kv.BucketOf(r.Key, o.Drawn.KV.Buckets)) {
		t.Errorf("headline: check %q bucket %q", r.Check, r.Bucket)
	}
	if !strings.Contains(r.Violation, r.Key) {
		t.Errorf("the headline's violation text does not name key %s: %q", r.Key, r.Violation)
	}
	if !strings.Contains(r.Replay, "stateflush replay") || !r.CopyButton {
		t.Errorf("headline: replay command %q, copy button %v", r.Replay, r.CopyButton)
	}
	if r.HeadlineBottom <= 0 || r.HeadlineBottom > height/2 {
		t.Errorf("the headline ends at %.0f px: not in the first half of a %d px window", r.HeadlineBottom, height)
	}
	if r.Porcupine != linearizability.ReportVisualizationFile {
		t.Errorf("porcupine link %q, want %s", r.Porcupine, linearizability.ReportVisualizationFile)
	}
	if len(r.Resources) > 0 {
		t.Errorf("the page loaded resources (it must be self-contained): %v", r.Resources)
	}
	if r.Overflow {
		t.Errorf("the page is wider than a %d px window", width)
	}
	if len(r.Panels) == 0 {
		t.Fatal("the page has no panels")
	}
	for i, key := range o.Verdict.IllegalKeys {
		if i < len(r.Panels) && r.Panels[i].Key != key {
			t.Errorf("panel %d is key %s, want illegal key %s (illegal keys come first, in order)", i+1, r.Panels[i].Key, key)
		}
	}
	clientNames := map[string]bool{}
	for i := 0; i < o.Drawn.KV.Clients; i++ {
		clientNames[kv.NodeName(o.Drawn.KV, protocol.NodeID(o.Drawn.KV.Servers+i))] = true
	}
	clientNames["final reads"] = true
	p := r.Panels[0]
	if p.Status != "illegal" || p.Height <= 0 || p.TimelineWidth < width/2 {
		t.Errorf("first panel: status %q, height %.0f, timeline %.0f px wide", p.Status, p.Height, p.TimelineWidth)
	}
	if len(p.ClientRows) == 0 {
		t.Error("the first panel's timeline has no client rows")
	}
	for _, row := range p.ClientRows {
		if !clientNames[row] {
			t.Errorf("client row %q is not named after a client", row)
		}
	}
	for _, want := range []string{"faults", "views", "primary"} {
		if !slices.Contains(p.AnnotationRows, want) {
			t.Errorf("the first panel's timeline has no %q row: %v", want, p.AnnotationRows)
		}
	}
	if !slices.ContainsFunc(p.AnnotationRows, func(r string) bool { return strings.HasPrefix(r, "copy ") }) {
		t.Errorf("the first panel's timeline has no copy (flush phase) row: %v", p.AnnotationRows)
	}
	if !slices.ContainsFunc(p.Events, func(e string) bool { return strings.HasPrefix(e, "crash ") && strings.Contains(e, " by ") }) {
		t.Errorf("the first panel's events name no crash and who did it: %v", p.Events)
	}
	if p.OpBars == 0 || p.Operations != p.OpBars {
		t.Errorf("the first panel draws %d operations and lists %d", p.OpBars, p.Operations)
	}
	if p.Holders == 0 {
		t.Error("the first panel shows no holder's final state")
	}
	if p.DiagramWidth <= 0 || p.DiagramWidth > width {
		t.Errorf("the first panel's space-time diagram is %.0f px wide", p.DiagramWidth)
	}
	// Porcupine's page opens at the first illegal point: after load, the leftmost visible illegal
	// linearization point is inside the window.
	porcupinePage, err := os.ReadFile(filepath.Join(dir, linearizability.ReportVisualizationFile))
	if err != nil {
		t.Fatal(err)
	}
	probedPorcupine := filepath.Join(dir, "probed-porcupine.html")
	if err := os.WriteFile(probedPorcupine, []byte(strings.Replace(string(porcupinePage), "</body>", porcupineProbe+"</body>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := browser.DOM(t, probedPorcupine, width, height)
	if !strings.Contains(dom, `<pre id="probe">in view</pre>`) {
		i := strings.Index(dom, `<pre id="probe">`)
		t.Errorf("porcupine.html does not open at the first illegal point: %.300s", dom[max(i, 0):])
	}

	if *updateScreenshot {
		data, err := os.ReadFile(browser.Screenshot(t, filepath.Join(dir, linearizability.ReportPageFile), width, height))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(packageDir, "..", "docs", "report-page.png"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplayScriptWorksFromAnyDirectory runs replay.sh from another directory, with stand-ins for
// go and for a stateflush binary that record how they were called: the script replays the trace
// beside it, in the module it was written from, else with the binary that wrote it.
func TestReplayScriptWorksFromAnyDirectory(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	root := t.TempDir()
	report := filepath.Join(root, "reports", "run 1") // a space, to check quoting
	module := filepath.Join(root, "it's the module")
	bin := filepath.Join(root, "bin")
	elsewhere := filepath.Join(root, "elsewhere")
	for _, d := range []string{report, module, bin, elsewhere} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(module, "go.mod"), []byte("module github.com/stateflush/stateflush\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(root, "calls")
	recorder := "#!/bin/sh\necho \"$(basename \"$0\") $(pwd) $*\" >> '" + log + "'\n"
	for _, name := range []string{"go", "stateflush-built"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(recorder), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	trace := filepath.Join(report, linearizability.ReportTraceFile)
	run := func(script string) string {
		t.Helper()
		os.Remove(log)
		path := filepath.Join(report, linearizability.ReportReplayFile)
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(path, "--budget", "1s")
		cmd.Dir = elsewhere
		cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("replay.sh: %v\n%s", err, out)
		}
		data, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(data))
	}
	if got, want := run(replayScript(module, "")), "go "+module+" run ./cmd/stateflush replay "+trace+" --budget 1s"; got != want {
		t.Errorf("with the module: replay.sh ran\n  %s\nwant\n  %s", got, want)
	}
	if got, want := run(replayScript(filepath.Join(root, "gone"), filepath.Join(bin, "stateflush-built"))), "stateflush-built "+elsewhere+" replay "+trace+" --budget 1s"; got != want {
		t.Errorf("without the module: replay.sh ran\n  %s\nwant\n  %s", got, want)
	}
}
