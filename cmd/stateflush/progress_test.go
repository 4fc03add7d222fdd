package main

import (
	"bytes"
	"testing"
)

// TestProgressSaysCaughtForMutants: the bar counts the correct protocol's failures as "failed" and
// a mutant's as "caught" (what the checks are for).
func TestProgressSaysCaughtForMutants(t *testing.T) {
	p := newProgress(&bytes.Buffer{}, true, 3, "steady-monkey")
	p.seedDone(true)
	if got := p.description(); got != "steady-monkey: 1 failed" {
		t.Errorf("correct protocol: %q", got)
	}
	m := newProgress(&bytes.Buffer{}, true, 3, "no-mitt").mutant()
	m.seedDone(true)
	m.seedDone(false)
	if got := m.description(); got != "no-mitt: 1 caught" {
		t.Errorf("mutant: %q", got)
	}
}
