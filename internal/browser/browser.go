// Package browser renders a local HTML file in headless Chromium for tests: the DOM after the
// page's scripts ran, and a screenshot. Tests that use it skip with a message when Chromium is not
// installed, and fail instead when STATEFLUSH_REQUIRE_CHROMIUM=1 (as CI sets it), like the Spin
// model checks.
package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RequireEnv is the environment variable that makes a missing Chromium a test failure.
const RequireEnv = "STATEFLUSH_REQUIRE_CHROMIUM"

// candidates are the names Chromium is installed under (Debian's package installs chromium).
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Find returns the Chromium binary, or skips the test (fails it under RequireEnv=1).
func Find(t testing.TB) string {
	t.Helper()
	for _, name := range candidates {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "headless Chromium is not installed (apt-get install -y chromium); the report page is not rendered"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s, and %s=1 requires it", msg, RequireEnv)
	}
	t.Skip(msg)
	return ""
}

// flags keep Chromium off the network and away from the user's profile: the page must render from
// the file alone.
func flags(profile string) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--hide-scrollbars", "--user-data-dir=" + profile}
}

// DOM loads the file in a width x height window and returns the document after its scripts ran
// (--dump-dom).
func DOM(t testing.TB, file string, width, height int) string {
	t.Helper()
	return run(t, file, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), "--dump-dom")
}

// Screenshot loads the file in a width x height window and returns the path of a PNG of it, in
// the test's temporary directory.
func Screenshot(t testing.TB, file string, width, height int) string {
	t.Helper()
	shot := filepath.Join(t.TempDir(), "screenshot.png")
	run(t, file, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), "--screenshot="+shot)
	if info, err := os.Stat(shot); err != nil || info.Size() == 0 {
		t.Fatalf("chromium wrote no screenshot of %s: %v", file, err)
	}
	return shot
}

func run(t testing.TB, file string, args ...string) string {
	t.Helper()
	bin := Find(t)
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append(flags(filepath.Join(t.TempDir(), "profile")), append(args, "file://"+abs)...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 20))
	}
	return stdout.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
