// Package generated keeps generated sections of committed text files (README tables) equal to what
// the code produces: a test computes the text, and Check compares it with the section between two
// marker lines, or rewrites the section when the test runs with its -update flag.
package generated

import (
	"os"
	"strings"
	"testing"
)

// Check compares the text between the begin and end marker lines of path with want; with update it
// rewrites the section instead of failing. hint says how to regenerate.
func Check(t testing.TB, path, begin, end, want string, update bool, hint string) {
	t.Helper()
	text, i, j := locate(t, path, begin, end)
	got := text[i+len(begin)+1 : j]
	if got == want {
		return
	}
	if update {
		if err := os.WriteFile(path, []byte(text[:i+len(begin)+1]+want+text[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's generated section differs from what the code produces; %s.\ncommitted:\n%s\nproduced:\n%s", path, hint, got, want)
}

// Section returns the committed text between the begin and end marker lines of path.
func Section(t testing.TB, path, begin, end string) string {
	t.Helper()
	text, i, j := locate(t, path, begin, end)
	return text[i+len(begin)+1 : j]
}

// locate reads path and finds its marker lines.
func locate(t testing.TB, path, begin, end string) (text string, i, j int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text = string(data)
	i, j = strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no section between %q and %q", path, begin, end)
	}
	return text, i, j
}
