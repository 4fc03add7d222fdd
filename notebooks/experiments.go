package notebooks

import (
	"errors"
	"fmt"
	"strings"
)

// Experiment is one figure-producing experiment. Name is what the command line takes, Title says
// in a few words what it shows, Dir is its directory under notebooks/ (README and committed
// figures), and Run regenerates its figures and data into outDir.
type Experiment struct {
	Name, Title, Dir string
	Run              func(outDir string) error
}

// ErrUnknownExperiment is returned by Lookup for a name that is not registered.
var ErrUnknownExperiment = errors.New("unknown experiment")

// Experiments lists every experiment in its numbered order.
func Experiments() []Experiment {
	return []Experiment{
		{Name: "latency-timeline", Title: "client latency during one replica creation: state flush vs blocking vs naive", Dir: "01-latency-timeline", Run: runLatencyTimeline},
		{Name: "copy-latency-vs-size", Title: "p50 and p99 write latency during a copy vs keys per bucket", Dir: "02-copy-latency-vs-size", Run: runCopyLatencyVsSize},
		{Name: "mutant-detection", Title: "how often, and how soon, the checks catch each mutant", Dir: "03-mutant-detection", Run: runMutantDetection},
		{Name: "checker-cost", Title: "linearizability checker wall time vs history length and keys", Dir: "04-checker-cost", Run: runCheckerCost},
		{Name: "availability-under-chaos", Title: "availability and redundancy over time under chaos monkey kill rates", Dir: "05-availability-under-chaos", Run: runAvailabilityUnderChaos},
		{Name: "spacetime-diagram", Title: "space-time diagram of a shrunk failing run", Dir: "06-spacetime-diagram", Run: runSpacetimeDiagram},
		{Name: "sim-throughput", Title: "simulator throughput vs cluster size", Dir: "07-sim-throughput", Run: runSimThroughput},
		{Name: "snapshot-vs-flush", Title: "Chandy–Lamport snapshot vs state flush on the same workload", Dir: "08-snapshot-vs-flush", Run: runSnapshotVsFlush},
		{Name: "hops", Title: "copy duration, write latency and redundancy restore vs hops between members", Dir: "09-hops", Run: runHopsExperiment},
		{Name: "scale", Title: "seconds, steps per operation and memory of one seed vs servers (5–200) and operations (100–100,000)", Dir: "10-scale", Run: runScale},
		{Name: "victims", Title: "whom the chaos monkey kills and how often each mutant is caught, by victim choice (age, uniform, roles)", Dir: "11-victims", Run: runVictims},
		{Name: "lock-failover", Title: "how often the monkey kills the grantor and the elder, and how soon each lock mutant is caught, by victim choice", Dir: "12-lock-failover", Run: runLockFailover},
	}
}

// Lookup returns the named experiment; an unknown name is an error listing the known ones.
func Lookup(name string) (Experiment, error) {
	var names []string
	for _, e := range Experiments() {
		if e.Name == name {
			return e, nil
		}
		names = append(names, e.Name)
	}
	return Experiment{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownExperiment, name, strings.Join(names, ", "))
}
