package harness

import (
	"fmt"
	"slices"

	"github.com/stateflush/stateflush/protocol"
)

// Shrunk is the result of Shrink: the smallest scenario found that still fails with the same seed.
type Shrunk struct {
	Outcome *Outcome
	// Tries counts the runs Shrink made.
	Tries int
}

// Shrink looks for a smaller run that still fails: fewer clients, fewer operations per client (the
// store's and the lock service's), fewer nemeses, a shorter safety phase. It keeps the seed, and because every subsystem draws from
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
		if err != nil || !o.Final.Found() {
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
	// First drop operations by key (Workload.OnlyKeys: a dropped operation still draws its choices,
	// so the rest of the schedule stays in place), delta-debugging style: try the keys the checks
	// named alone, then remove ever smaller chunks of the other keys while the run still fails.
	named := failingKeys(failing)
	// The same for the lock service: only the locks on the names the checks named.
	if names := failingLockNames(failing); len(names) > 0 && len(names) < current.KV.Locks.Names {
		try(func(s *Scenario) bool { s.LockWorkload.OnlyNames = names; return true })
	}
	// A run without store operations (a lock scenario) has no keys to drop.
	if current.ClientOps() > 0 && (len(named) == 0 || !try(func(s *Scenario) bool { s.Workload.OnlyKeys = named; return true })) {
		kept := allKeys(current.Workload.Keys)
		for chunks := 2; tries < maxTries; {
			others := slices.DeleteFunc(slices.Clone(kept), func(k string) bool { return slices.Contains(named, k) })
			if len(others) == 0 {
				break
			}
			size := max(1, len(others)/chunks)
			removed := false
			for start := 0; start < len(others) && tries < maxTries; start += size {
				chunk := others[start:min(start+size, len(others))]
				candidate := slices.DeleteFunc(slices.Clone(kept), func(k string) bool { return slices.Contains(chunk, k) })
				if try(func(s *Scenario) bool { s.Workload.OnlyKeys = candidate; return true }) {
					kept, removed = candidate, true
					break
				}
			}
			if !removed {
				if size == 1 {
					break
				}
				chunks *= 2
			}
		}
	}
	for progress := true; progress && tries < maxTries; {
		progress = false
		// Fewer clients: drop the last one (server ids and every other stream stay the same).
		for current.KV.Clients > 1 && try(func(s *Scenario) bool { s.KV.Clients--; return true }) {
			progress = true
		}
		// Fewer operations per client: halve while it fails, then step down one at a time.
		for current.Workload.OpsPerClient > 1 && try(func(s *Scenario) bool { s.Workload.OpsPerClient /= 2; return true }) {
			progress = true
		}
		for current.Workload.OpsPerClient > 1 && try(func(s *Scenario) bool { s.Workload.OpsPerClient--; return true }) {
			progress = true
		}
		// The same for the lock service's clients and their locks.
		for current.KV.Locks.Clients > 1 && try(func(s *Scenario) bool { s.KV.Locks.Clients--; return true }) {
			progress = true
		}
		for current.LockWorkload.OpsPerClient > 1 && try(func(s *Scenario) bool { s.LockWorkload.OpsPerClient /= 2; return true }) {
			progress = true
		}
		for current.LockWorkload.OpsPerClient > 1 && try(func(s *Scenario) bool { s.LockWorkload.OpsPerClient--; return true }) {
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

// allKeys names the workload's keys "k0".."k<n-1>".
func allKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	return keys
}

// failingKeys lists, sorted, the keys that the failing checks named.
func failingKeys(o *Outcome) []string {
	var keys []string
	add := func(k string) {
		if k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range o.Verdict.IllegalKeys {
		add(k)
	}
	for _, v := range o.Violations {
		if v.Check != OneHolderCheck { // its key is a lock name (failingLockNames)
			add(v.Key)
		}
	}
	slices.Sort(keys)
	return keys
}

// failingLockNames lists the lock names the lock checks named.
func failingLockNames(o *Outcome) []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, n := range o.LockVerdict.IllegalKeys {
		add(n)
	}
	for _, v := range o.Violations {
		if v.Check == OneHolderCheck {
			add(v.Key)
		}
	}
	slices.Sort(names)
	return names
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
	func(s *Scenario) bool { on := s.Nemeses.ServerDupProb > 0; s.Nemeses.ServerDupProb = 0; return on },
	func(s *Scenario) bool {
		on := s.Nemeses.RebalanceMeanGap > 0
		s.Nemeses.RebalanceMeanGap = 0
		return on
	},
	func(s *Scenario) bool { on := s.Nemeses.SourceKillProb > 0; s.Nemeses.SourceKillProb = 0; return on },
	func(s *Scenario) bool {
		on := s.Nemeses.SourceBounceProb > 0
		s.Nemeses.SourceBounceProb = 0
		return on
	},
	func(s *Scenario) bool {
		on := s.Nemeses.ServerPartitionMeanGap > 0
		s.Nemeses.ServerPartitionMeanGap = 0
		return on
	},
	func(s *Scenario) bool {
		on := s.Nemeses.ConnectionLossMeanGap > 0
		s.Nemeses.ConnectionLossMeanGap = 0
		return on
	},
	func(s *Scenario) bool { on := s.Nemeses.Monkey != nil; s.Nemeses.Monkey = nil; return on },
}

// SmallWorkloads are the client counts and operations per client that SearchSmall tries: smallest
// first (8 operations up to 30), and at each size the most concurrent first, since a small
// counterexample needs concurrent writes as much as a large one.
var smallWorkloads = [][2]int{{4, 2}, {3, 3}, {4, 3}, {3, 4}, {5, 3}, {4, 4}, {6, 3}, {5, 4}, {4, 5}, {6, 4}, {8, 3}, {5, 5}, {10, 3}, {6, 5}, {5, 6}, {3, 10}, {2, 15}}

// SearchSmall looks for a counterexample of at most maxOps client operations by searching seeds
// rather than cutting one run down. It tries small workloads over seeds 1..seeds, first in the failing
// run's scenario with every nemesis at its full rate (Swarm off, which a command-line flag expresses,
// so the result replays from flags), then with the nemeses the failing seed drew (replayable from its
// trace file), until a run fails a check the original failed. Small runs cost little, so searching
// hundreds of seeds is cheaper than shrinking one large run whose failure depends on the load around
// it. It returns nil when no small run fails.
func SearchSmall(failing *Outcome, maxOps, seeds int) *Outcome {
	fullRate := failing.Spec.Scenario
	fullRate.Swarm = false
	drawn := failing.Drawn
	drawn.Swarm = false
	drawn.Workload.OnlyKeys = nil
	for _, base := range []Scenario{fullRate, drawn} {
		for _, w := range smallWorkloads {
			if w[0]*w[1] > maxOps {
				continue
			}
			scn := base
			scn.KV.Clients, scn.Workload.OpsPerClient = w[0], w[1]
			if scn.Validate() != nil {
				continue
			}
			for seed := uint64(1); seed <= uint64(seeds); seed++ {
				o, err := Run(scn, seed, Options{})
				if err != nil || !o.Final.Found() {
					continue
				}
				for _, c := range o.CaughtBy {
					if slices.Contains(failing.CaughtBy, c) {
						return o
					}
				}
			}
		}
	}
	return nil
}
