package protocol

import (
	"fmt"
	"testing"
)

type named struct{}

func (named) String() string { return "named" }

// TestAFormatsLikeFmt: the fast paths of A must give exactly what fmt's %v gives, because trace
// attributes are compared and hashed as text.
func TestAFormatsLikeFmt(t *testing.T) {
	for _, v := range []any{"s", 0, -42, int64(-7), uint64(1 << 63), NodeID(3), NodeID(-1), true, false, named{}, 3.5, []int{1, 2}, Time(1500000)} {
		if got, want := A("k", v).Value, fmt.Sprint(v); got != want {
			t.Errorf("A(%T %v) = %q, fmt gives %q", v, v, got, want)
		}
	}
}

// TestTypedAttrsMatchA: the typed constructors must make exactly the Attr A makes, or a trace hash
// would change where a hot path switched to them.
func TestTypedAttrsMatchA(t *testing.T) {
	for _, v := range []int{0, 1, 99, 100, 255, 256, 12345, -1, -300} {
		if got, want := AInt("k", v), A("k", v); got != want {
			t.Errorf("AInt(%d) = %+v, A = %+v", v, got, want)
		}
		if got, want := AInt("k", v), A("k", NodeID(v)); got != want {
			t.Errorf("AInt(%d) = %+v, A(NodeID) = %+v", v, got, want)
		}
	}
	for _, v := range []uint64{0, 7, 100, 1 << 40, ^uint64(0)} {
		if got, want := AUint("k", v), A("k", v); got != want {
			t.Errorf("AUint(%d) = %+v, A = %+v", v, got, want)
		}
	}
	for _, v := range []bool{false, true} {
		if got, want := ABool("k", v), A("k", v); got != want {
			t.Errorf("ABool(%v) = %+v, A = %+v", v, got, want)
		}
	}
	for _, v := range []string{"", "get", "c1-2;"} {
		if got, want := AStr("k", v), A("k", v); got != want {
			t.Errorf("AStr(%q) = %+v, A = %+v", v, got, want)
		}
	}
}
