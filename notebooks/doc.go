// Package notebooks holds stateflush's experiments: each runs the simulator through package harness,
// reads the runs back (histories, traces, verdicts) and draws figures with gonum/plot. Every
// experiment has a directory notebooks/NN-name/ with a README that shows its figures, says what
// they show and how to regenerate them, and the committed figures themselves: NAME.png for pages,
// NAME.svg for papers, and NAME.csv with the numbers behind them.
//
// # Regenerating figures
//
// From the module root:
//
//	go run ./cmd/stateflush plot NAME        # through the command line
//	go run ./notebooks/cmd/regen NAME        # without it; "all" regenerates every experiment
//
// or from Go:
//
//	e, err := notebooks.Lookup("latency-timeline")
//	err = e.Run("notebooks/" + e.Dir)
//
// Experiments lists them in their numbered order:
//
//  1. latency-timeline: client latency over virtual time while one replica is created, state
//     flush vs blocking vs naive, with the protocol's phases shaded.
//  2. copy-latency-vs-size: p50 and p99 write latency during a copy against the bucket's size.
//  3. mutant-detection: for each mutant, the fraction of seeds that catch it as seeds are added,
//     and the seed of the first catch.
//  4. checker-cost: the linearizability checker's wall time against history length and keys.
//  5. availability-under-chaos: availability, throughput and redundancy over virtual time under
//     several chaos monkey kill rates.
//  6. spacetime-diagram: a space-time diagram of a shrunk failing run, with the violating read.
//  7. sim-throughput: simulator events and messages per wall-clock second against cluster size.
//  8. snapshot-vs-flush: a Chandy–Lamport snapshot and a state flush on the same workload.
//  9. hops: copy duration, write latency during a copy and time to restore redundancy against
//     1 to 7 network hops between members, state flush vs blocking.
//
// # Reproducibility
//
// Every experiment runs fixed seeds, and the simulator is deterministic, so the same code on the
// same platform regenerates byte-identical figures and tables. Two experiments measure wall-clock
// time (checker-cost and sim-throughput): their runs are reproducible but their figures are not,
// and they name the machine's GOMAXPROCS. snapshot-vs-flush checks each run's whole-store
// linearizability within a 1 s wall-clock budget, so its count of undecided checks can differ on a
// slower or busier machine. Figures depend on the code they were generated with:
// after a change to the protocol or the harness, regenerate them (the mutant-detection and
// spacetime-diagram experiments follow the default scenario, so retuning it changes them).
//
// Each experiment keeps under about 20 s on 2 cores. The package's tests run one cheap experiment
// twice and compare the files byte for byte; STATEFLUSH_LONG=1 also runs every experiment.
//
// # House style
//
// One piece of code (internal/figure, with chart.go's helpers) sets the look of every figure:
// 16 x 9 cm unless a figure needs more room, Liberation Sans at 10-12 pt, colour-blind-safe
// Okabe–Ito colours with the three replica-creation strategies always in the same colour, PNG at
// 300 dpi, SVG (fonts with a generic sans-serif fallback) and PDF; the report page's space-time
// diagram shares it. Log axes plot base-10 logarithms on a linear axis labelled in the original
// units, because gonum's LogScale misplaces long axis labels.
package notebooks
