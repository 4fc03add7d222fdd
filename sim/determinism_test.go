package sim_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/stateflush/stateflush/sim"
	"github.com/stateflush/stateflush/sim/trace"
)

const determinismSeeds = 500

// hashSeeds runs the gossip scenario (HashOnly) for seeds 0..n-1 on `workers` goroutines, one
// simulator each, and returns the hashes in seed order, plus the stats summed over all seeds.
func hashSeeds(t *testing.T, n, workers int) ([]uint64, sim.Stats) {
	t.Helper()
	hashes := make([]uint64, n)
	stats := make([]sim.Stats, n)
	errs := make([]error, n)
	seeds := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				_, res, err := runGossip(uint64(seed), gossipOptions{mode: sim.TraceHashOnly})
				hashes[seed], stats[seed], errs[seed] = res.Hash, res.Stats, err
				if err == nil && res.End != sim.EndQuiescent {
					errs[seed] = &endError{seed: seed, end: res.End}
				}
			}
		}()
	}
	for seed := 0; seed < n; seed++ {
		seeds <- seed
	}
	close(seeds)
	wg.Wait()
	var total sim.Stats
	for seed, err := range errs {
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		checkConservation(t, "seed "+strconv.Itoa(seed), stats[seed])
		total = addStats(total, stats[seed])
	}
	return hashes, total
}

type endError struct {
	seed int
	end  sim.EndReason
}

func (e *endError) Error() string { return "run ended with " + string(e.end) + ", want quiescent" }

func addStats(a, b sim.Stats) sim.Stats {
	av, bv := reflect.ValueOf(&a).Elem(), reflect.ValueOf(b)
	for i := 0; i < av.NumField(); i++ {
		av.Field(i).SetInt(av.Field(i).Int() + bv.Field(i).Int())
	}
	return a
}

func TestSameSeedSameHashAcrossRunsAndGOMAXPROCS(t *testing.T) {
	first, total := hashSeeds(t, determinismSeeds, 1)
	second, _ := hashSeeds(t, determinismSeeds, 1)

	previous := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(previous)
	single, _ := hashSeeds(t, determinismSeeds, 4)
	runtime.GOMAXPROCS(8)
	eight, _ := hashSeeds(t, determinismSeeds, 8)
	runtime.GOMAXPROCS(previous)

	seen := map[uint64]int{}
	for seed := range first {
		if first[seed] != second[seed] || first[seed] != single[seed] || first[seed] != eight[seed] {
			t.Fatalf("seed %d: hashes differ: %#x, %#x, GOMAXPROCS(1) %#x, GOMAXPROCS(8) %#x",
				seed, first[seed], second[seed], single[seed], eight[seed])
		}
		if other, dup := seen[first[seed]]; dup {
			t.Fatalf("seeds %d and %d have the same hash %#x", other, seed, first[seed])
		}
		seen[first[seed]] = seed
	}

	// The scenario must exercise what it claims to, or equal hashes prove little.
	t.Logf("totals over %d seeds: %+v", determinismSeeds, total)
	for name, n := range map[string]int64{
		"delivered": total.Delivered, "duplicated": total.Duplicated, "loss drops": total.DroppedLoss,
		"partition drops": total.DroppedPartition, "receiver-crashed drops": total.DroppedReceiverCrashed,
		"stale-incarnation drops": total.DroppedStaleIncarnation, "receiver-down drops": total.DroppedReceiverDown,
		"timers fired": total.TimersFired, "timers cancelled": total.TimersCancelled,
		"crashes": total.Crashes, "restarts": total.Restarts, "faults": total.Faults, "events": total.Events,
	} {
		if n == 0 {
			t.Errorf("scenario never produced any %s", name)
		}
	}
}

func TestFullAndHashOnlyRunsHaveTheSameHash(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		full, fullRes, err := runGossip(seed, gossipOptions{mode: sim.TraceFull})
		if err != nil {
			t.Fatal(err)
		}
		_, hashRes, err := runGossip(seed, gossipOptions{mode: sim.TraceHashOnly})
		if err != nil {
			t.Fatal(err)
		}
		if fullRes.Hash != hashRes.Hash {
			t.Fatalf("seed %d: Full hash %#x, HashOnly hash %#x", seed, fullRes.Hash, hashRes.Hash)
		}
		if got := trace.Hash(full.Trace()); got != fullRes.Hash {
			t.Fatalf("seed %d: trace.Hash of the records %#x, simulator's hash %#x", seed, got, fullRes.Hash)
		}
		if fullRes.Stats != hashRes.Stats {
			t.Fatalf("seed %d: stats differ: %+v vs %+v", seed, fullRes.Stats, hashRes.Stats)
		}
	}
}

func TestTraceFileReplaysFromItsSeed(t *testing.T) {
	const seed = 4242
	s, res, err := runGossip(seed, gossipOptions{mode: sim.TraceFull})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gossip.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteTrace(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	header, records, err := trace.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(records, s.Trace()) {
		t.Fatalf("records read back differ from the records written")
	}
	if got := trace.Hash(records); got != res.Hash {
		t.Fatalf("hash of the records read back %#x, run's hash %#x", got, res.Hash)
	}
	var desc struct {
		Seed     uint64 `json:"seed"`
		Scenario string `json:"scenario"`
	}
	if err := json.Unmarshal(header.Description, &desc); err != nil {
		t.Fatalf("header description %s: %v", header.Description, err)
	}
	if desc.Scenario != "gossip" || desc.Seed != seed {
		t.Fatalf("header description %s, want seed %d, scenario gossip", header.Description, seed)
	}
	for _, mode := range []sim.TraceMode{sim.TraceFull, sim.TraceHashOnly} {
		_, replay, err := runGossip(desc.Seed, gossipOptions{mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		if replay.Hash != res.Hash {
			t.Fatalf("replay of seed %d from the trace header (mode %d): hash %#x, want %#x", desc.Seed, mode, replay.Hash, res.Hash)
		}
	}
}

func TestFIFOByDefaultReorderWhenAsked(t *testing.T) {
	reordered := 0
	for seed := uint64(0); seed < 40; seed++ {
		s, _, err := runGossip(seed, gossipOptions{mode: sim.TraceFull})
		if err != nil {
			t.Fatal(err)
		}
		if v := fifoViolations(s.Trace()); v != 0 {
			t.Fatalf("seed %d: %d deliveries overtook an earlier message on the same link", seed, v)
		}
		s, _, err = runGossip(seed, gossipOptions{mode: sim.TraceFull, reorder: true})
		if err != nil {
			t.Fatal(err)
		}
		reordered += fifoViolations(s.Trace())
	}
	if reordered == 0 {
		t.Fatal("with Network.Reorder no message ever overtook another over 40 seeds")
	}
}

// TestTraceEventsModeKeepsCheckerRecordsAndTheSameHash: the lean mode that sweeps use must hash
// exactly as the full mode does and keep exactly the full trace's records of the kept kinds.
func TestTraceEventsModeKeepsCheckerRecordsAndTheSameHash(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		full, _, err := runGossip(seed, gossipOptions{mode: sim.TraceFull})
		if err != nil {
			t.Fatal(err)
		}
		lean, _, err := runGossip(seed, gossipOptions{mode: sim.TraceEvents})
		if err != nil {
			t.Fatal(err)
		}
		if full.Hash() != lean.Hash() {
			t.Fatalf("seed %d: full hash %016x, events-mode hash %016x", seed, full.Hash(), lean.Hash())
		}
		var want []trace.Record
		for _, r := range full.Trace() {
			switch r.Kind {
			case trace.KindEvent, trace.KindCrash, trace.KindRestart, trace.KindFault, trace.KindEnd:
				want = append(want, r)
			}
		}
		got := lean.Trace()
		if len(got) != len(want) || len(want) == 0 {
			t.Fatalf("seed %d: events mode kept %d records, the full trace has %d of the kept kinds", seed, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("seed %d: record %d differs:\n full   %+v\n events %+v", seed, i, want[i], got[i])
			}
		}
	}
}
