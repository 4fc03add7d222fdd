package spacetime

import (
	"errors"
	"testing"

	"github.com/stateflush/stateflush/linearizability"
)

func TestViolatingReadIsTheFirstReadWithoutALinearization(t *testing.T) {
	h := linearizability.History{
		{Client: 10, Seq: 1, Kind: linearizability.OpPut, Key: "k", Value: "a", Status: linearizability.StatusOK, CallUS: 0, ReturnUS: 10},
		{Client: 11, Seq: 1, Kind: linearizability.OpGet, Key: "k", Found: true, Output: "a", Status: linearizability.StatusOK, CallUS: 20, ReturnUS: 30},
		// The put is lost: this read, after it was acknowledged, finds nothing.
		{Client: 11, Seq: 2, Kind: linearizability.OpGet, Key: "k", Found: false, Status: linearizability.StatusOK, CallUS: 40, ReturnUS: 50},
		{Client: 11, Seq: 3, Kind: linearizability.OpGet, Key: "k", Found: false, Status: linearizability.StatusOK, CallUS: 60, ReturnUS: 70},
	}
	got, err := violatingRead(h, "k")
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 2 {
		t.Errorf("violating read is %v, want client 11's read #2", got)
	}
	if _, err := violatingRead(h[:2], "k"); !errors.Is(err, ErrNoViolatingRead) {
		t.Errorf("a linearizable history gave %v, want ErrNoViolatingRead", err)
	}
}
