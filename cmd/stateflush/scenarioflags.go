package main

import (
	"flag"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/dlock"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/chaos"
)

// scenarioFlags are the flags that pick a built-in scenario and change its parameters. Their names
// are exactly those of the replay commands package harness prints (harness/swarm.go, overrideFlags),
// so that every printed command works.
type scenarioFlags struct {
	fs   *flag.FlagSet
	name string
	// mutants is --mutant; mutantDefault its default, which applies even when the flag is not
	// given (the default job switches on a mutant).
	mutants       string
	mutantDefault string
	strategy      string
	source        string
	servers       int
	clients       int
	buckets       int
	redundancy    int
	opsPerClient  int
	keys          int
	swarm         bool
	safetyMS      int64
	anyCopy       bool
	partitionRule string
	victims       string
	// The lock service's workload (lock scenarios only).
	lockClients, lockNames, locksPerClient int
}

// scenarioFlagNames are the flags addScenarioFlags registers (help lists them apart).
var scenarioFlagNames = []string{"scenario", "mutant", "strategy", "source", "servers", "clients", "buckets", "redundancy", "ops-per-client", "keys", "swarm", "safety-ms", "read-from-any-copy", "partition-rule", "victims", "lock-clients", "lock-names", "locks-per-client"}

// addScenarioFlags registers the scenario flags. With withMutant false the command defines its own
// --mutant (the mutation score takes a list of mutants to score one by one, not one set).
func addScenarioFlags(fs *flag.FlagSet, withMutant bool, defaultMutant string) *scenarioFlags {
	f := &scenarioFlags{fs: fs, mutantDefault: defaultMutant}
	fs.StringVar(&f.name, "scenario", harness.DefaultScenario, "built-in `scenario`: "+strings.Join(harness.ScenarioNames(), ", "))
	if withMutant {
		fs.StringVar(&f.mutants, "mutant", defaultMutant, "comma-separated `mutants` to switch on: "+strings.Join(kv.MutantNames(), ", ")+"; of the lock service (lock scenarios): "+strings.ReplaceAll(dlock.NewMutants(dlock.AllMutants()...).String(), ",", ", "))
	}
	fs.StringVar(&f.strategy, "strategy", "", "replica creation `strategy`: "+strings.Join(kv.Strategies(), ", ")+" (default: the scenario's)")
	fs.StringVar(&f.source, "source", "", "image `source` choice: prefer-primary, prefer-non-primary (default: the scenario's)")
	fs.IntVar(&f.servers, "servers", 0, "`number` of servers (default: the scenario's)")
	fs.IntVar(&f.clients, "clients", 0, "`number` of clients (default: the scenario's)")
	fs.IntVar(&f.buckets, "buckets", 0, "`number` of buckets (default: the scenario's)")
	fs.IntVar(&f.redundancy, "redundancy", 0, "`copies` of each bucket, primary included (default: the scenario's)")
	fs.IntVar(&f.opsPerClient, "ops-per-client", 0, "client `operations` per client (default: the scenario's)")
	fs.IntVar(&f.keys, "keys", 0, "`number` of distinct keys (default: the scenario's)")
	fs.BoolVar(&f.swarm, "swarm", false, "draw the enabled nemeses and their rates per seed; --swarm=false runs every nemesis at its rate (default: the scenario's)")
	fs.Int64Var(&f.safetyMS, "safety-ms", 0, "length of the safety phase (faults on) in virtual `ms` (default: the scenario's)")
	fs.BoolVar(&f.anyCopy, "read-from-any-copy", false, "clients send gets to any holder, and an initialized non-primary copy answers: faster reads that may be stale, so the linearizability check is expected to fail (default: the scenario's)")
	fs.StringVar(&f.victims, "victims", "", "how the chaos monkey picks its `victim`: age (weighted by the age of the process, as the seed's monkey), uniform, or roles (members holding the coordinator or a primary role ten times as likely per role) (default: the scenario's, age)")
	fs.IntVar(&f.lockClients, "lock-clients", 0, "`number` of lock clients, in a lock scenario (default: the scenario's)")
	fs.IntVar(&f.lockNames, "lock-names", 0, "`number` of lock names the lock clients contend for, in a lock scenario (default: the scenario's)")
	fs.IntVar(&f.locksPerClient, "locks-per-client", 0, "`number` of locks each lock client takes, in a lock scenario (default: the scenario's)")
	fs.StringVar(&f.partitionRule, "partition-rule", "", "network partition `rule`: weights (the side that loses at least half of the members' weight at once shuts down, as GemFire) or none (every side of a long partition goes on serving: split brain, for study) (default: the scenario's)")
	return f
}

// isSet reports whether the user gave the flag.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// scenario builds the scenario the flags describe and validates it. Errors are bad input.
func (f *scenarioFlags) scenario() (harness.Scenario, error) {
	scn, err := harness.LookupScenario(f.name)
	if err != nil {
		return scn, asBadInput(fmt.Errorf("--scenario: %w", err))
	}
	k := &scn.KV
	if isSet(f.fs, "mutant") || f.mutantDefault != "" {
		if k.Mutants, k.Locks.Mutants, err = parseAnyMutants(f.mutants, scn); err != nil {
			return scn, asBadInput(fmt.Errorf("--mutant: %w", err))
		}
	}
	if isSet(f.fs, "strategy") {
		if k.Strategy, err = kv.ParseStrategy(f.strategy); err != nil {
			return scn, asBadInput(fmt.Errorf("--strategy: %w", err))
		}
	}
	if err := mutantsMeanSomething(k.Strategy, k.Mutants.List()); err != nil {
		return scn, err
	}
	if isSet(f.fs, "source") {
		if k.SourceChoice, err = kv.ParseSourceChoice(f.source); err != nil {
			return scn, asBadInput(fmt.Errorf("--source: %w", err))
		}
	}
	counts := []struct {
		flag   string
		value  int
		target *int
	}{
		{"servers", f.servers, &k.Servers},
		{"clients", f.clients, &k.Clients},
		{"buckets", f.buckets, &k.Buckets},
		{"redundancy", f.redundancy, &k.Redundancy},
		{"ops-per-client", f.opsPerClient, &scn.Workload.OpsPerClient},
		{"keys", f.keys, &scn.Workload.Keys},
	}
	lockCounts := []struct {
		flag   string
		value  int
		target *int
	}{
		{"lock-clients", f.lockClients, &k.Locks.Clients},
		{"lock-names", f.lockNames, &k.Locks.Names},
		{"locks-per-client", f.locksPerClient, &scn.LockWorkload.OpsPerClient},
	}
	for _, c := range lockCounts {
		if isSet(f.fs, c.flag) && !k.Locks.Enabled() {
			return scn, badInput("--%s: scenario %s has no lock service (lock scenarios: lock-grantor-failover, lock-and-store)", c.flag, scn.Name)
		}
	}
	counts = append(counts, lockCounts...)
	for _, c := range counts {
		if !isSet(f.fs, c.flag) {
			continue
		}
		if c.value < 1 {
			return scn, badInput("--%s %d: must be at least 1", c.flag, c.value)
		}
		*c.target = c.value
	}
	if isSet(f.fs, "swarm") {
		scn.Swarm = f.swarm
	}
	if isSet(f.fs, "read-from-any-copy") {
		k.ReadFromAnyCopy = f.anyCopy
	}
	if isSet(f.fs, "partition-rule") {
		if k.Partition.Rule, err = kv.ParsePartitionRule(f.partitionRule); err != nil {
			return scn, asBadInput(fmt.Errorf("--partition-rule: %w", err))
		}
	}
	if isSet(f.fs, "victims") {
		victims, err := chaos.ParseVictims(f.victims)
		if err != nil {
			return scn, asBadInput(fmt.Errorf("--victims: %w", err))
		}
		if scn.Nemeses.Monkey == nil {
			return scn, badInput("--victims %s: scenario %s has no chaos monkey", f.victims, scn.Name)
		}
		monkey := *scn.Nemeses.Monkey
		monkey.Victims = victims
		scn.Nemeses.Monkey = &monkey
	}
	if isSet(f.fs, "safety-ms") {
		if f.safetyMS < 1 {
			return scn, badInput("--safety-ms %d: must be at least 1", f.safetyMS)
		}
		scn.SafetyPhase = protocol.Duration(f.safetyMS) * protocol.Millisecond
	}
	if err := scn.Validate(); err != nil {
		return scn, asBadInput(fmt.Errorf("the flags give an invalid scenario: %w", err))
	}
	return scn, nil
}

// sweepRangeFlags are the seed range of sweeps: --seeds, --first-seed, --workers.
type sweepRangeFlags struct {
	seeds     int
	firstSeed uint64
	workers   int
}

func addSweepRangeFlags(fs *flag.FlagSet, defaultSeeds int) *sweepRangeFlags {
	f := &sweepRangeFlags{}
	fs.IntVar(&f.seeds, "seeds", defaultSeeds, "`number` of seeds")
	fs.Uint64Var(&f.firstSeed, "first-seed", 1, "first `seed` of the range")
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "`number` of parallel simulations (one per core is best)")
	return f
}

// maxSeeds bounds one invocation's seed range (its seed list is held in memory): a hundred million
// seeds is days of work on a hundred cores; larger sweeps are split with --first-seed.
const maxSeeds = 100_000_000

// maxWorkers bounds --workers: each worker holds one seed's simulation in memory, and more workers
// than cores only add memory. Edit the constant for a machine with more cores.
const maxWorkers = 1024

func (f *sweepRangeFlags) validate() error {
	if f.seeds < 1 {
		return badInput("--seeds %d: the seed count must be at least 1", f.seeds)
	}
	if f.seeds > maxSeeds {
		return badInput("--seeds %d: at most %d per invocation (split the range with --first-seed)", f.seeds, maxSeeds)
	}
	if f.workers < 1 {
		return badInput("--workers %d: must be at least 1", f.workers)
	}
	if f.workers > maxWorkers {
		return badInput("--workers %d: at most %d (each worker holds a whole simulation in memory; one per core is best)", f.workers, maxWorkers)
	}
	if f.firstSeed+uint64(f.seeds-1) < f.firstSeed {
		return badInput("--first-seed %d with --seeds %d: the range passes the largest seed", f.firstSeed, f.seeds)
	}
	return nil
}

// addBudgetFlag registers --budget, the wall-clock budget of a linearizability check.
func addBudgetFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("budget", 10*time.Second, "wall-clock `budget` of each linearizability check; a check that runs out is unknown")
}

func validateBudget(budget time.Duration) error {
	if budget <= 0 {
		return badInput("--budget %v: must be positive", budget)
	}
	return nil
}

// noPositional rejects arguments a command does not take.
func noPositional(fs *flag.FlagSet, positional []string) error {
	if len(positional) > 0 {
		return badInput("unexpected argument %q (see '%s --help')", positional[0], fs.Name())
	}
	return nil
}

// parseAnyMutants reads a list of mutant names of the store and of the lock service; a lock
// mutant needs a scenario with lock clients.
func parseAnyMutants(list string, scn harness.Scenario) (kv.Mutants, dlock.Mutants, error) {
	var store []string
	var locks dlock.Mutants
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		m, err := dlock.ParseMutant(name)
		if err != nil {
			store = append(store, name)
			continue
		}
		if !scn.KV.Locks.Enabled() {
			return 0, 0, fmt.Errorf("lock mutant %s in scenario %s, which has no lock clients (lock scenarios: lock-grantor-failover, lock-and-store)", name, scn.Name)
		}
		locks |= dlock.NewMutants(m)
	}
	s, err := kv.ParseMutants(strings.Join(store, ","))
	return s, locks, err
}

// mutantsMeanSomething rejects a flush mutant with a strategy that runs no flush: the run would be
// the strategy's own, labelled with a mutant that changed nothing.
func mutantsMeanSomething(strategy kv.Strategy, mutants []kv.Mutant) error {
	if strategy == kv.StateFlush {
		return nil
	}
	var inFlush []string
	for _, m := range mutants {
		if m.InFlush() {
			inFlush = append(inFlush, m.String())
		}
	}
	if len(inFlush) == 0 {
		return nil
	}
	return badInput("--mutant %s with --strategy %s: the %s strategy runs no flush, so %s would change nothing (use --strategy %s)",
		strings.Join(inFlush, ","), strategy, strategy, plural(len(inFlush), "this mutant", "these mutants"), kv.StateFlush)
}
