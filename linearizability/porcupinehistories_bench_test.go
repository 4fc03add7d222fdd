package linearizability_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/linearizability/formats"
)

// BenchmarkPorcupineTestHistories compares CheckHistory with porcupine alone (see
// CompareWithPorcupine) on porcupine's own test histories: Jepsen etcd register histories with the
// cas register, and key-value histories with the kv-empty model.
//
//	flock /tmp/stateflush-bench.lock go test -run '^$' -bench PorcupineTestHistories -benchtime 20x ./linearizability/
func BenchmarkPorcupineTestHistories(b *testing.B) {
	dir := filepath.Join("formats", "testdata", "porcupine")
	for _, bench := range []struct {
		file  string
		model linearizability.Model
		want  linearizability.Result
	}{
		{"etcd_000.log", linearizability.CASRegisterModel, linearizability.Illegal},
		{"etcd_007.log", linearizability.CASRegisterModel, linearizability.Ok},
		{"etcd_018.log", linearizability.CASRegisterModel, linearizability.Ok},
		{"c10-ok.txt", linearizability.KVEmptyDefaultModel, linearizability.Ok},
		{"c10-bad.txt", linearizability.KVEmptyDefaultModel, linearizability.Illegal},
	} {
		h, _, err := formats.ReadFile(filepath.Join(dir, bench.file), formats.Auto, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%s/ops=%d", bench.file, len(h)), func(b *testing.B) {
			linearizability.CompareWithPorcupine(b, h, bench.model, bench.want)
		})
	}
}
