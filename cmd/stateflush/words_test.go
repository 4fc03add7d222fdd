package main

import (
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

func TestCountAgreesAndDurationsReadAsPeopleWriteThem(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{count(0, "seed", "seeds"), "0 seeds"},
		{count(1, "seed", "seeds"), "1 seed"},
		{count(2, "copy", "copies"), "2 copies"},
		{protocol.Readable(1500 * protocol.Millisecond), "1.5s"},
		{protocol.Readable(80 * protocol.Millisecond), "80ms"},
		{protocol.Readable(250), "250µs"},
		{protocol.Readable(2 * protocol.Second), "2s"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// TestBannersUseReadableDurationsAndAgreeingPlurals runs one seed and the default job with one
// seed: no six-decimal durations in the scenario's description, and "1 seed", not "1 seeds".
func TestBannersUseReadableDurationsAndAgreeingPlurals(t *testing.T) {
	r := cli(t, "run", "--scenario", "small", "--seed", "1", "--out", t.TempDir())
	if r.code == exitUsage || r.code == exitInternal {
		t.Fatal(r)
	}
	for _, bad := range []string{"000s", "0000s"} {
		if strings.Contains(r.stdout, "phases: safety") && strings.Contains(r.stdout, bad) {
			t.Errorf("run prints a fixed-point duration (%q):\n%s", bad, r.stdout)
		}
	}
	r = cli(t, "--scenario", "small", "--seeds", "1", "--quiet", "--shrink-tries", "0", "--out", t.TempDir())
	// The tally lines are harness.Tally's text; the default job's own lines are checked here.
	if first, _, _ := strings.Cut(r.stdout, "\n"); !strings.HasPrefix(first, "stateflush: 1 seed (") || strings.Contains(r.stdout, "of 1 seeds") {
		t.Errorf("the default job's plural does not agree:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "000s") {
		t.Errorf("the default job prints a fixed-point duration:\n%s", r.stdout)
	}
}
