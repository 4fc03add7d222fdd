package linearizability_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/linearizability/formats"
)

// Each search order alone, return order with the cas register's lookahead included, gives
// porcupine's verdict on porcupine's 30 Jepsen etcd histories: the lookahead prunes no
// linearization that porcupine finds, and call order alone is still porcupine's search.
func TestEachSearchOrderGivesPorcupinesEtcdVerdicts(t *testing.T) {
	linearizable := []int{2, 5, 7, 18, 25} // porcupine's own test expectations
	for n := range 30 {
		path := filepath.Join("formats", "testdata", "porcupine", fmt.Sprintf("etcd_%03d.log", n))
		h, _, err := formats.ReadFile(path, formats.Auto, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := linearizability.Illegal
		if slices.Contains(linearizable, n) {
			want = linearizability.Ok
		}
		for order := range 2 {
			if got := linearizability.DecideInOrder(h, linearizability.CASRegisterModel, order, time.Minute); got != want {
				t.Errorf("%s, order %d: got %s, want %s", path, order, got, want)
			}
		}
	}
}
