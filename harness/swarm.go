package harness

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/chaos"
)

// DrawSwarm draws, for one seed, which of a scenario's nemeses are enabled and at what rates (swarm
// testing): each nemesis is on with probability 1/2 and, when on, its rate is scaled by a factor in
// [1/4, 2]. Some seeds therefore run with few faults and reach deep states, others with many. Draw 0
// (where shrinking pushes) leaves a nemesis off. A seed keeps a copy-creating nemesis in most draws
// (keepCopyCreation).
func DrawSwarm(n Nemeses, r protocol.Rand) Nemeses {
	on := func() bool { return r.Intn(2) == 1 }
	// scale is between 1/4 and 2 in eighths.
	scale := func(d protocol.Duration) protocol.Duration { return d * protocol.Duration(2+r.Intn(15)) / 8 }
	scaleProb := func(p float64) float64 { return min(1, p*float64(2+r.Intn(15))/8) }
	// The bound on the source nemeses' kills is not a fault but a limit on them: kept as it is.
	out := Nemeses{SourceKillMinGap: n.SourceKillMinGap}
	// The copy-creating nemeses: drawn like the others, and given back by keepCopyCreation.
	var creators []func()
	if n.Monkey != nil {
		creators = append(creators, func() {
			m := *n.Monkey
			m.MeanTimeBetweenKills = scale(m.MeanTimeBetweenKills)
			out.Monkey = &m
		})
	}
	if n.RebalanceMeanGap > 0 {
		creators = append(creators, func() { out.RebalanceMeanGap = scale(n.RebalanceMeanGap) })
	}
	if n.Monkey != nil && on() {
		creators[0]()
	}
	if n.ClientPartitionMeanGap > 0 && on() {
		out.ClientPartitionMeanGap, out.ClientPartitionMax = scale(n.ClientPartitionMeanGap), n.ClientPartitionMax
	}
	if n.DelaySpikeMeanGap > 0 && on() {
		out.DelaySpikeMeanGap, out.DelaySpikeLatency, out.DelaySpikeMax = scale(n.DelaySpikeMeanGap), n.DelaySpikeLatency, n.DelaySpikeMax
	}
	if n.ClientLossProb > 0 && on() {
		out.ClientLossProb = scaleProb(n.ClientLossProb)
	}
	if n.ServerDupProb > 0 && on() {
		out.ServerDupProb = scaleProb(n.ServerDupProb)
	}
	if n.ClientDupProb > 0 && on() {
		out.ClientDupProb = scaleProb(n.ClientDupProb)
	}
	if n.RebalanceMeanGap > 0 && on() {
		creators[len(creators)-1]()
	}
	if n.SourceKillProb > 0 && on() {
		out.SourceKillProb = scaleProb(n.SourceKillProb)
	}
	if n.SourceBounceProb > 0 && on() {
		out.SourceBounceProb = scaleProb(n.SourceBounceProb)
	}
	keepCopyCreation(out, creators, r)
	if out.Monkey != nil {
		// Drawn last, so that the draws above are those of scenarios without a fault mix.
		out.Monkey.Faults = drawFaultMix(out.Monkey.Faults, on)
	}
	if n.ServerPartitionMeanGap > 0 && on() {
		// After the fault mix, for the same reason.
		out.ServerPartitionMeanGap, out.ServerPartitionMax = scale(n.ServerPartitionMeanGap), n.ServerPartitionMax
		out.ServerPartitionOneWayProb = n.ServerPartitionOneWayProb
	}
	if n.ConnectionLossMeanGap > 0 && on() {
		out.ConnectionLossMeanGap, out.ConnectionLossNoticeMax = scale(n.ConnectionLossMeanGap), n.ConnectionLossNoticeMax
	}
	return out
}

// drawFaultMix keeps the process crashes of a monkey's fault mix and switches each other kind of
// fault (host crashes, crashes inside a step, pauses) on or off, so that some seeds meet only the
// classic monkey and others every fault a data center deals. A mix left with process crashes only
// is the classic monkey's zero mix.
func drawFaultMix(f chaos.FaultMix, on func() bool) chaos.FaultMix {
	if f == (chaos.FaultMix{}) {
		return f
	}
	out := chaos.FaultMix{ProcessCrash: f.ProcessCrash}
	if f.HostCrash > 0 && on() {
		out.HostCrash = f.HostCrash
	}
	if f.CrashInStep > 0 && on() {
		out.CrashInStep = f.CrashInStep
	}
	if f.Pause > 0 && on() {
		out.Pause = f.Pause
	}
	if out == (chaos.FaultMix{ProcessCrash: f.ProcessCrash}) {
		return chaos.FaultMix{}
	}
	return out
}

// keepCopyCreation gives back, in all but one of eight draws, one of the scenario's copy-creating
// nemeses when the swarm switched all of them off. New copies come only from the monkey's kills
// (redundancy recovery) and from rebalance requests; with both off a seed never creates a copy and
// says nothing about replica creation, which is what every scenario with such a nemesis studies.
// Before this rule a quarter of the default scenario's seeds created no copy (43 of seeds 1–200).
// Draw 0 still leaves them off, so shrinking and rapid can reach a run without faults.
func keepCopyCreation(out Nemeses, creators []func(), r protocol.Rand) {
	if out.Monkey != nil || out.RebalanceMeanGap > 0 || len(creators) == 0 {
		return
	}
	if k := r.Intn(8); k > 0 {
		creators[(k-1)%len(creators)]()
	}
}

// overrideFlags returns the command-line flags that turn a built-in scenario into the given one, and
// whether they express every difference. A scenario changed in ways no flag sets (a shrunk run's
// fixed nemeses, a different network) can only be replayed from its trace file.
func overrideFlags(builtin, s Scenario) (string, bool) {
	var b strings.Builder
	k, bk := s.KV, builtin.KV
	candidate := builtin
	if k.Strategy != bk.Strategy {
		fmt.Fprintf(&b, " --strategy %s", k.Strategy)
		candidate.KV.Strategy = k.Strategy
	}
	if k.Mutants != bk.Mutants || k.Locks.Mutants != bk.Locks.Mutants {
		fmt.Fprintf(&b, " --mutant %s", s.MutantNames())
		candidate.KV.Mutants, candidate.KV.Locks.Mutants = k.Mutants, k.Locks.Mutants
	}
	if k.Servers != bk.Servers {
		fmt.Fprintf(&b, " --servers %d", k.Servers)
		candidate.KV.Servers = k.Servers
	}
	if k.Clients != bk.Clients {
		fmt.Fprintf(&b, " --clients %d", k.Clients)
		candidate.KV.Clients = k.Clients
	}
	if k.Buckets != bk.Buckets {
		fmt.Fprintf(&b, " --buckets %d", k.Buckets)
		candidate.KV.Buckets = k.Buckets
	}
	if k.Redundancy != bk.Redundancy {
		fmt.Fprintf(&b, " --redundancy %d", k.Redundancy)
		candidate.KV.Redundancy = k.Redundancy
	}
	if k.SourceChoice != bk.SourceChoice {
		fmt.Fprintf(&b, " --source %s", k.SourceChoice)
		candidate.KV.SourceChoice = k.SourceChoice
	}
	if w, bw := s.Workload, builtin.Workload; w.OpsPerClient != bw.OpsPerClient {
		fmt.Fprintf(&b, " --ops-per-client %d", w.OpsPerClient)
		candidate.Workload.OpsPerClient = w.OpsPerClient
	}
	if w, bw := s.Workload, builtin.Workload; w.Keys != bw.Keys {
		fmt.Fprintf(&b, " --keys %d", w.Keys)
		candidate.Workload.Keys = w.Keys
	}
	if l, bl := k.Locks, bk.Locks; l.Enabled() && bl.Enabled() {
		if l.Clients != bl.Clients {
			fmt.Fprintf(&b, " --lock-clients %d", l.Clients)
			candidate.KV.Locks.Clients = l.Clients
		}
		if l.Names != bl.Names {
			fmt.Fprintf(&b, " --lock-names %d", l.Names)
			candidate.KV.Locks.Names = l.Names
		}
		if w, bw := s.LockWorkload, builtin.LockWorkload; w.OpsPerClient != bw.OpsPerClient {
			fmt.Fprintf(&b, " --locks-per-client %d", w.OpsPerClient)
			candidate.LockWorkload.OpsPerClient = w.OpsPerClient
		}
	}
	if s.Swarm != builtin.Swarm {
		fmt.Fprintf(&b, " --swarm=%v", s.Swarm)
		candidate.Swarm = s.Swarm
	}
	if k.ReadFromAnyCopy != bk.ReadFromAnyCopy {
		fmt.Fprintf(&b, " --read-from-any-copy=%v", k.ReadFromAnyCopy)
		candidate.KV.ReadFromAnyCopy = k.ReadFromAnyCopy
	}
	if k.Partition.Rule != bk.Partition.Rule {
		fmt.Fprintf(&b, " --partition-rule %s", k.Partition.Rule)
		candidate.KV.Partition.Rule = k.Partition.Rule
	}
	if m, bm := s.Nemeses.Monkey, builtin.Nemeses.Monkey; m != nil && bm != nil && m.Victims != bm.Victims {
		fmt.Fprintf(&b, " --victims %s", m.Victims)
		monkey := *candidate.Nemeses.Monkey
		monkey.Victims = m.Victims
		candidate.Nemeses.Monkey = &monkey
	}
	if s.SafetyPhase != builtin.SafetyPhase && s.SafetyPhase%protocol.Millisecond == 0 {
		fmt.Fprintf(&b, " --safety-ms %d", s.SafetyPhase/protocol.Millisecond)
		candidate.SafetyPhase = s.SafetyPhase
	}
	return b.String(), sameScenario(candidate, s)
}

// sameScenario compares two scenarios by their JSON form, which is what a trace header records.
func sameScenario(a, b Scenario) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
