// Package traces is stateflush's regression corpus: shrunk failing runs, one trace file each, that
// `go test ./traces/` replays on every change.
//
// Each file is a trace in sim/trace's JSON Lines format whose header carries the complete run
// specification (scenario, seed), so a file replays on its own with `stateflush replay FILE`. An entry
// named MUTANT.seedN.jsonl records a run of the mutant that the checks catch: replaying it must
// reproduce the recorded trace hash exactly and fail again, and the same run with the mutant
// switched off must pass. See README.md for how entries are made and named.
package traces
