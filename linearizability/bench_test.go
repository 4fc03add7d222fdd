package linearizability

import (
	"testing"
	"time"
)

// The performance targets: a 10,000-operation history over 100 keys in at most 20 ms, and a
// 100,000-operation history over 1,000 keys in at most 300 ms, on a 2-core machine:
//
//	go test -run '^$' -bench . ./linearizability/
func BenchmarkCheckHistory(b *testing.B) {
	for _, bench := range []struct {
		name  string
		shape historyShape
	}{
		{"ops=10k/keys=100", historyShape{operations: 10_000, keys: 100, clients: 25, unknownPercent: 1, seed: 1}},
		{"ops=100k/keys=1000", historyShape{operations: 100_000, keys: 1_000, clients: 250, unknownPercent: 1, seed: 2}},
	} {
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
