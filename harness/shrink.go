package harness

import (
	"slices"

	"github.com/stateflush/stateflush/protocol"
)

// Shrunk is the result of Shrink: the smallest scenario found that still fails with the same seed.
type Shrunk struct {
	Outcome *Outcome
	// Tries counts the runs Shrink made.
	Tries int
}

// Shrink looks for a smaller run that still fails: fewer clients, fewer operations per client,
// fewer nemeses, a shorter safety phase. It keeps the seed, and because every subsystem draws from
// its own stream, removing operations or a nemesis leaves every other choice as it was, so a smaller
// run usually still reaches the failing schedule. A candidate counts as still failing when at least
// one of the original's failing checks fails again. maxTries bounds the runs (each is a full run).
//
// Property tests shrink differently, with rapid (every draw shrinks towards 0); this shrinker serves
// the command line and the mutation score, where runs come from seeds.
func Shrink(failing *Outcome, maxTries int) Shrunk {
	best := failing
	tries := 0
	stillFails := func(candidate Scenario) (*Outcome, bool) {
		if tries >= maxTries || candidate.Validate() != nil {
			return nil, false
		}
		tries++
		o, err := Run(candidate, failing.Spec.Seed, Options{})
		if err != nil || o.Final != VerdictViolation {
			return nil, false
		}
		for _, c := range o.CaughtBy {
			if slices.Contains(failing.CaughtBy, c) {
				return o, true
			}
		}
		return nil, false
	}
	// The swarm's draws become fixed nemeses, so that removing one does not redraw the others.
	current := failing.Drawn
	current.Swarm = false

	try := func(mutate func(s *Scenario) bool) bool {
		candidate := current
		if !mutate(&candidate) {
			return false
		}
		if o, ok := stillFails(candidate); ok {
			best, current = o, candidate
			return true
		}
		return false
	}
	for progress := true; progress && tries < maxTries; {
		progress = false
		// Fewer clients: drop the last one (server ids and every other stream stay the same).
		for current.KV.Clients > 1 && try(func(s *Scenario) bool { s.KV.Clients--; return true }) {
			progress = true
		}
		// Fewer operations per client: halve while it fails, then step down one at a time.
		for current.KV.Workload.OpsPerClient > 1 && try(func(s *Scenario) bool { s.KV.Workload.OpsPerClient /= 2; return true }) {
			progress = true
		}
		for current.KV.Workload.OpsPerClient > 1 && try(func(s *Scenario) bool { s.KV.Workload.OpsPerClient--; return true }) {
			progress = true
		}
		// Fewer nemeses, one at a time.
		for _, remove := range nemesisRemovals {
			if try(remove) {
				progress = true
			}
		}
		// A shorter safety phase (faults stop sooner), in whole milliseconds.
		for current.SafetyPhase > 20*protocol.Millisecond && try(func(s *Scenario) bool {
			s.SafetyPhase = s.SafetyPhase / 2 / protocol.Millisecond * protocol.Millisecond
			return true
		}) {
			progress = true
		}
	}
	return Shrunk{Outcome: best, Tries: tries}
}

// nemesisRemovals each switch one nemesis off, reporting whether it was on.
var nemesisRemovals = []func(s *Scenario) bool{
	func(s *Scenario) bool {
		on := s.Nemeses.ClientPartitionMeanGap > 0
		s.Nemeses.ClientPartitionMeanGap = 0
		return on
	},
	func(s *Scenario) bool {
		on := s.Nemeses.DelaySpikeMeanGap > 0
		s.Nemeses.DelaySpikeMeanGap = 0
		return on
	},
	func(s *Scenario) bool { on := s.Nemeses.ClientLossProb > 0; s.Nemeses.ClientLossProb = 0; return on },
	func(s *Scenario) bool { on := s.Nemeses.ClientDupProb > 0; s.Nemeses.ClientDupProb = 0; return on },
	func(s *Scenario) bool {
		on := s.Nemeses.RebalanceMeanGap > 0
		s.Nemeses.RebalanceMeanGap = 0
		return on
	},
	func(s *Scenario) bool { on := s.Nemeses.SourceKillProb > 0; s.Nemeses.SourceKillProb = 0; return on },
	func(s *Scenario) bool { on := s.Nemeses.Monkey != nil; s.Nemeses.Monkey = nil; return on },
}
