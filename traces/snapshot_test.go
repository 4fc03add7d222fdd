package traces

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
)

var updateSnapshots = flag.Bool("update-snapshots", false, "regenerate the snapshot corpus entries (snapshot-*.jsonl): search, shrink, write")

// snapshotSearchSeeds bounds the search for an entry's first failing seed when regenerating.
const snapshotSearchSeeds = 1000

// snapshotEntry is one snapshot example of the corpus: a run of the built-in "snapshots"
// scenario, changed by variant, that fails exactly the check named by caughtBy (regenerating takes
// the first such seed and shrinks it). fixed undoes the
// change that makes it fail; the fixed run must pass that check (and every check when passes is
// set).
type snapshotEntry struct {
	name     string
	caughtBy linearizability.CheckName
	variant  func(s *harness.Scenario)
	fixed    func(s *harness.Scenario)
	passes   bool
}

var snapshotEntries = []snapshotEntry{
	{
		// Links that reorder messages break the marker algorithm's FIFO assumption: a message sent
		// before its sender's marker arrives after it, so the receiver's recorded state includes a
		// message its sender's recorded state has not sent, or its channel state misses one.
		name:     "snapshot-reorder",
		caughtBy: linearizability.ConsistentCutCheck,
		variant: func(s *harness.Scenario) {
			s.Reorder = true
			s.Snapshots.Variant = kv.SnapshotPlain
		},
		fixed: func(s *harness.Scenario) { s.Reorder = false },
	},
	{
		// A plain snapshot is a consistent cut, yet not a linearizable read of the whole store:
		// see README.md. The flush variant, on the same seed, is.
		name:     "snapshot-plain-not-linearizable",
		caughtBy: linearizability.LinearizabilityCheck,
		variant: func(s *harness.Scenario) {
			// One client, four puts over two keys (one per bucket), a snapshot every 5 ms: the
			// smallest run that shows it.
			s.Snapshots.Variant = kv.SnapshotPlain
			s.Snapshots.MeanGap = 5 * protocol.Millisecond
			s.KV.Clients, s.Workload.OpsPerClient, s.Workload.Keys = 1, 4, 2
			s.Workload.Mix = kv.OpMix{Put: 1}
			s.SafetyPhase = 40 * protocol.Millisecond
		},
		fixed:  func(s *harness.Scenario) { s.Snapshots.Variant = kv.SnapshotFlush },
		passes: true,
	},
	{
		// The record-after-marker mutant records messages that arrive on a channel after its
		// marker.
		name:     "snapshot-record-after-marker",
		caughtBy: linearizability.ConsistentCutCheck,
		variant:  func(s *harness.Scenario) { s.Snapshots.Mutant = kv.RecordAfterMarker },
		fixed:    func(s *harness.Scenario) { s.Snapshots.Mutant = kv.NoSnapshotMutant },
		passes:   true,
	},
}

func snapshotEntryFile(t *testing.T, name string) (string, bool) {
	t.Helper()
	files, err := filepath.Glob(name + ".seed*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		return "", false
	}
	return files[0], true
}

// TestSnapshotCorpusReplays replays every snapshot entry: the rerun must reproduce the recorded
// trace hash and fail the entry's check (the linearizability entry fails it alone: its snapshots
// are consistent cuts), and the same run with the change undone must pass that check.
func TestSnapshotCorpusReplays(t *testing.T) {
	if *updateSnapshots {
		regenerateSnapshotEntries(t)
	}
	for _, e := range snapshotEntries {
		t.Run(e.name, func(t *testing.T) {
			file, ok := snapshotEntryFile(t, e.name)
			if !ok {
				t.Fatalf("no single corpus entry %s.seedN.jsonl: run `go test ./traces/ -run TestSnapshotCorpusReplays -update-snapshots`", e.name)
			}
			t.Parallel()
			out, err := harness.Replay(file, harness.Options{})
			if err != nil {
				t.Fatalf("%v\nreplay: go run ./cmd/stateflush replay traces/%s", err, file)
			}
			if !slices.Contains(out.CaughtBy, string(e.caughtBy)) {
				t.Fatalf("%s no longer fails %s (caught by %v)\nreplay: go run ./cmd/stateflush replay traces/%s", file, e.caughtBy, out.CaughtBy, file)
			}
			if e.caughtBy == linearizability.LinearizabilityCheck && len(out.CaughtBy) != 1 {
				t.Fatalf("%s fails %v: a plain snapshot must fail linearizability alone", file, out.CaughtBy)
			}
			fixed := out.Spec.Scenario
			e.fixed(&fixed)
			clean, err := harness.Run(fixed, out.Spec.Seed, harness.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(clean.CaughtBy, string(e.caughtBy)) || (e.passes && clean.Final != harness.VerdictPass) {
				t.Fatalf("%s with the change undone: %s, caught by %v: %v", file, clean.Final, clean.CaughtBy, clean.Violations)
			}
		})
	}
}

// regenerateSnapshotEntries searches each entry's first seed that fails its check alone, shrinks the
// run keeping that check failing, and writes its full trace as NAME.seedN.jsonl, replacing the
// entry's previous file.
func regenerateSnapshotEntries(t *testing.T) {
	base, err := harness.LookupScenario("snapshots")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range snapshotEntries {
		scn := base
		e.variant(&scn)
		var failing *harness.Outcome
		for seed := uint64(1); seed <= snapshotSearchSeeds && failing == nil; seed++ {
			o, err := harness.Run(scn, seed, harness.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if slices.Equal(o.CaughtBy, []string{string(e.caughtBy)}) {
				failing = o
			}
		}
		if failing == nil {
			t.Errorf("%s: no seed of %d fails %s alone", e.name, snapshotSearchSeeds, e.caughtBy)
			continue
		}
		target := *failing
		target.CaughtBy = []string{string(e.caughtBy)} // shrink towards runs that still fail this check
		shrunk := harness.Shrink(&target, 200).Outcome
		if old, ok := snapshotEntryFile(t, e.name); ok {
			if err := os.Remove(old); err != nil {
				t.Fatal(err)
			}
		}
		path := fmt.Sprintf("%s.seed%d.jsonl", e.name, shrunk.Spec.Seed)
		if err := shrunk.WriteTrace(path); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: seed %d, %d client ops, %d records, caught by %v -> %s\n%s", e.name, shrunk.Spec.Seed, len(shrunk.History),
			len(shrunk.Records), shrunk.CaughtBy, path, strings.TrimSpace(shrunk.Drawn.Describe()))
	}
}
