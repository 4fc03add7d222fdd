package harness

import (
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

func TestSizesBeyondTheLimitsAreRefusedNamingTheLimit(t *testing.T) {
	base := mustScenario(t, "small")
	l := DefaultSizeLimits
	cases := []struct {
		mutate func(*Scenario)
		want   string
	}{
		{func(s *Scenario) { s.KV.Servers = l.Servers + 1 }, "Servers=257 exceeds the limit of 256"},
		{func(s *Scenario) { s.KV.Clients = l.Clients + 1 }, "Clients=1001 exceeds the limit of 1000"},
		{func(s *Scenario) { s.KV.Buckets = l.Buckets + 1 }, "Buckets=10001 exceeds the limit of 10000"},
		{func(s *Scenario) { s.Workload.Keys = l.Keys + 1 }, "Keys=100001 exceeds the limit of 100000"},
		{func(s *Scenario) { s.KV.Clients, s.Workload.OpsPerClient = 1000, 1001 }, "client operations (Clients × OpsPerClient)=1001000"},
		{func(s *Scenario) { s.SafetyPhase = l.PhaseLimit + 1 }, "SafetyPhase (µs)=600000001"},
		{func(s *Scenario) { s.QuiesceBudget = l.PhaseLimit + protocol.Second }, "QuiesceBudget (µs)"},
	}
	for _, c := range cases {
		s := base
		c.mutate(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), LimitScaleEnv+"=N") {
			t.Errorf("want an error with %q and how to raise the limit, got %v", c.want, err)
		}
	}
	// The scale variable raises every limit, and a bad value is itself an error naming the variable.
	big := base
	big.KV.Servers = l.Servers + 1
	t.Setenv(LimitScaleEnv, "2")
	if err := big.Validate(); err != nil {
		t.Errorf("with %s=2, %d servers: %v", LimitScaleEnv, big.KV.Servers, err)
	}
	t.Setenv(LimitScaleEnv, "0")
	if err := base.Validate(); err == nil || !strings.Contains(err.Error(), LimitScaleEnv) {
		t.Errorf("with %s=0: want an error naming the variable, got %v", LimitScaleEnv, err)
	}
}
