// Package harness wires stateflush together: it builds a simulated cluster of the replicated store
// (protocol/kv) from a named Scenario, runs a workload under the chaos monkey and other nemeses,
// checks the run with package linearizability, and turns the result into verdicts, reports and
// sweeps. The command line, the notebooks, the property tests and the regression corpus all use it,
// so "run a scenario and check it" exists once.
//
// # One run
//
//	scn, _ := harness.LookupScenario("steady-monkey")
//	out, err := harness.Run(scn, seed, harness.Options{})
//	out.Final        // pass, violation, unknown, crash (the run panicked), or data-loss (only where
//	                 // the scenario asks for it); only pass is a pass
//	out.Banner()     // every drawn parameter and the command that replays the run
//	out.WriteReport(dir)
//
// A run has two phases. In the safety phase the clients run their workload while nemeses inject
// faults that stay within what the store claims to survive (server crashes by the chaos monkey,
// client-link loss, duplication and partitions, short server-link delay spikes, rebalances, the image
// source killed or bounced mid-copy, Chandy–Lamport snapshots). Then every fault stops and the system must converge within the scenario's
// quiesce budget: quiescent, no copy still being created, every holder equal, redundancy restored.
// The checks after the run: per-key linearizability (porcupine) of the clients' history plus a read
// of every touched key at its primary after quiescence, at most once (read values decompose into
// write tokens), acknowledged writes present, convergence of entries and event-id tables, final
// reads at every initialized copy, redundancy, liveness, undeclared data loss, the monitor's alarms
// (unplanned crashes, forced disconnects, departures no crash explains), and, in runs that take
// snapshots, the consistent-cut check of every snapshot. The online invariants (online.go) watch
// the run through a sim.Observer and name the step where they break: a copy is complete when it is
// initialized, the flush did its work, one primary per epoch, versions never go backwards, an
// uninitialized copy never answers, a loss is declared only when no initialized copy lives. A panic
// anywhere in the run is the verdict crash, with its stack and the trace up to it.
//
// # Randomness and reproduction
//
// Every choice comes from streams derived from the seed (sim.PRNGSource), one per subsystem and per
// link, so the same seed reproduces the same trace hash, and removing one client or operation leaves
// the other choices in place. With Scenario.Swarm each seed also draws which nemeses run and how
// hard (DrawSwarm). Options.Source lets rapid drive every choice instead (sim.RapidSource), so a
// failing property shrinks to a short schedule. A run's trace header holds its RunSpec, so Replay
// re-runs a trace file and checks its hash; runs keep only the checkers' records unless
// Options.FullTrace is set, and WriteReport re-runs the seed with the full trace when it needs one.
//
// # Many runs
//
// ParallelSeeds runs one simulator per goroutine and emits results in seed order, so a sweep's output
// does not depend on the number of workers (ParallelSeedsUntil also stops when a sweep is
// interrupted); Shard splits a sweep across machines and MergeSweeps joins the shards. Each line of
// a sweep's output is a SweepLine: the seed's result and the SweepID of the sweep it belongs to
// (SpecDigest of the scenario and budget, the build's version, the seed range, the shard), so that
// ReadSweep and MergeSweeps refuse lines of different sweeps and MergeSweeps names the seeds no
// shard holds. SearchSmall looks for a counterexample of 8 to 30 client operations by
// searching seeds with small workloads, and Shrink cuts a failing run down; ScoreMutants measures how
// fast the checks catch each of the store's mutants (the state flush's twelve and one or more per
// other safety mechanism).
package harness
