package harness

import (
	"fmt"
	"os"
	"strconv"

	"github.com/stateflush/stateflush/protocol"
)

// SizeLimits bounds what one seed may ask for, so that a scenario too large for a seed's memory (the
// simulator keeps per-link state for every pair of nodes, and heartbeats grow with servers times
// virtual time) is refused with an error naming the limit, instead of dying in the runtime. The
// values hold a seed well under a gigabyte; Limits scales them.
type SizeLimits struct {
	Servers    int
	Clients    int
	Buckets    int
	Keys       int
	ClientOps  int               // clients × operations per client
	PhaseLimit protocol.Duration // each of SafetyPhase and QuiesceBudget
}

// DefaultSizeLimits are the limits at scale 1.
var DefaultSizeLimits = SizeLimits{
	Servers:    256,
	Clients:    1_000,
	Buckets:    10_000,
	Keys:       100_000,
	ClientOps:  1_000_000,
	PhaseLimit: 600 * protocol.Second,
}

// LimitScaleEnv names the environment variable that multiplies every size limit (a positive
// integer), for a machine with the memory for larger seeds.
const LimitScaleEnv = "STATEFLUSH_LIMIT_SCALE"

// Limits returns DefaultSizeLimits multiplied by $STATEFLUSH_LIMIT_SCALE (1 when unset), or an
// error naming the variable when its value is not a positive integer.
func Limits() (SizeLimits, error) {
	scale := 1
	if v := os.Getenv(LimitScaleEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return SizeLimits{}, fmt.Errorf("%s=%q: must be a positive integer (the factor applied to every size limit)", LimitScaleEnv, v)
		}
		scale = n
	}
	d := DefaultSizeLimits
	return SizeLimits{
		Servers: d.Servers * scale, Clients: d.Clients * scale, Buckets: d.Buckets * scale, Keys: d.Keys * scale,
		ClientOps: d.ClientOps * scale, PhaseLimit: d.PhaseLimit * protocol.Duration(scale),
	}, nil
}

// check reports the first size of s beyond the limits, naming the limit and how to raise it.
func (l SizeLimits) check(s Scenario) error {
	over := func(what string, got, limit int64) error {
		return fmt.Errorf("scenario %s: %s=%d exceeds the limit of %d per seed (raise every limit by a factor with %s=N)",
			s.Name, what, got, limit, LimitScaleEnv)
	}
	switch {
	case s.KV.Servers > l.Servers:
		return over("Servers", int64(s.KV.Servers), int64(l.Servers))
	case s.KV.Clients > l.Clients:
		return over("Clients", int64(s.KV.Clients), int64(l.Clients))
	case s.KV.Buckets > l.Buckets:
		return over("Buckets", int64(s.KV.Buckets), int64(l.Buckets))
	case s.Workload.Keys > l.Keys:
		return over("Keys", int64(s.Workload.Keys), int64(l.Keys))
	case int64(s.KV.Clients)*int64(s.Workload.OpsPerClient) > int64(l.ClientOps):
		return over("client operations (Clients × OpsPerClient)", int64(s.KV.Clients)*int64(s.Workload.OpsPerClient), int64(l.ClientOps))
	case s.SafetyPhase > l.PhaseLimit:
		return over("SafetyPhase (µs)", int64(s.SafetyPhase), int64(l.PhaseLimit))
	case s.QuiesceBudget > l.PhaseLimit:
		return over("QuiesceBudget (µs)", int64(s.QuiesceBudget), int64(l.PhaseLimit))
	}
	return nil
}
