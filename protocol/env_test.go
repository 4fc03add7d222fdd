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
