package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/protocol/kv"
)

// snapshotSweep runs seeds 1..seeds of a scenario and returns the outcomes.
func snapshotSweep(t *testing.T, scn Scenario, seeds int) []*Outcome {
	t.Helper()
	out := make([]*Outcome, 0, seeds)
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		o, err := Run(scn, seed, Options{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

func withMonkey(s Scenario) Scenario {
	m := defaultMonkey()
	m.MeanTimeBetweenKills = 40 * protocol.Millisecond
	m.MinGapBetweenKills = 20 * protocol.Millisecond
	m.RestartAfter = 50 * protocol.Millisecond
	s.Nemeses.Monkey = m
	return s
}

// TestSnapshotsAreConsistentCutsWithFIFOLinks: with FIFO links every completed snapshot, plain or
// flush, passes the consistent-cut check on every seed, also while the monkey crashes servers
// (snapshots then abort or lose their initiator, never hang: no liveness violation).
func TestSnapshotsAreConsistentCutsWithFIFOLinks(t *testing.T) {
	for _, variant := range []kv.SnapshotVariant{kv.SnapshotPlain, kv.SnapshotFlush} {
		for _, monkey := range []bool{false, true} {
			scn := snapshotsScenario()
			scn.Snapshots.Variant = variant
			if monkey {
				scn = withMonkey(scn)
			}
			var total SnapshotStats
			for _, o := range snapshotSweep(t, scn, 60) {
				for _, v := range o.Violations {
					if v.Check == linearizability.ConsistentCutCheck || v.Check == LivenessCheck {
						t.Fatalf("%s snapshots (monkey %v), seed %d: %s\n%s", variant, monkey, o.Spec.Seed, v, o.Banner())
					}
				}
				st := SnapshotStatsOf(o.Records)
				total.Requested += st.Requested
				total.Completed += st.Completed
				total.Aborted += st.Aborted
			}
			t.Logf("%s snapshots, monkey %v: %+v over 60 seeds", variant, monkey, total)
			// Without crashes every snapshot completes; with them many abort, but enough complete
			// for the check to mean something.
			if (!monkey && total.Completed != total.Requested) || (monkey && (total.Completed < total.Requested/4 || total.Aborted == 0)) {
				t.Fatalf("%s snapshots, monkey %v: %+v over 60 seeds", variant, monkey, total)
			}
		}
	}
}

// TestFlushSnapshotsAreLinearizable: the flush variant passes every check, the whole-store
// linearizability check included, over 200 seeds of the snapshots scenario.
func TestFlushSnapshotsAreLinearizable(t *testing.T) {
	scn := snapshotsScenario()
	if scn.Snapshots.Variant != kv.SnapshotFlush {
		t.Fatalf("the snapshots scenario takes %s snapshots, want flush", scn.Snapshots.Variant)
	}
	snapshots := 0
	for _, o := range snapshotSweep(t, scn, 200) {
		if o.Final != VerdictPass {
			t.Fatalf("seed %d: %s, caught by %v: %v\n%s", o.Spec.Seed, o.Final, o.CaughtBy, o.Violations, o.Banner())
		}
		if o.Verdict.Model != linearizability.ModelStore {
			t.Fatalf("seed %d: checked with the %s model, want the whole-store model", o.Spec.Seed, o.Verdict.Model)
		}
		snapshots += SnapshotStatsOf(o.Records).Completed
	}
	if snapshots < 1000 {
		t.Fatalf("only %d snapshots completed over 200 seeds", snapshots)
	}
}

// TestPlainSnapshotsNeedNotBeLinearizable: plain snapshots are consistent cuts, yet the whole-store
// check finds seeds where no linearization exists (traces/README.md explains one).
func TestPlainSnapshotsNeedNotBeLinearizable(t *testing.T) {
	scn := snapshotsScenario()
	scn.Snapshots.Variant = kv.SnapshotPlain
	for _, o := range snapshotSweep(t, scn, 40) {
		if o.Final == VerdictPass {
			continue
		}
		if !slices.Equal(o.CaughtBy, []string{string(linearizability.LinearizabilityCheck)}) {
			t.Fatalf("seed %d: caught by %v, want linearizability alone: %v", o.Spec.Seed, o.CaughtBy, o.Violations)
		}
		t.Logf("seed %d: plain snapshots are not linearizable: %s", o.Spec.Seed, o.Verdict)
		return
	}
	t.Fatal("no seed of 40 shows a non-linearizable plain snapshot")
}

// TestReorderingBreaksConsistentCuts: without FIFO links the marker algorithm's assumption is
// broken and the consistent-cut check catches it.
func TestReorderingBreaksConsistentCuts(t *testing.T) {
	scn := snapshotsScenario()
	scn.Reorder = true
	scn.Snapshots.Variant = kv.SnapshotPlain
	for _, o := range snapshotSweep(t, scn, 10) {
		if slices.Contains(o.CaughtBy, string(linearizability.ConsistentCutCheck)) {
			return
		}
	}
	t.Fatal("the consistent-cut check caught no reordering in 10 seeds")
}

// TestRecordAfterMarkerMutantIsCaught: a member that records messages arriving after a channel's
// marker fails the consistent-cut check, in both variants, and the same seeds pass without it.
func TestRecordAfterMarkerMutantIsCaught(t *testing.T) {
	for _, variant := range []kv.SnapshotVariant{kv.SnapshotPlain, kv.SnapshotFlush} {
		scn := snapshotsScenario()
		scn.Snapshots.Variant = variant
		scn.Snapshots.Mutant = kv.RecordAfterMarker
		caught := 0
		for _, o := range snapshotSweep(t, scn, 10) {
			if slices.Contains(o.CaughtBy, string(linearizability.ConsistentCutCheck)) {
				caught++
			}
		}
		if caught < 8 {
			t.Fatalf("%s snapshots: the mutant was caught on %d of 10 seeds", variant, caught)
		}
	}
}

// percentile returns the p-th percentile (nearest rank) of sorted values.
func percentile(sorted []int64, p int) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

// TestSnapshotWriteLatency measures what the flush variant costs clients: the latency of the client
// writes invoked while a snapshot is in progress, plain against flush, with a snapshot every 10 ms
// (snapshots overlap) and every 50 ms on average, over 100 seeds of the snapshots scenario each,
// beside the latency of every write without snapshots. Latencies are in virtual time, so the
// figures are exact and the same on every machine. Run with -v to see them:
//
//	go test ./harness/ -run TestSnapshotWriteLatency -v
func TestSnapshotWriteLatency(t *testing.T) {
	const seeds = 100
	summary := func(latencies []int64) string {
		slices.Sort(latencies)
		return fmt.Sprintf("%4d writes, p50 %6.2f ms, p99 %6.2f ms", len(latencies),
			float64(percentile(latencies, 50))/1000, float64(percentile(latencies, 99))/1000)
	}
	baseline := snapshotsScenario()
	baseline.Snapshots = SnapshotPlan{}
	var all []int64
	for _, o := range snapshotSweep(t, baseline, seeds) {
		for _, op := range o.History {
			if op.Kind.IsWrite() && op.Status == linearizability.StatusOK {
				all = append(all, op.ReturnUS-op.CallUS)
			}
		}
	}
	t.Logf("no snapshots:                         %s", summary(all))
	for _, gap := range []protocol.Duration{10 * protocol.Millisecond, 50 * protocol.Millisecond} {
		p50 := map[kv.SnapshotVariant]int64{}
		for _, variant := range []kv.SnapshotVariant{kv.SnapshotPlain, kv.SnapshotFlush} {
			scn := snapshotsScenario()
			scn.Snapshots.Variant, scn.Snapshots.MeanGap = variant, gap
			var during []int64
			for _, o := range snapshotSweep(t, scn, seeds) {
				during = append(during, WriteLatenciesDuringSnapshots(o.History)...)
			}
			if len(during) < seeds {
				t.Fatalf("%s snapshots every %v: only %d writes during snapshots", variant, protocol.Time(gap), len(during))
			}
			t.Logf("%-5s snapshots, mean gap %2d ms, during: %s", variant, gap/protocol.Millisecond, summary(during))
			p50[variant] = percentile(during, 50)
		}
		if p50[kv.SnapshotFlush] <= p50[kv.SnapshotPlain] {
			t.Fatalf("mean gap %v: flush snapshots hold writes, yet their median write latency %d µs is not above plain's %d µs",
				protocol.Time(gap), p50[kv.SnapshotFlush], p50[kv.SnapshotPlain])
		}
	}
}

func TestSnapshotPlanValidation(t *testing.T) {
	scn := snapshotsScenario()
	scn.Snapshots.MeanGap = -1
	if err := scn.Validate(); err == nil || !strings.Contains(err.Error(), "Snapshots.MeanGap=-1") {
		t.Fatalf("negative mean gap: %v", err)
	}
	scn = snapshotsScenario()
	scn.Snapshots.Variant = kv.SnapshotVariant(5)
	if err := scn.Validate(); !errors.Is(err, kv.ErrUnknownSnapshotVariant) || !strings.Contains(err.Error(), "Snapshots.Variant") {
		t.Fatalf("unknown variant: %v", err)
	}
	scn = snapshotsScenario()
	scn.Snapshots.Mutant = kv.SnapshotMutant(5)
	if err := scn.Validate(); !errors.Is(err, kv.ErrUnknownSnapshotMutant) {
		t.Fatalf("unknown mutant: %v", err)
	}
	// The plan is written by name in JSON (trace headers) and left out when no snapshots are taken.
	b, err := json.Marshal(snapshotsScenario())
	if err != nil || !strings.Contains(string(b), `"snapshots":{"mean_gap_us":10000,"variant":"flush"}`) {
		t.Fatalf("scenario JSON: %v %s", err, b)
	}
	var back Scenario
	if err := json.Unmarshal(b, &back); err != nil || back.Snapshots != snapshotsScenario().Snapshots {
		t.Fatalf("scenario JSON round trip: %v %+v", err, back.Snapshots)
	}
	if b, _ := json.Marshal(small()); strings.Contains(string(b), "snapshots") || strings.Contains(string(b), "reorder") {
		t.Fatalf("a scenario without snapshots mentions them: %s", b)
	}
}
