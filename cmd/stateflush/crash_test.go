package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// buildCommand builds the stateflush binary for tests that run it as a process.
func buildCommand(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stateflush")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return bin
}

// TestRuntimeCrashHasItsOwnExitCode: what only the Go runtime can end (a panic on a goroutine that
// nobody recovers, a stack overflow) exits 5, not the 2 the runtime gives, which is the code of
// usage errors; a usage error still exits 2, and a clean run 0.
func TestRuntimeCrashHasItsOwnExitCode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command (-short)")
	}
	if runtime.GOOS == "windows" {
		t.Skip("the command runs itself as a child on unix only")
	}
	bin := buildCommand(t)
	for _, c := range []struct {
		crash string
		args  []string
		code  int
		want  string
	}{
		{"panic", []string{"version"}, exitCrash, "the Go runtime ended the command"},
		{"stack-overflow", []string{"version"}, exitCrash, "the Go runtime ended the command"},
		{"", []string{"bogus"}, exitUsage, "unknown subcommand"},
		{"", []string{"version"}, exitPass, ""},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = append(os.Environ(), envCrashTest+"="+c.crash)
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != c.code || !strings.Contains(string(out), c.want) {
			t.Errorf("%s=%s stateflush %s: exit %d, want %d and %q:\n%s", envCrashTest, c.crash, strings.Join(c.args, " "), cmd.ProcessState.ExitCode(), c.code, c.want, out)
		}
	}
}
