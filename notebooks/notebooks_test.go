package notebooks

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/internal/figure"
	"github.com/stateflush/stateflush/internal/generated"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/trace"
)

func TestRegistryListsTwelveUniqueExperimentsInOrder(t *testing.T) {
	exps := Experiments()
	if len(exps) != 12 {
		t.Fatalf("Experiments() lists %d experiments, want 12", len(exps))
	}
	names, dirs := map[string]bool{}, map[string]bool{}
	for i, e := range exps {
		if e.Name == "" || e.Title == "" || e.Run == nil {
			t.Errorf("experiment %d is incomplete: %+v", i+1, e)
		}
		if names[e.Name] || dirs[e.Dir] {
			t.Errorf("experiment %d: name %q or directory %q is used twice", i+1, e.Name, e.Dir)
		}
		names[e.Name], dirs[e.Dir] = true, true
		if want := twoDigits(i+1) + "-" + e.Name; e.Dir != want {
			t.Errorf("experiment %d: Dir=%q, want %q (numbered, named after the experiment)", i+1, e.Dir, want)
		}
		got, err := Lookup(e.Name)
		if err != nil || got.Dir != e.Dir {
			t.Errorf("Lookup(%q) = %+v, %v", e.Name, got, err)
		}
	}
}

func twoDigits(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

func TestLookupOfAnUnknownNameListsTheKnownOnes(t *testing.T) {
	_, err := Lookup("no-such-experiment")
	if !errors.Is(err, ErrUnknownExperiment) {
		t.Fatalf("Lookup error %v does not wrap ErrUnknownExperiment", err)
	}
	for _, e := range Experiments() {
		if !strings.Contains(err.Error(), e.Name) {
			t.Errorf("Lookup error %q does not list %q", err, e.Name)
		}
	}
	if !strings.Contains(err.Error(), "no-such-experiment") {
		t.Errorf("Lookup error %q does not name the unknown experiment", err)
	}
}

// TestSameSeedsGiveByteIdenticalFigures runs the cheapest experiment twice and compares every file
// it writes, PNG and SVG included.
func TestSameSeedsGiveByteIdenticalFigures(t *testing.T) {
	e, err := Lookup("latency-timeline")
	if err != nil {
		t.Fatal(err)
	}
	first, second := t.TempDir(), t.TempDir()
	for _, dir := range []string{first, second} {
		if err := e.Run(dir); err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
	}
	files, err := os.ReadDir(first)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, f := range files {
		a, err := os.ReadFile(filepath.Join(first, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(second, f.Name()))
		if err != nil {
			t.Fatalf("the second run did not write %s: %v", f.Name(), err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs with the same seeds", f.Name())
		}
		ext := filepath.Ext(f.Name())
		kinds[ext] = true
		switch ext {
		case ".png":
			if !bytes.HasPrefix(a, []byte("\x89PNG\r\n\x1a\n")) || len(a) < 10_000 {
				t.Errorf("%s is not a PNG with a figure in it (%d bytes)", f.Name(), len(a))
			}
			// The IHDR chunk's width: a 16 cm figure at 300 dpi is 1890 pixels wide.
			if len(a) > 20 {
				width := int(a[16])<<24 | int(a[17])<<16 | int(a[18])<<8 | int(a[19])
				if want := int(math.Round(float64(figureWidth.Points()) / 72 * figure.PNGDPI)); width < want-2 {
					t.Errorf("%s is %d pixels wide, want at least %d (16 cm at %d dpi)", f.Name(), width, want, figure.PNGDPI)
				}
			}
		case ".pdf":
			if !bytes.HasPrefix(a, []byte("%PDF-")) || !bytes.Contains(a, []byte("/FontFile")) {
				t.Errorf("%s is not a PDF with embedded fonts", f.Name())
			}
		case ".svg":
			if !bytes.Contains(a, []byte("<svg")) || !bytes.Contains(a, []byte("<text")) {
				t.Errorf("%s is not an SVG with text in it", f.Name())
			}
			if bytes.Contains(a, []byte("font-family:Liberation Sans;")) || !bytes.Contains(a, []byte("sans-serif;")) {
				t.Errorf("%s names its font without a generic sans-serif fallback", f.Name())
			}
		}
	}
	for _, ext := range []string{".png", ".svg", ".pdf", ".csv"} {
		if !kinds[ext] {
			t.Errorf("%s wrote no %s file", e.Name, ext)
		}
	}
}

// TestEveryExperimentHasAReadmeWhoseFiguresExist checks the committed notebooks: each experiment's
// directory has a README that links its figures, with the regeneration commands, and the linked
// files exist.
func TestEveryExperimentHasAReadmeWhoseFiguresExist(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)]+\.(?:png|svg|csv))\)`)
	for _, e := range Experiments() {
		readme, err := os.ReadFile(filepath.Join(e.Dir, "README.md"))
		if err != nil {
			t.Errorf("%s: %v", e.Name, err)
			continue
		}
		for _, cmd := range []string{"go run ./cmd/stateflush plot " + e.Name, "go run ./notebooks/cmd/regen " + e.Name} {
			if !bytes.Contains(readme, []byte(cmd)) {
				t.Errorf("%s/README.md does not give the command %q", e.Dir, cmd)
			}
		}
		links := link.FindAllSubmatch(readme, -1)
		if len(links) == 0 {
			t.Errorf("%s/README.md links no figure", e.Dir)
		}
		for _, l := range links {
			if _, err := os.Stat(filepath.Join(e.Dir, string(l[1]))); err != nil {
				t.Errorf("%s/README.md links %s: %v", e.Dir, l[1], err)
			}
		}
	}
}

// TestEveryReadmeFigureReferenceExists: every image and figure file that the repository's READMEs
// link (the top-level README, the notebooks' index and each experiment's) exists, and every figure
// an experiment README shows as PNG also exists as SVG and PDF beside it.
func TestEveryReadmeFigureReferenceExists(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)#]+\.(?:png|svg|pdf|csv))\)`)
	readmes := []string{filepath.Join("..", "README.md"), "README.md"}
	for _, e := range Experiments() {
		readmes = append(readmes, filepath.Join(e.Dir, "README.md"))
	}
	for _, readme := range readmes {
		text, err := os.ReadFile(readme)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, l := range link.FindAllSubmatch(text, -1) {
			ref := string(l[1])
			if strings.Contains(ref, "://") {
				t.Errorf("%s links %s from the network", readme, ref)
				continue
			}
			path := filepath.Join(filepath.Dir(readme), ref)
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links %s: %v", readme, ref, err)
			}
			if strings.HasSuffix(path, ".png") && strings.HasPrefix(filepath.Base(filepath.Dir(path)), "0") {
				for _, ext := range []string{".svg", ".pdf"} {
					if _, err := os.Stat(strings.TrimSuffix(path, ".png") + ext); err != nil {
						t.Errorf("%s shows %s, which has no %s beside it", readme, ref, ext)
					}
				}
			}
		}
	}
}

var update = flag.Bool("update", false, "rewrite the README sections generated from the committed CSV files")

// TestReadmeNumbersMatchTheirCSV keeps the numbers quoted in experiment READMEs equal to the
// committed CSV files they come from (the wall-clock experiments' numbers change with every
// regeneration).
func TestReadmeNumbersMatchTheirCSV(t *testing.T) {
	const regen = "go test ./notebooks -run TestReadmeNumbersMatchTheirCSV -update"
	for _, n := range []struct {
		dir, name string
		summary   func(string) (string, error)
		// alsoIn are further READMEs that quote the same paragraph.
		alsoIn []string
	}{
		{"07-sim-throughput", "sim-throughput", throughputSummary, nil},
		{"03-mutant-detection", "mutant-detection", detectionSummary, nil},
		{"08-snapshot-vs-flush", "snapshot-vs-flush", snapshotSummary, nil},
		{"10-scale", "scale", scaleSummary, []string{filepath.Join("..", "README.md")}},
		{"11-victims", "victims", func(detections string) (string, error) {
			kills, err := os.ReadFile(filepath.Join("11-victims", "victims-kills.csv"))
			if err != nil {
				return "", err
			}
			return victimsSummary(string(kills), detections)
		}, nil},
		{"12-lock-failover", "lock-failover", func(detections string) (string, error) {
			kills, err := os.ReadFile(filepath.Join("12-lock-failover", "lock-failover-kills.csv"))
			if err != nil {
				return "", err
			}
			return lockFailoverSummary(string(kills), detections)
		}, []string{filepath.Join("..", "README.md")}},
	} {
		data, err := os.ReadFile(filepath.Join(n.dir, n.name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := n.summary(string(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, readme := range append([]string{filepath.Join(n.dir, "README.md")}, n.alsoIn...) {
			generated.Check(t, readme,
				fmt.Sprintf("<!-- %s-summary:begin (generated from %s.csv: %s) -->", n.name, n.name, regen),
				fmt.Sprintf("<!-- %s-summary:end -->", n.name), want, *update, regen)
		}
	}
	if _, err := snapshotSummary("mechanism,runs\n\"x\",1\n"); err == nil {
		t.Error("a snapshot CSV without the summary's columns gave a summary")
	}
	if _, err := detectionSummary("mutant,seeds\n"); err == nil {
		t.Error("a detection CSV without data rows gave a summary")
	}
	if _, err := throughputSummary("servers,events\n"); err == nil {
		t.Error("a CSV without data rows gave a summary")
	}
	if _, err := victimsSummary(strings.Join(victimKillsHeader, ",")+"\nage,60,0,0,0,0,0\n", strings.Join(victimDetectionHeader, ",")+"\n"); err == nil {
		t.Error("a victims CSV with no kills gave a summary")
	}
	if _, err := victimsSummary(strings.Join(victimKillsHeader, ",")+"\nage,60,10,2,3,5,100\n", strings.Join(victimDetectionHeader, ",")+"\nage,m,60,1,0.1,0,0.2,3\n"); err == nil {
		t.Error("a victims CSV with one victim choice gave a comparison")
	}
	if _, err := lockFailoverSummary(strings.Join(lockKillsHeader, ",")+"\nage,10,0,0,0,0,0.1\n", strings.Join(lockDetectionHeader, ",")+"\n"); err == nil {
		t.Error("a lock-failover CSV with no kills gave a summary")
	}
	if _, err := lockFailoverSummary(strings.Join(lockKillsHeader, ",")+"\nage,10,5,1,1,3,0.1\n", strings.Join(lockDetectionHeader, ",")+"\nage,m,10,1,0.1,0,0.4,3,100,0.1\n"); err == nil {
		t.Error("a lock-failover CSV with one victim choice gave a comparison")
	}
	header := strings.Join(scaleHeader, ",") + "\n"
	if _, err := scaleSummary(header + "servers,5,50,5,500,100,2,1,0.1,10,1\n"); err == nil {
		t.Error("a scale CSV with one row per sweep gave a fit")
	}
	if _, err := scaleSummary(header + "servers,5,50,5,500,100,2,1,0,10,1\nservers,10,100,10,1000,200,2,1,0.2,20,1\n"); err == nil {
		t.Error("a scale CSV with a zero wall time gave a fit")
	}
}

// TestEveryExperimentRuns regenerates every figure into a temporary directory. It takes 30–60 s on
// 2 cores, so it runs only with STATEFLUSH_LONG=1.
func TestEveryExperimentRuns(t *testing.T) {
	if os.Getenv("STATEFLUSH_LONG") == "" {
		t.Skip("set STATEFLUSH_LONG=1 to run every experiment")
	}
	for _, e := range Experiments() {
		t.Run(e.Name, func(t *testing.T) {
			dir := t.TempDir()
			if err := e.Run(dir); err != nil {
				t.Fatal(err)
			}
			pngs, _ := filepath.Glob(filepath.Join(dir, "*.png"))
			svgs, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
			if len(pngs) == 0 || len(pngs) != len(svgs) {
				t.Errorf("%s wrote %d PNG and %d SVG files", e.Name, len(pngs), len(svgs))
			}
		})
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	values := []float64{5, 1, 4, 2, 3}
	for _, c := range []struct {
		q    float64
		want float64
	}{{0.2, 1}, {0.5, 3}, {0.99, 5}, {1, 5}, {0.01, 1}} {
		if got := percentile(values, c.q); got != c.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", values, c.q, got, c.want)
		}
	}
	if got := percentile(nil, 0.5); !math.IsNaN(got) {
		t.Errorf("percentile of nothing = %v, want NaN", got)
	}
	if values[0] != 5 {
		t.Errorf("percentile sorted its input in place: %v", values)
	}
}

func TestLogTicksLabelOneTwoFive(t *testing.T) {
	var labels []string
	for _, tick := range (logTicks{}).Ticks(math.Log10(15), math.Log10(600)) {
		if tick.Label != "" {
			labels = append(labels, tick.Label)
		}
	}
	if got, want := strings.Join(labels, " "), "20 50 100 200 500"; got != want {
		t.Errorf("log ticks over [15, 600] are labelled %q, want %q", got, want)
	}
}

// event builds a protocol event record for the trace-reading tests.
func event(seq uint64, timeUS int64, node int32, name string, attrs ...string) trace.Record {
	r := trace.Record{Seq: seq, TimeUS: timeUS, Kind: trace.KindEvent, Node: node, Name: name}
	for i := 0; i+1 < len(attrs); i += 2 {
		r.Attrs = append(r.Attrs, trace.Attr{Key: attrs[i], Value: attrs[i+1]})
	}
	return r
}

func TestCompletedCreationsKeepTheLastStartAndSkipUnfinishedOnes(t *testing.T) {
	records := []trace.Record{
		event(1, 100, 3, protocol.EventMittOpen, "bucket", "0", "replica", "s3"),
		event(2, 110, 3, protocol.EventAnnounceSent, "bucket", "0", "replica", "s3"),
		// A restart of the creation (new primary): a new mitt-open replaces the first start.
		event(3, 200, 3, protocol.EventMittOpen, "bucket", "0", "replica", "s3"),
		event(4, 210, 3, protocol.EventAnnounceSent, "bucket", "0", "replica", "s3"),
		event(5, 220, 3, protocol.EventAnnounceComplete, "bucket", "0", "replica", "s3"),
		event(6, 230, 3, protocol.EventFlushComplete, "bucket", "0", "replica", "s3"),
		event(7, 300, 3, protocol.EventInitialized, "bucket", "0", "replica", "s3", "entries", "42"),
		// Another copy that never completes.
		event(8, 310, 4, protocol.EventMittOpen, "bucket", "1", "replica", "s4"),
	}
	got, err := completedCreations(records)
	if err != nil {
		t.Fatal(err)
	}
	want := creation{Bucket: 0, Replica: 3, Member: "s3", MittOpenUS: 200, AnnounceSentUS: 210, AnnounceCompleteUS: 220,
		FlushCompleteUS: 230, InitializedUS: 300, Entries: 42}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("completedCreations = %+v, want [%+v]", got, want)
	}
	if got[0].CopyStartUS() != 230 {
		t.Errorf("copy starts at %d, want the flush's end 230", got[0].CopyStartUS())
	}
	if _, err := completedCreations([]trace.Record{event(1, 5, 2, protocol.EventInitialized, "bucket", "0", "replica", "s2")}); err == nil {
		t.Error("an initialized event without a mitt-open was accepted")
	}
}

func TestCopyTimelineFollowsCrashesCopiesAndDrops(t *testing.T) {
	initial := []linearizability.Holding{
		{Node: 0, Bucket: 0, Initialized: true}, {Node: 1, Bucket: 0, Initialized: true},
		{Node: 1, Bucket: 1, Initialized: true}, {Node: 2, Bucket: 1, Initialized: false},
	}
	tl := newCopyTimeline(2, initial)
	steps := []struct {
		record    trace.Record
		mean      float64
		leastOf   int
		afterWhat string
	}{
		{trace.Record{Seq: 1, Kind: trace.KindCrash, Node: 1}, 0.5, 0, "s1 crashes"},
		{event(2, 10, 2, protocol.EventInitialized, "bucket", "1"), 1, 1, "s2's copy of bucket 1 completes"},
		{trace.Record{Seq: 3, Kind: trace.KindRestart, Node: 1}, 1, 1, "s1 restarts empty"},
		{event(4, 20, 0, kv.EventBucketDropped, "bucket", "0"), 0.5, 0, "s0 drops bucket 0"},
	}
	for _, s := range steps {
		if err := tl.apply(&s.record); err != nil {
			t.Fatal(err)
		}
		if tl.meanCopies() != s.mean || tl.minCopies() != s.leastOf {
			t.Errorf("after %s: mean %v, min %d copies; want %v, %d", s.afterWhat, tl.meanCopies(), tl.minCopies(), s.mean, s.leastOf)
		}
	}
	bad := event(5, 30, 0, protocol.EventInitialized, "bucket", "7")
	if err := tl.apply(&bad); err == nil {
		t.Error("an event naming bucket 7 of 2 was accepted")
	}
}

// TestGrowthExponentRecoversThePower: the fit gives back k for points on c·x^k, and tells growth
// from constancy.
func TestGrowthExponentRecoversThePower(t *testing.T) {
	xs := []float64{5, 10, 20, 50, 100, 200}
	for _, k := range []float64{0, 1, 2, 0.5} {
		ys := make([]float64, len(xs))
		for i, x := range xs {
			ys[i] = 3 * math.Pow(x, k)
		}
		if got := growthExponent(xs, ys); math.Abs(got-k) > 1e-9 {
			t.Errorf("points on 3·x^%v: exponent %v", k, got)
		}
	}
}

// The Wilson interval: exact endpoints for known cases, and always around the observed share.
func TestWilsonInterval(t *testing.T) {
	for _, tc := range []struct {
		k, n      int
		low, high float64
	}{
		{0, 60, 0, 0.0602},
		{60, 60, 0.9398, 1},
		{30, 60, 0.3773, 0.6227},
		{7, 60, 0.0577, 0.2218},
	} {
		low, high := wilson(tc.k, tc.n)
		if math.Abs(low-tc.low) > 5e-4 || math.Abs(high-tc.high) > 5e-4 {
			t.Errorf("wilson(%d, %d) = %.4f, %.4f; want %.4f, %.4f", tc.k, tc.n, low, high, tc.low, tc.high)
		}
	}
}

// TestLockFailoverIsReproducible runs experiment 12 on a small budget twice: the figures and every
// CSV column but the measured CPU seconds come out byte for byte the same.
func TestLockFailoverIsReproducible(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	for _, dir := range []string{first, second} {
		if err := lockFailover(dir, 12); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"lock-failover.png", "lock-failover.svg", "lock-failover.csv", "lock-failover-kills.csv"} {
		a, err := os.ReadFile(filepath.Join(first, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(second, name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".csv") {
			a, b = []byte(withoutLastColumn(string(a))), []byte(withoutLastColumn(string(b)))
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs of the same seeds", name)
		}
	}
}

// withoutLastColumn drops each CSV line's last column (the measured CPU seconds).
func withoutLastColumn(csv string) string {
	var out []string
	for _, line := range strings.Split(csv, "\n") {
		if i := strings.LastIndex(line, ","); i >= 0 {
			line = line[:i]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
