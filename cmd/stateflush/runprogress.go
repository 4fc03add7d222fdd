package main

import (
	"fmt"
	"io"
	"time"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol"
)

// runStatus shows on one line of stderr where a long `run` or `replay` is: the virtual time of the
// simulation against its fault phase, then the checking. Like the sweep's bar it is silent when
// stderr is not a terminal, and it erases itself before the report is printed.
type runStatus struct {
	w       io.Writer
	label   string
	active  bool
	printed bool
	stage   string
	last    time.Time // wall clock of the last line drawn, to redraw at most every redrawEvery
}

const redrawEvery = 100 * time.Millisecond

func newRunStatus(w io.Writer, label string) *runStatus {
	return &runStatus{w: w, label: label, active: isTerminal(w)}
}

// update is harness.Options.Progress.
func (r *runStatus) update(p harness.RunProgress) {
	if !r.active {
		return
	}
	now := time.Now()
	if p.Stage == r.stage && now.Sub(r.last) < redrawEvery {
		return
	}
	r.stage, r.last = p.Stage, now
	fmt.Fprintf(r.w, "\r\033[K%s", statusLine(r.label, p))
	r.printed = true
}

// statusLine says in words where a run is.
func statusLine(label string, p harness.RunProgress) string {
	steps := count(int(p.Steps), "step", "steps")
	switch p.Stage {
	case harness.StageSimulating:
		return fmt.Sprintf("%s: simulating, %s of the %s fault phase (virtual time), %s", label,
			protocol.Readable(protocol.Duration(p.Now)), protocol.Readable(protocol.Duration(p.SafetyPhase)), steps)
	case harness.StageQuiescing:
		return fmt.Sprintf("%s: faults stopped at %s, waiting for the system to quiesce, %s", label,
			protocol.Readable(protocol.Duration(p.Now)), steps)
	default:
		return fmt.Sprintf("%s: %s the run (%s simulated)", label, p.Stage, steps)
	}
}

// clear erases the status line so that what follows starts on a clean line.
func (r *runStatus) clear() {
	if r.printed {
		fmt.Fprint(r.w, "\r\033[K")
		r.printed = false
	}
}
