// Command stateflush runs the state flush toolkit from the command line: simulated runs of the
// replicated key-value store under the chaos monkey, seed sweeps, replays of recorded failures,
// the mutation score, history checks and the notebook figures.
//
// With no arguments it runs the demonstration: a sweep of the default scenario with the correct
// protocol and with one mutant (a deliberately broken variant), then shrinks the mutant's first
// counterexample and writes its report. It exits 0 when the correct protocol passed every seed and
// the checks caught the mutant.
//
//	go run ./cmd/stateflush                       # the demonstration
//	go run ./cmd/stateflush run --seed 7          # one seed, full report
//	go run ./cmd/stateflush sweep --seeds 1000    # many seeds on every core
//	go run ./cmd/stateflush replay stateflush-out/steady-monkey-seed56-no-mitt/trace.jsonl
//	go run ./cmd/stateflush mutants --seeds 200   # the mutation score table
//	go run ./cmd/stateflush check history.json    # linearizability of a recorded history
//	go run ./cmd/stateflush scenarios             # the built-in scenarios and their parameters
//	go run ./cmd/stateflush plot                  # regenerate the notebook figures
//	go run ./cmd/stateflush --version             # module version and VCS revision of the build
//
// Every subcommand takes --help, which lists its flags and examples.
//
// # Exit codes
//
//	0    pass: every check passed (the demonstration: the correct protocol passed and the mutant was caught)
//	1    violation: some check found a bug, or the protocol code panicked (verdict crash)
//	2    usage error or bad input: unknown subcommand, scenario or mutant, invalid number, conflicting
//	     flags, missing or malformed file, a trace of another format version, sweep shards that do not
//	     merge or leave seeds missing, an output another command is writing
//	3    unknown: some check ran out of time and nothing failed (the demonstration: also when the
//	     mutant escaped every seed of the budget)
//	4    internal error: the run could not be carried out or reproduced, e.g. replay's rerun does not
//	     reproduce the trace hash recorded in the file (the file was edited, was recorded by another
//	     build with the same format version, or the simulation is not deterministic), or a panic in
//	     the command's own code
//	5    crash: the Go runtime ended the command (a fatal error, or a panic no code recovers). The
//	     runtime exits 2 then, the code of usage errors, and no code of the process runs after it;
//	     so on unix the command runs itself as a child with the runtime's crash output going to a
//	     file too, and the parent turns a crash into 5. Elsewhere such a crash exits 2.
//	130  interrupted: a sweep stopped by SIGINT or SIGTERM, after it saved its completed seeds
//
// A replay hash mismatch is exit 4, not 1: a rerun that diverges says nothing about the protocol,
// only that the recording and this build disagree, and its verdict must not be read as the
// recorded run's.
//
// # Scenario flags
//
// run, sweep, mutants and the demonstration accept flags that change a built-in scenario:
// --strategy --mutant --servers --clients --buckets --redundancy --source --ops-per-client --keys
// --swarm --safety-ms. They are exactly the flags in the replay commands the harness prints, so
// every printed command reruns its seed.
//
// # Design
//
// The command uses the standard library's flag package, one FlagSet per subcommand and one file per
// subcommand: a CLI framework is not needed for a command of this size. Every subcommand is tested
// in-process through run(args, stdout, stderr), which returns the exit code.
package main
