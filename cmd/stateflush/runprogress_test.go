package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/harness"
)

func TestStatusLineSaysWhereTheRunIs(t *testing.T) {
	for _, tc := range []struct {
		p    harness.RunProgress
		want string
	}{
		{harness.RunProgress{Stage: harness.StageSimulating, Now: 450_000, SafetyPhase: 1_500_000, Steps: 1},
			"seed 7: simulating, 450ms of the 1.5s fault phase (virtual time), 1 step"},
		{harness.RunProgress{Stage: harness.StageQuiescing, Now: 1_500_000, SafetyPhase: 1_500_000, Steps: 12345},
			"seed 7: faults stopped at 1.5s, waiting for the system to quiesce, 12345 steps"},
		{harness.RunProgress{Stage: harness.StageChecking, Steps: 2},
			"seed 7: checking the run (2 steps simulated)"},
	} {
		if got := statusLine("seed 7", tc.p); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	// Not a terminal: nothing is written.
	var buf bytes.Buffer
	status := newRunStatus(&buf, "seed 1")
	status.update(harness.RunProgress{Stage: harness.StageSimulating})
	status.clear()
	if buf.Len() != 0 {
		t.Errorf("a status on a non-terminal wrote %q", buf.String())
	}
}

// TestRunShowsProgressOnATerminal runs `run` on a pseudo-terminal (util-linux script): the status
// line shows the simulation and the checking, and is erased before the report is printed.
func TestRunShowsProgressOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command (-short)")
	}
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("skipping: no script(1) to give the command a terminal (util-linux)")
	}
	bin := buildCommand(t)
	cmd := exec.Command("script", "--quiet", "--return", "--command", bin+" run --seed 2 --servers 20", "/dev/null")
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("%v:\n%q", err, text)
	}
	for _, want := range []string{"seed 2: simulating, ", "of the 1.5s fault phase", "waiting for the system to quiesce", "seed 2: checking the run"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q on the terminal:\n%q", want, text)
		}
	}
	lastClear := strings.LastIndex(text, "\r\033[K")
	verdict := strings.Index(text, "verdict: ")
	if lastClear < 0 || verdict < lastClear || strings.Contains(text[lastClear:], "checking the run") {
		t.Errorf("the status line was not erased before the report:\n%q", text)
	}
}
