package linearizability

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// benchmarkShapes are the performance targets: a 10,000-operation history over 100 keys checked in
// at most 20 ms, and a 100,000-operation history over 1,000 keys in at most 300 ms, on a 2-core
// machine:
//
//	go test -run '^$' -bench . -benchmem ./linearizability/
//
// The histories are linearizable, with concurrent clients (a quarter as many as keys), overlapping
// operations and 1% of writes of unknown outcome.
var benchmarkShapes = []struct {
	name  string
	shape historyShape
}{
	{"ops=10k/keys=100", historyShape{operations: 10_000, keys: 100, clients: 25, unknownPercent: 1, seed: 1}},
	{"ops=100k/keys=1000", historyShape{operations: 100_000, keys: 1_000, clients: 250, unknownPercent: 1, seed: 2}},
}

func BenchmarkCheckHistory(b *testing.B) {
	for _, bench := range benchmarkShapes {
		h := generateHistory(bench.shape)
		b.Run(bench.name, func(b *testing.B) {
			for b.Loop() {
				v, err := CheckHistory(h, time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				if v.Result != Ok {
					b.Fatalf("generated history is linearizable, got %v", v)
				}
			}
		})
	}
}

// BenchmarkPorcupinePartitioned is the baseline CheckHistory is measured against: the same
// conversion, then one porcupine call that partitions by key and runs every partition in its own
// goroutine. CheckHistory checks partitions itself so that it can name the illegal keys; this shows
// what that costs.
func BenchmarkPorcupinePartitioned(b *testing.B) {
	for _, bench := range benchmarkShapes {
		h := generateHistory(bench.shape)
		b.Run(bench.name, func(b *testing.B) {
			for b.Loop() {
				if err := h.Validate(); err != nil {
					b.Fatal(err)
				}
				if r := porcupine.CheckOperationsTimeout(RegisterModel, PorcupineOperations(h), time.Minute); r != porcupine.Ok {
					b.Fatalf("generated history is linearizable, got %v", r)
				}
			}
		})
	}
}

// BenchmarkCheckVsPorcupine runs CheckHistory (stopping at the first illegal key, as `check` does)
// and porcupine alone (CheckOperations with its own partitioning, one goroutine per key) on the same
// histories, alternately in every iteration, and reports both costs and their ratio (target: at
// most 1.2). Porcupine's own test histories are compared in the formats package
// (BenchmarkPorcupineTestHistories).
//
//	flock /tmp/stateflush-bench.lock go test -run '^$' -bench CheckVsPorcupine -benchtime 20x ./linearizability/
func BenchmarkCheckVsPorcupine(b *testing.B) {
	histories := []struct {
		name string
		h    History
		want Result
	}{
		{"ops=1k/keys=10", generateHistory(historyShape{operations: 1_000, keys: 10, clients: 5, unknownPercent: 1, seed: 3}), Ok},
		{"ops=10k/keys=100", generateHistory(benchmarkShapes[0].shape), Ok},
		{"ops=100k/keys=1000", generateHistory(benchmarkShapes[1].shape), Ok},
		{"ops=10k/keys=100/one-illegal", withIllegalKey(generateHistory(benchmarkShapes[0].shape)), Illegal},
	}
	for _, bench := range histories {
		b.Run(bench.name, func(b *testing.B) {
			CompareWithPorcupine(b, bench.h, KVModel, bench.want)
		})
	}
}

// withIllegalKey adds a key whose get returns a value nobody wrote.
func withIllegalKey(h History) History {
	h = slices.Clone(h)
	return append(h, putOp(9000, "illegal", "1", 0, 10), getOp(9001, "illegal", "2", 20, 30))
}

// CompareWithPorcupine is BenchmarkCheckVsPorcupine's measurement, shared with the formats
// package's benchmark on porcupine's histories: it reports stateflush-ns/op, porcupine-ns/op and
// ratio (the first over the second).
func CompareWithPorcupine(b *testing.B, h History, model Model, want Result) {
	pm := model.Porcupine
	if model.PerKey {
		pm.Partition = RegisterModel.Partition
	}
	var ours, theirs time.Duration
	for b.Loop() {
		start := time.Now()
		v, err := CheckHistory(h, time.Minute, WithModel(model), StopAtFirstIllegal())
		if err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := h.Validate(); err != nil {
			b.Fatal(err)
		}
		r := porcupine.CheckOperationsTimeout(pm, PorcupineOperations(h), time.Minute)
		ours += mid.Sub(start)
		theirs += time.Since(mid)
		if v.Result != want || fromPorcupine(r) != want {
			b.Fatalf("want %s, got %v here and %v from porcupine", want, v, r)
		}
	}
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "stateflush-ns/op")
	b.ReportMetric(float64(theirs.Nanoseconds())/float64(b.N), "porcupine-ns/op")
	b.ReportMetric(float64(ours)/float64(theirs), "ratio")
}

// fiftyClientsOneHardKey is the history of the issue that the old scheduler got wrong: 50 clients
// doing get, put and append over ten keys, not linearizable (key "illegal" reads a value nobody
// wrote), with one key ("hard") whose search is exponential: 16 concurrent appends, a delete and a
// read of a value no order of them produces (pathologicalHistory's).
func fiftyClientsOneHardKey() History {
	h := generateHistory(historyShape{operations: 5_000, keys: 8, clients: 50, unknownPercent: 1, seed: 50})
	var ops []Operation
	for i := range 16 {
		ops = append(ops, appendOp(int32(1000+i), "hard", fmt.Sprintf("<%d>", i), 0, 1000))
	}
	ops = append(ops, deleteOp(1018, "hard", 0, 1000), getOp(1016, "hard", "<0><0>", 0, 1000))
	for i := range 40 {
		ops = append(ops, getAbsentOp(1017, "hard", int64(2000+20*i), int64(2010+20*i)))
	}
	h = append(h, history(ops...)...)
	return withIllegalKey(h)
}

// BenchmarkFiftyClientsOneHardKey: the check stops at the illegal key instead of spending the budget
// on the hard one; porcupine alone on the same history, for comparison, in the same iterations.
//
//	flock /tmp/stateflush-bench.lock go test -run '^$' -bench FiftyClients -benchtime 5x ./linearizability/
func BenchmarkFiftyClientsOneHardKey(b *testing.B) {
	CompareWithPorcupine(b, fiftyClientsOneHardKey(), KVModel, Illegal)
}

// BenchmarkMillionOperations checks 1,000,000 operations over 10,000 keys (target: at most 10 s on
// 2 cores, at most 1.5 GB) and reports the peak memory the runtime held (peak-MB: the history, its
// porcupine operations and the searches), sampled every millisecond.
//
//	flock /tmp/stateflush-bench.lock go test -run '^$' -bench MillionOperations -benchtime 3x -cpu 2 ./linearizability/
func BenchmarkMillionOperations(b *testing.B) {
	h := generateHistory(historyShape{operations: 1_000_000, keys: 10_000, clients: 2_500, unknownPercent: 1, seed: 6})
	debug.FreeOSMemory() // the generator's garbage would count as peak memory
	peak := sampleMemory()
	b.ResetTimer()
	for b.Loop() {
		v, err := CheckHistory(h, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if v.Result != Ok {
			b.Fatalf("generated history is linearizable, got %v", v)
		}
	}
	b.ReportMetric(float64(peak())/(1<<20), "peak-MB")
}

// BenchmarkReadHistoryFile reads a file of 1,000,000 operations (about 200 MB of indented JSON)
// and reports its size (file-MB) and the peak memory of reading it (peak-MB), which the streamed
// reader keeps proportional to the operations rather than the file.
//
//	flock /tmp/stateflush-bench.lock go test -run '^$' -bench ReadHistoryFile -benchtime 2x ./linearizability/
func BenchmarkReadHistoryFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "history.json")
	if err := WriteHistoryFile(path, generateHistory(historyShape{operations: 1_000_000, keys: 10_000, clients: 2_500, unknownPercent: 1, seed: 6})); err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	debug.FreeOSMemory()
	peak := sampleMemory()
	b.ResetTimer()
	for b.Loop() {
		h, err := ReadHistoryFile(path)
		if err != nil || len(h) != 1_000_000 {
			b.Fatalf("%d operations, %v", len(h), err)
		}
	}
	b.ReportMetric(float64(info.Size())/(1<<20), "file-MB")
	b.ReportMetric(float64(peak())/(1<<20), "peak-MB")
}

// sampleMemory samples the memory the Go runtime holds from the operating system every
// millisecond until the returned function is called, which returns the largest sample.
func sampleMemory() func() uint64 {
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ticker := time.NewTicker(time.Millisecond)
		defer ticker.Stop()
		for {
			metrics.Read(samples)
			if v := samples[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-ticker.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}
