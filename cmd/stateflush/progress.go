package main

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
)

// progress shows seeds done, seeds per second and failures so far on stderr. It is silent when
// stderr is not a terminal (a pipe, a file, a test) or with --quiet, so logs stay clean.
type progress struct {
	bar      *progressbar.ProgressBar
	label    string
	failures int
	// verb names a failure: "failed" for the code under test, "caught" when the run is a mutant,
	// whose failures are what the checks are for.
	verb string
}

// newProgress starts a bar of total seeds; label says what runs ("no-mitt").
func newProgress(w io.Writer, quiet bool, total int, label string) *progress {
	p := &progress{label: label, verb: "failed"}
	if quiet || !isTerminal(w) {
		return p
	}
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(p.description()),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("seeds"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
	)
	return p
}

func (p *progress) description() string {
	return fmt.Sprintf("%s: %d %s", p.label, p.failures, p.verb)
}

// mutant makes the bar count failures as catches.
func (p *progress) mutant() *progress {
	p.verb = "caught"
	if p.bar != nil {
		p.bar.Describe(p.description())
	}
	return p
}

// seedDone counts one seed; failed marks a violation or an unknown verdict.
func (p *progress) seedDone(failed bool) {
	if failed {
		p.failures++
	}
	if p.bar == nil {
		return
	}
	if failed {
		p.bar.Describe(p.description())
	}
	_ = p.bar.Add(1)
}

// skip advances the bar over seeds that will not run (a search that stopped early).
func (p *progress) skip(n int) {
	if p.bar != nil && n > 0 {
		_ = p.bar.Add(n)
	}
}

// relabel starts counting failures of another run on the same bar.
func (p *progress) relabel(label string) {
	p.label, p.failures = label, 0
	if p.bar != nil {
		p.bar.Describe(p.description())
	}
}

// finish removes the bar so that the summary that follows starts on a clean line.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// clear erases the bar where it stands (an interrupted sweep), so that the summary starts on a
// clean line.
func (p *progress) clear() {
	if p.bar != nil {
		_ = p.bar.Exit() // no more rendering, then erase what is on the line
		_ = p.bar.Clear()
	}
}

// isTerminal reports whether w is a character device (a terminal), with the standard library only.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
