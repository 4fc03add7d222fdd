package linearizability

import (
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
