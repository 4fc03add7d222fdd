package linearizability

import (
	"strings"
	"testing"
)

func TestCheckAtMostOnce(t *testing.T) {
	cases := []struct {
		name string
		h    History
		want string // substring of the violation; "" for none
	}{
		{"appends read in order", history(
			appendOp(1, "k", "c1-1;", 0, 10), appendOp(2, "k", "c2-1;", 20, 30), getOp(3, "k", "c1-1;c2-1;", 40, 50)), ""},
		{"an append applied twice", history(
			appendOp(1, "k", "c1-1;", 0, 10), getOp(3, "k", "c1-1;c1-1;", 40, 50)), "occurs twice"},
		{"a put then appends", history(
			putOp(1, "k", "c1-1;", 0, 10), appendOp(2, "k", "c2-1;", 20, 30), getOp(3, "k", "c1-1;c2-1;", 40, 50)), ""},
		{"a put's token after an append", history(
			appendOp(2, "k", "c2-1;", 0, 10), putOp(1, "k", "c1-1;", 20, 30), getOp(3, "k", "c2-1;c1-1;", 40, 50)), "not a concatenation"},
		{"text nobody wrote", history(
			appendOp(1, "k", "c1-1;", 0, 10), getOp(3, "k", "c1-1;zz", 40, 50)), "not a concatenation"},
		{"a failed append's token", history(
			failed(appendOp(1, "k", "c1-1;", 0, 10)), getOp(3, "k", "c1-1;", 40, 50)), "failed"},
		{"tokens against real time", history(
			appendOp(1, "k", "c1-1;", 0, 10), appendOp(2, "k", "c2-1;", 20, 30), getOp(3, "k", "c2-1;c1-1;", 40, 50)), "returned before"},
		{"concurrent appends in either order", history(
			appendOp(1, "k", "c1-1;", 0, 30), appendOp(2, "k", "c2-1;", 10, 20), getOp(3, "k", "c2-1;c1-1;", 40, 50)), ""},
		{"an unknown append may appear once", history(
			unknown(appendOp(1, "k", "c1-1;", 0, 10)), getOp(3, "k", "c1-1;", 40, 50)), ""},
		{"a duplicate inside a snapshot", history(
			appendOp(1, "k", "c1-1;", 0, 10), snapshotOp(3, map[string]string{"k": "c1-1;c1-1;"}, 40, 50)), "occurs twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vs, undecided, err := CheckAtMostOnce(tc.h)
			if err != nil || len(undecided) > 0 {
				t.Fatalf("err %v, undecided %v", err, undecided)
			}
			if tc.want == "" {
				if len(vs) > 0 {
					t.Fatalf("false alarm: %v", vs)
				}
				return
			}
			if len(vs) != 1 || vs[0].Check != AtMostOnceCheck || vs[0].Key != "k" || !strings.Contains(vs[0].Message, tc.want) {
				t.Fatalf("want one at-most-once violation on k mentioning %q, got %v", tc.want, vs)
			}
			if len(vs[0].TraceSeqs) == 0 {
				t.Fatalf("the violation names no trace position: %v", vs[0])
			}
		})
	}
}

// The search gives up, as undecided rather than passed, when tokens are prefixes of each other
// enough to make the decomposition exponential.
func TestCheckAtMostOnceUndecidedIsNotAPass(t *testing.T) {
	var ops []Operation
	value := ""
	for i := 0; i < 40; i++ {
		ops = append(ops, appendOp(int32(i), "k", "a", int64(i*10), int64(i*10+5)), appendOp(int32(100+i), "k", "aa", int64(i*10), int64(i*10+5)))
		value += "a"
	}
	ops = append(ops, getOp(500, "k", value+"b", 1000, 1010))
	vs, undecided, err := CheckAtMostOnce(history(ops...))
	if err != nil {
		t.Fatal(err)
	}
	if len(undecided) != 1 || len(vs) != 0 {
		t.Fatalf("want k undecided and no verdict, got undecided %v, violations %v", undecided, vs)
	}
}

// The acknowledged-write check reads appends token by token: an acknowledged append that took
// effect after the value's own put is missing although its text occurs inside another token.
func TestCheckAcknowledgedAppendsByToken(t *testing.T) {
	h := history(
		putOp(1, "k", "c1-1;", 0, 10),
		appendOp(2, "k", "c2-1;", 20, 30),
		unknown(putOp(3, "k", "c3-1;", 5, 6)),
	)
	holdings := []Holding{{Node: 0, Bucket: 0, Primary: true, Initialized: true, Entries: []Entry{{Key: "k", Value: "c1-1;", Version: "1"}}}}
	vs, err := CheckAcknowledgedWrites(h, holdings, func(string) int { return 0 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || !strings.Contains(vs[0].Message, "c2-1;") {
		t.Fatalf("an unknown put must not switch off the append check: want the missing append reported, got %v", vs)
	}
	holdings[0].Entries[0].Value = "c1-1;c2-1;"
	if vs, err := CheckAcknowledgedWrites(h, holdings, func(string) int { return 0 }, nil); err != nil || len(vs) != 0 {
		t.Fatalf("false alarm: %v %v", vs, err)
	}
}

func TestCheckConvergenceComparesEventTables(t *testing.T) {
	entries := []Entry{{Key: "k", Value: "v", Version: "1"}}
	holdings := []Holding{
		{Node: 0, Bucket: 0, Primary: true, Initialized: true, Entries: entries, Events: []ClientSeq{{Client: 5, Seq: 3}}},
		{Node: 1, Bucket: 0, Initialized: true, Entries: entries, Events: []ClientSeq{{Client: 5, Seq: 2}}},
		{Node: 2, Bucket: 0, Initialized: false, Entries: entries},
	}
	vs, err := CheckConvergence(holdings, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || !strings.Contains(vs[0].Message, "event-id table") || !strings.Contains(vs[0].Message, "client 5: 2, primary 3") {
		t.Fatalf("want one event-id table violation for node 1, got %v", vs)
	}
	holdings[1].Events[0].Seq = 3
	if vs, _ := CheckConvergence(holdings, nil); len(vs) != 0 {
		t.Fatalf("equal tables: false alarm %v", vs)
	}
}
