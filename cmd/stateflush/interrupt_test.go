package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stateflush/stateflush/harness"
)

// interruptArgs is a small sweep with a mutant, so that its lines hold violations as well as passes.
func interruptArgs(k knownFailure, out string, extra ...string) []string {
	first := seedsBefore(k.failingSeed, 5)
	return append([]string{"sweep", "--scenario", "small", "--mutant", k.mutant, "--first-seed", fmt.Sprint(first), "--seeds", "12", "--workers", "2", "--quiet", "--out", out}, extra...)
}

// cliInterrupted runs the command in-process and interrupts it the way SIGINT does (the context
// the sweep stops on is cancelled) right after its n-th new line; n = 0 interrupts before it starts.
func cliInterrupted(t *testing.T, n int, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if n == 0 {
		cancel()
	}
	var stdout, stderr bytes.Buffer
	s := &streams{stdout: &stdout, stderr: &stderr, ctx: ctx, afterLine: func(written int) {
		if written == n {
			cancel()
		}
	}}
	code := runWith(s, args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// resumeArgs takes the resume command an interrupted sweep printed and returns its arguments.
func resumeArgs(t *testing.T, summary string) []string {
	t.Helper()
	for _, line := range readLines(t, summary) {
		if cmd, ok := strings.CutPrefix(line, "resume: go run ./cmd/stateflush "); ok {
			return strings.Fields(cmd)
		}
	}
	t.Fatalf("no resume command in the summary:\n%s", summary)
	return nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func firstLines(text string, n int) string {
	lines := strings.SplitAfter(text, "\n")
	return strings.Join(lines[:n], "")
}

// TestInterruptedSweepLosesNoSeedAndResumes interrupts a sweep at several points, and the resumed
// sweeps too: every interruption leaves the completed seeds, whole, in FILE.partial (and FILE as it
// was), merge reads the partial file, and resuming (the printed command) ends with the very file
// an uninterrupted sweep writes.
func TestInterruptedSweepLosesNoSeedAndResumes(t *testing.T) {
	k := findKnownFailure(t)
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.jsonl")
	r := cli(t, interruptArgs(k, ref)...)
	wantCode(t, r, exitViolation, "sweep", "reference")
	want := readFile(t, ref)

	for _, points := range [][]int{{0}, {1}, {5, 3}, {11}, {2, 2, 2, 2}} {
		t.Run(fmt.Sprint(points), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sweep.jsonl")
			partial := out + partialSuffix
			const older = "an older output, kept until the new one is complete\n"
			if err := os.WriteFile(out, []byte(older), 0o644); err != nil {
				t.Fatal(err)
			}
			args := interruptArgs(k, out)
			done := 0
			for _, n := range points {
				r := cliInterrupted(t, n, args...)
				wantCode(t, r, exitInterrupted, args...)
				done += n
				if got := readFile(t, partial); got != firstLines(want, done) {
					t.Fatalf("after %d seeds the partial file holds:\n%s\nwant the first %d lines of the whole sweep", done, got, done)
				}
				if readFile(t, out) != older {
					t.Fatal("an interrupted sweep changed the older output")
				}
				if _, err := os.Stat(out + lockSuffix); !os.IsNotExist(err) {
					t.Fatalf("the lock file outlived the sweep: %v", err)
				}
				if !strings.Contains(r.stdout, fmt.Sprintf("interrupted: %d of 12 seeds done, %d not run", done, 12-done)) || !strings.Contains(r.stdout, "partial results: "+partial) {
					t.Errorf("the summary of the interrupted sweep:\n%s", r)
				}
				// merge takes the partial file for what it is: a part of the sweep.
				if done > 0 {
					m := cli(t, "merge", partial)
					wantCode(t, m, exitUsage, "merge", partial)
					if !strings.Contains(m.stderr, fmt.Sprintf("%d of the 12 seeds", 12-done)) {
						t.Errorf("merge of the partial file: %s", m)
					}
					if m := cli(t, "merge", "--allow-missing", partial); m.code != exitPass && m.code != exitViolation {
						t.Errorf("merge --allow-missing of the partial file: %s", m)
					}
				}
				args = resumeArgs(t, r.stdout)
			}
			r := cli(t, args...)
			if r.code != exitViolation || !strings.Contains(r.stdout, fmt.Sprintf("%d seeds done, %d to run", done, 12-done)) {
				t.Fatalf("resume: %s", r)
			}
			if got := readFile(t, out); got != want {
				t.Fatalf("the resumed sweep wrote\n%s\nthe whole sweep\n%s", got, want)
			}
			if _, err := os.Stat(partial); !os.IsNotExist(err) {
				t.Errorf("the partial file outlived the complete sweep: %v", err)
			}
		})
	}
}

// TestResumeToleratesACutLastLineOnly: a sweep killed outright (SIGKILL) may leave half a line; the
// resume drops it, says so, and runs that seed again.
func TestResumeToleratesACutLastLineOnly(t *testing.T) {
	k := findKnownFailure(t)
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.jsonl")
	wantCode(t, cli(t, interruptArgs(k, ref)...), exitViolation)
	want := readFile(t, ref)
	out := filepath.Join(dir, "sweep.jsonl")
	partial := filepath.Join(dir, "killed.jsonl")
	cut := firstLines(want, 4)
	cut += firstLines(want, 5)[len(cut):][:30]
	if err := os.WriteFile(partial, []byte(cut), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cli(t, interruptArgs(k, out, "--resume", partial)...)
	wantCode(t, r, exitViolation, "sweep", "--resume", "cut")
	if !strings.Contains(r.stderr, "its last line was cut") || !strings.Contains(r.stdout, "4 seeds done, 8 to run") {
		t.Errorf("resume of a cut file: %s", r)
	}
	if readFile(t, out) != want {
		t.Fatal("the resumed sweep differs from the whole sweep")
	}
	// A cut line that is not the last is no kill's doing: an error.
	if err := os.WriteFile(partial, []byte(cut+"\n"+firstLines(want, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r = cli(t, interruptArgs(k, out, "--resume", partial)...)
	wantCode(t, r, exitUsage, "sweep", "--resume", "cut in the middle")
	if !strings.Contains(r.stderr, partial+":5: not a sweep result line") {
		t.Errorf("resume of a file cut in the middle: %s", r)
	}
}

// TestResumeRefusesAnotherSweep: the lines to resume must be this sweep's, whatever differs.
func TestResumeRefusesAnotherSweep(t *testing.T) {
	k := findKnownFailure(t)
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.jsonl")
	wantCode(t, cli(t, interruptArgs(k, ref)...), exitViolation)
	out := filepath.Join(dir, "out.jsonl")
	for _, c := range []struct {
		extra []string
		want  string
	}{
		{[]string{"--clients", "3"}, "spec digest"},
		{[]string{"--budget", "9s"}, "spec digest"},
		{[]string{"--shard", "1/2"}, "shard 0/1 vs 1/2 (another split)"},
		{[]string{"--seeds", "13"}, "seed range"},
	} {
		args := append(interruptArgs(k, out), append(c.extra, "--resume", ref)...)
		r := cli(t, args...)
		wantCode(t, r, exitUsage, args...)
		if !strings.Contains(r.stderr, "written by another sweep than this command's: "+c.want) {
			t.Errorf("%v: %s", c.extra, r)
		}
	}
	// The worker count shapes no result: another one resumes.
	r := cli(t, append(interruptArgs(k, out), "--workers", "1", "--resume", ref)...)
	if r.code != exitViolation || !strings.Contains(r.stdout, "12 seeds done, 0 to run") {
		t.Errorf("resume with another worker count: %s", r)
	}
}

// TestSweepOutputBadInput: every new flag's wrong use is an error naming it, and touches no file.
func TestSweepOutputBadInput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	garbage := filepath.Join(dir, "garbage.jsonl")
	if err := os.WriteFile(garbage, []byte("{\"seed\":1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"sweep", "--scenario", "small", "--seeds", "2", "--quiet"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--resume", garbage}, "--resume needs --out"},
		{[]string{"--out", out, "--resume", filepath.Join(dir, "nope")}, "--resume: stat"},
		{[]string{"--out", out, "--resume", dir}, "is a directory"},
		{[]string{"--out", out, "--resume", garbage}, "garbage.jsonl:1: not a sweep result line: no \"scenario\" field"},
		{[]string{"--shard-count", "4"}, "--shard-count goes with --shard auto"},
		{[]string{"--shard", "auto", "--shard-count", "0"}, "--shard-count 0: must be at least 1"},
		{[]string{"--shard", "auto", "--shard-count", "x"}, "invalid value \"x\" for flag --shard-count"},
		{[]string{"--shard", "automatic"}, "(or --shard auto)"},
		{[]string{"--out", dir}, "is a directory"},
	} {
		args := append(append([]string{}, base...), c.args...)
		r := cli(t, args...)
		wantCode(t, r, exitUsage, args...)
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("stateflush %s: want an error naming %q, got %s", strings.Join(args, " "), c.want, r)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused sweep created its output: %v", err)
	}
	if _, err := os.Stat(out + partialSuffix); !os.IsNotExist(err) {
		t.Errorf("a refused sweep left a partial output: %v", err)
	}
}

// TestSecondWriterOfAnOutputIsRefused: while one command holds FILE.lock, another sweep or merge
// to FILE is refused and leaves FILE and FILE.partial alone; after it, the lock is free again.
func TestSecondWriterOfAnOutputIsRefused(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	wantCode(t, cli(t, "sweep", "--scenario", "small", "--seeds", "2", "--quiet", "--out", out), exitPass)
	before := readFile(t, out)
	lock, err := lockOutput(out + lockSuffix)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"sweep", "--scenario", "small", "--seeds", "3", "--quiet", "--out", out},
		{"merge", out, "--out", out},
	} {
		r := cli(t, args...)
		wantCode(t, r, exitUsage, args...)
		if !strings.Contains(r.stderr, "another stateflush is writing it (lock file "+out+lockSuffix+" is held") {
			t.Errorf("second writer: %s", r)
		}
	}
	if readFile(t, out) != before {
		t.Error("a refused writer changed the output")
	}
	if _, err := os.Stat(out + partialSuffix); !os.IsNotExist(err) {
		t.Errorf("a refused writer left a partial file: %v", err)
	}
	lock.release()
	wantCode(t, cli(t, "merge", out, "--out", out), exitPass)
	if readFile(t, out) != before {
		t.Error("merging a complete sweep into itself changed it")
	}
}

// TestEmptyShardSweepsAndMerges: a shard that holds no seed of the range (more shards than seeds,
// as a CI matrix may have) writes an empty result and exits 0, and merge takes it.
func TestEmptyShardSweepsAndMerges(t *testing.T) {
	dir := t.TempDir()
	base := []string{"sweep", "--scenario", "small", "--seeds", "2", "--quiet"}
	full := cli(t, append(base, "--json")...)
	wantCode(t, full, exitPass, "sweep", "full")
	var files []string
	for i := range 5 {
		path := filepath.Join(dir, fmt.Sprintf("shard-%d.jsonl", i))
		r := cli(t, append(base, "--shard", fmt.Sprintf("%d/5", i), "--out", path)...)
		wantCode(t, r, exitPass, "sweep", "--shard", fmt.Sprintf("%d/5", i))
		if i >= 2 && (readFile(t, path) != "" || !strings.Contains(r.stdout, fmt.Sprintf("shard %d/5 of 2 seeds holds no seed", i))) {
			t.Errorf("empty shard %d/5: %q\n%s", i, readFile(t, path), r)
		}
		files = append(files, path)
	}
	m := cli(t, append([]string{"merge", "--json"}, files...)...)
	wantCode(t, m, exitPass, "merge")
	if m.stdout != full.stdout {
		t.Errorf("merge of five shards of two seeds:\n%s\nwant\n%s", m.stdout, full.stdout)
	}
	m = cli(t, "merge", files[3], files[4])
	wantCode(t, m, exitUsage, "merge", "empty inputs only")
	if !strings.Contains(m.stderr, "no results: "+files[3]+", "+files[4]+": no input has a line") {
		t.Errorf("merge of empty inputs: %s", m)
	}
}

// TestMergeRefusesWhatNoSweepWrote: an edited line (unknown verdict, bad hash) names its file and
// line; merge writes nothing then.
func TestMergeRefusesWhatNoSweepWrote(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	wantCode(t, cli(t, "sweep", "--scenario", "small", "--seeds", "2", "--quiet", "--out", good), exitPass)
	text := readFile(t, good)
	for _, c := range []struct{ re, want string }{
		{`"verdict":"pass"`, "unknown verdict \"banana\""},
		{`"hash":"`, "malformed hash"},
	} {
		bad := filepath.Join(dir, "bad.jsonl")
		edited := strings.Replace(text, c.re, map[string]string{`"verdict":"pass"`: `"verdict":"banana"`, `"hash":"`: `"hash":"zz`}[c.re], 1)
		if err := os.WriteFile(bad, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "merged.jsonl")
		r := cli(t, "merge", bad, "--out", out)
		wantCode(t, r, exitUsage, "merge", c.want)
		if !strings.Contains(r.stderr, bad+":1: "+c.want) {
			t.Errorf("merge of an edited file: %s", r)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("a refused merge wrote its output: %v", err)
		}
	}
}

// TestSweepStopsOnARealSignal builds the command and sends it SIGINT, then SIGTERM while it
// resumes: each time it exits 130 with whole lines in FILE.partial and the resume command, and the
// last resume completes the sweep with every seed in order. While it runs, a second process
// writing the same output is refused.
func TestSweepStopsOnARealSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command (-short)")
	}
	dir := t.TempDir()
	bin := buildCommand(t)
	out := filepath.Join(dir, "sweep.jsonl")
	partial := out + partialSuffix
	const seeds = 400
	args := []string{"sweep", "--scenario", "small", "--seeds", fmt.Sprint(seeds), "--workers", "2", "--out", out}
	lastDone := 0
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for a few more lines than the last run left, then interrupt.
		deadline := time.Now().Add(60 * time.Second)
		for {
			b, _ := os.ReadFile(partial)
			if bytes.Count(b, []byte("\n")) >= lastDone+3 {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no lines after 60s:\n%s\n%s", stdout.String(), stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		// A second sweep to the same output, meanwhile, is refused.
		second := exec.Command(bin, append(args[:len(args):len(args)], "--quiet")...)
		if b, _ := second.CombinedOutput(); second.ProcessState.ExitCode() != exitUsage || !strings.Contains(string(b), "another stateflush is writing it") {
			t.Errorf("a second sweep writing the same output while the first runs: exit %d\n%s", second.ProcessState.ExitCode(), b)
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if cmd.ProcessState.ExitCode() != exitInterrupted {
			t.Fatalf("after %v: %v, want exit %d\n%s\n%s", sig, err, exitInterrupted, stdout.String(), stderr.String())
		}
		f, err := os.Open(partial)
		if err != nil {
			t.Fatal(err)
		}
		got, err := harness.ReadSweep(f, partial)
		f.Close()
		if err != nil {
			t.Fatalf("after %v the partial file is not whole lines: %v", sig, err)
		}
		if len(got.Lines) < lastDone+3 || len(got.Lines) == seeds {
			t.Fatalf("after %v: %d lines (the run before left %d)", sig, len(got.Lines), lastDone)
		}
		for i, l := range got.Lines {
			if l.Seed != uint64(i+1) {
				t.Fatalf("after %v line %d is seed %d: a completed seed was lost or reordered", sig, i+1, l.Seed)
			}
		}
		if !strings.Contains(stdout.String(), fmt.Sprintf("interrupted: %d of %d seeds done", len(got.Lines), seeds)) {
			t.Errorf("after %v the summary:\n%s", sig, stdout.String())
		}
		lastDone = len(got.Lines)
		args = resumeArgs(t, stdout.String())
	}
	r, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, r)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := harness.ReadSweep(f, out)
	if err != nil || len(got.Lines) != seeds {
		t.Fatalf("the resumed sweep: %d lines, %v", len(got.Lines), err)
	}
	for i, l := range got.Lines {
		if l.Seed != uint64(i+1) {
			t.Fatalf("line %d is seed %d", i+1, l.Seed)
		}
	}
}

// TestResumeAutoContinuesFromThePartialFile: --resume auto starts afresh when there is no
// FILE.partial and resumes from it when there is, so that a batch task that is retried with the
// same command line loses nothing.
func TestResumeAutoContinuesFromThePartialFile(t *testing.T) {
	k := findKnownFailure(t)
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.jsonl")
	wantCode(t, cli(t, interruptArgs(k, ref)...), exitViolation)
	out := filepath.Join(dir, "out.jsonl")
	args := interruptArgs(k, out, "--resume", "auto")
	r := cliInterrupted(t, 3, args...)
	wantCode(t, r, exitInterrupted, args...)
	if strings.Contains(r.stdout, "resuming") {
		t.Errorf("--resume auto without a partial file resumed:\n%s", r)
	}
	r = cli(t, args...)
	wantCode(t, r, exitViolation, args...)
	if !strings.Contains(r.stdout, "resuming "+out+partialSuffix+": 3 seeds done, 9 to run") {
		t.Errorf("--resume auto with a partial file:\n%s", r)
	}
	if readFile(t, out) != readFile(t, ref) {
		t.Error("the sweep resumed by --resume auto differs from the whole sweep")
	}
	r = cli(t, "sweep", "--seeds", "2", "--resume", "auto")
	wantCode(t, r, exitUsage, "sweep", "--resume", "auto", "without --out")
}

// TestInterruptedJSONSweepSaysHowToResume: lines on stdout cannot be resumed in place; the summary
// says to save them and gives a command that takes them.
func TestInterruptedJSONSweepSaysHowToResume(t *testing.T) {
	k := findKnownFailure(t)
	t.Chdir(t.TempDir())
	args := interruptArgs(k, "unused.jsonl")
	args = append(args[:len(args)-2], "--json")
	r := cliInterrupted(t, 4, args...)
	wantCode(t, r, exitInterrupted, args...)
	if err := os.WriteFile("SAVED.jsonl", []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	resumed := cli(t, resumeArgs(t, strings.Replace(r.stderr, "resume: save the lines written so far in SAVED.jsonl, then run ", "resume: ", 1))...)
	if resumed.code != exitViolation || !strings.Contains(resumed.stdout, "4 seeds done, 8 to run") {
		t.Fatalf("the printed resume command: %s", resumed)
	}
	whole := cli(t, args...)
	if readFile(t, "sweep.jsonl") != whole.stdout {
		t.Error("the resumed sweep differs from the whole sweep")
	}
}

// TestCtrlCOnATerminalClearsTheProgressBar runs a sweep on a pseudo-terminal (util-linux script)
// and types Ctrl-C: the terminal sends SIGINT to the command and its child, the bar is erased, and
// the summary and the resume command follow on clean lines.
func TestCtrlCOnATerminalClearsTheProgressBar(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command (-short)")
	}
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("skipping: no script(1) to give the command a terminal (util-linux)")
	}
	bin := buildCommand(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "sweep.jsonl")
	cmd := exec.Command("script", "--quiet", "--flush", "--return", "--command",
		bin+" sweep --scenario small --seeds 5000 --workers 1 --out "+out, "/dev/null")
	var transcript bytes.Buffer
	cmd.Stdout, cmd.Stderr = &transcript, &transcript
	keys, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(out + partialSuffix)
		if bytes.Count(b, []byte("\n")) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no lines after 60s:\n%q", transcript.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let the bar render (it refreshes a few times a second)
	if _, err := keys.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the sweep did not stop after Ctrl-C:\n%q", transcript.String())
	}
	keys.Close()
	text := transcript.String()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit %d after Ctrl-C, want %d:\n%q", code, exitInterrupted, text)
	}
	if !strings.Contains(text, "seeds/s)") {
		t.Fatalf("no progress bar on the terminal:\n%q", text)
	}
	clear := regexp.MustCompile("\r {20,}\r")
	loc := clear.FindAllStringIndex(text, -1)
	summary := strings.Index(text, "interrupted:")
	if len(loc) == 0 || summary < 0 || loc[len(loc)-1][1] > summary {
		t.Fatalf("the bar was not erased before the summary:\n%q", text)
	}
	after := text[loc[len(loc)-1][1]:]
	if strings.Contains(after, "seeds/s)") || strings.Contains(after, "small: ") {
		t.Errorf("the bar was drawn again after it was erased:\n%q", after)
	}
	if !strings.Contains(after, "resume: go run ./cmd/stateflush sweep --scenario small --seeds 5000 --workers 1 --out "+out+" --resume "+out+partialSuffix) {
		t.Errorf("no resume command after Ctrl-C:\n%q", after)
	}
}
