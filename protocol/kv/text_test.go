package kv

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestConfigJSONNamesEnumerations: a Config round-trips through JSON with its strategy, source
// choice and mutants written as names, and unknown names are rejected with an error naming them.
func TestConfigJSONNamesEnumerations(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Strategy = Blocking
	cfg.SourceChoice = PreferNonPrimary
	cfg.Mutants = NewMutants(NoMitt, SkipFlush)
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Strategy":"blocking"`, `"SourceChoice":"prefer-non-primary"`, `"Mutants":"skip-flush,no-mitt"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Strategy != cfg.Strategy || back.SourceChoice != cfg.SourceChoice || back.Mutants != cfg.Mutants {
		t.Fatalf("round trip changed the config: %+v", back)
	}
	for _, bad := range []string{`{"Strategy":"fast"}`, `{"SourceChoice":"any"}`, `{"Mutants":"no-mitt,bogus"}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := json.Marshal(Config{Strategy: 9}); err == nil {
		t.Error("an out-of-range strategy marshalled")
	}
}
