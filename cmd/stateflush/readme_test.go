package main

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/internal/generated"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite the README sections that the command line's tests generate")

var readmePath = filepath.Join("..", "..", "README.md")

// TestREADMEExitCodes keeps the README's exit codes equal to the root --help's.
func TestREADMEExitCodes(t *testing.T) {
	text := strings.TrimPrefix(exitCodesHelp, "EXIT CODES\n")
	generated.Check(t, readmePath, "<!-- exit-codes:begin (generated: go test ./cmd/stateflush -run TestREADMEExitCodes -update-readme) -->",
		"<!-- exit-codes:end -->", "```\n"+text+"```\n", *updateReadme, "run go test ./cmd/stateflush -run TestREADMEExitCodes -update-readme")
}

// TestREADMEInterruptedSweep keeps the README's example of an interrupted sweep equal to what the
// sweep prints when it is interrupted after its seventh seed.
func TestREADMEInterruptedSweep(t *testing.T) {
	readme, err := filepath.Abs(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	args := []string{"sweep", "--scenario", "small", "--seeds", "20", "--out", "sweep.jsonl"}
	r := cliInterrupted(t, 7, args...)
	wantCode(t, r, exitInterrupted, args...)
	lines := readLines(t, r.stdout)
	var tail []string
	for i, l := range lines {
		if strings.HasPrefix(l, "interrupted:") {
			tail = lines[i:]
		}
	}
	if len(tail) != 3 {
		t.Fatalf("the interrupted sweep's summary does not end with the three lines the README shows:\n%s", r)
	}
	generated.Check(t, readme, "<!-- interrupted-sweep:begin (generated: go test ./cmd/stateflush -run TestREADMEInterruptedSweep -update-readme) -->",
		"<!-- interrupted-sweep:end -->", "```\n"+strings.Join(tail, "\n")+"\n```\n", *updateReadme, "run go test ./cmd/stateflush -run TestREADMEInterruptedSweep -update-readme")
}
