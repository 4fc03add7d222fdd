// Package spec holds stateflush's formal models, written in Promela and checked exhaustively by the
// Spin model checker, and the Go code that runs them.
//
// The models (embedded in this package):
//
//   - stateflush.pml: creation of a new bucket replica by the state flush operation (announce, catcher's
//     mitt, flush through the image source, chunked image copy, retry from another source after the
//     source dies), with every mutant of protocol.md that the model can express as a -D switch.
//   - chandy_lamport.pml: the Chandy–Lamport snapshot over three processes exchanging tokens, with a
//     mutant that records messages after the marker and a non-FIFO variant.
//   - dlock_recovery.pml: grantor fail-over of the distributed lock service (three members, the elder
//     as first grantor crashing at any moment, recovery by the new elder), with five mutants.
//
// Checks lists every configuration that is verified: the correct models must hold (Spin reports no
// error), each mutant and each witness must be violated (Spin finds a counterexample). Run checks one
// configuration: it writes the model into a directory, generates the verifier with `spin -a`, compiles
// it with gcc, runs it, parses what it reports (Stats) and, when a counterexample trail was written,
// replays it with `spin -t -p` so the failure can be read and reproduced.
//
//	go test ./spec/                        # every check; skipped if spin is not installed
//	go test ./spec/ -run TestSpin -update  # also rewrite the results table in spec/README.md
//	STATEFLUSH_LONG=1 go test ./spec/      # add the larger bounds (minutes, several GB)
//	STATEFLUSH_REQUIRE_SPIN=1 go test ./spec/  # a missing spin or gcc fails instead of skipping
//
// Install Spin with `apt-get install -y spin`. Counterexample trails are kept under
// $STATEFLUSH_SPIN_TRAILS (default: stateflush-spin-trails in the system temp directory), one directory
// per check, each with the model and the trail; the test log prints the replay command.
package spec
