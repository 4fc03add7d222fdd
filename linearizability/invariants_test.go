package linearizability

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"pgregory.net/rapid"
)

func entries(kv ...string) []Entry {
	var out []Entry
	for i := 0; i+2 < len(kv)+1; i += 3 {
		out = append(out, Entry{Key: kv[i], Value: kv[i+1], Version: kv[i+2]})
	}
	return out
}

func TestCheckConvergence(t *testing.T) {
	primary := Holding{Node: 1, NodeName: "s1", Bucket: 3, Primary: true, Initialized: true, Entries: entries("a", "1", "v1", "b", "2", "v2")}
	same := Holding{Node: 2, NodeName: "s2", Bucket: 3, Initialized: true, Entries: entries("b", "2", "v2", "a", "1", "v1")}
	t.Run("converged", func(t *testing.T) {
		violations, err := CheckConvergence([]Holding{same, primary}, nil)
		if err != nil || len(violations) != 0 {
			t.Fatalf("got %v %v", violations, err)
		}
	})
	t.Run("diverged value", func(t *testing.T) {
		stale := same
		stale.Entries = entries("a", "0", "v0", "b", "2", "v2")
		var b traceBuilder
		b.event(1, 0, "apply", "bucket", "3", "key", "a")
		touch := b.event(2, 0, "apply", "bucket", "3", "key", "a")
		// A later chunk does not name keys; the record naming the key is the better pointer.
		b.event(2, 0, protocol.EventImageChunkApplied, "bucket", "3")
		violations, err := CheckConvergence([]Holding{primary, stale}, b.records)
		if err != nil {
			t.Fatal(err)
		}
		if len(violations) != 1 {
			t.Fatalf("want one violation, got:\n%s", describeViolations(violations))
		}
		v := violations[0]
		if v.Check != ConvergenceCheck || v.Bucket != 3 || v.Key != "a" || len(v.Holders) != 2 {
			t.Fatalf("wrong violation: %s", v)
		}
		if !strings.Contains(v.Message, `"1"@v1`) || !strings.Contains(v.Message, `"0"@v0`) || !strings.Contains(v.Message, "(s2)") {
			t.Errorf("message does not name both values and versions: %s", v.Message)
		}
		if v.Holders[1].LastTraceSeq != touch || !slices.Contains(v.TraceSeqs, touch) {
			t.Errorf("holder 2's last record touching the key is seq %d, got %d (trace seqs %v)", touch, v.Holders[1].LastTraceSeq, v.TraceSeqs)
		}
	})
	t.Run("falls back to the last image chunk", func(t *testing.T) {
		stale := same
		stale.Entries = entries("b", "2", "v2")
		var b traceBuilder
		chunk := b.event(2, 0, protocol.EventImageChunkApplied, "bucket", "3")
		violations, err := CheckConvergence([]Holding{primary, stale}, b.records)
		if err != nil || len(violations) != 1 {
			t.Fatalf("got %v %v", violations, err)
		}
		if violations[0].Holders[1].LastTraceSeq != chunk || violations[0].Holders[1].Present {
			t.Errorf("want the chunk seq %d and a missing entry, got %+v", chunk, violations[0].Holders[1])
		}
	})
	t.Run("tombstones count", func(t *testing.T) {
		deleted := primary
		deleted.Entries = []Entry{{Key: "a", Version: "v3", Tombstone: true}, {Key: "b", Value: "2", Version: "v2"}}
		resurrected := same
		violations, err := CheckConvergence([]Holding{deleted, resurrected}, nil)
		if err != nil || len(violations) != 1 || violations[0].Key != "a" || !strings.Contains(violations[0].Message, "tombstone@v3") {
			t.Fatalf("got %v %v", violations, err)
		}
	})
	t.Run("uninitialized holders are not compared", func(t *testing.T) {
		filling := Holding{Node: 4, Bucket: 3, Entries: entries("a", "0", "v0")}
		violations, err := CheckConvergence([]Holding{primary, filling}, nil)
		if err != nil || len(violations) != 0 {
			t.Fatalf("got %v %v", violations, err)
		}
	})
	t.Run("primaries", func(t *testing.T) {
		violations, err := CheckConvergence([]Holding{same}, nil)
		if err != nil {
			t.Fatal(err)
		}
		findViolation(t, violations, "0 primaries")
		second := same
		second.Primary = true
		violations, err = CheckConvergence([]Holding{primary, second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		findViolation(t, violations, "2 primaries")
		uninitialized := primary
		uninitialized.Initialized = false
		violations, err = CheckConvergence([]Holding{uninitialized}, nil)
		if err != nil {
			t.Fatal(err)
		}
		findViolation(t, violations, "not initialized")
	})
	t.Run("invalid holdings", func(t *testing.T) {
		for _, holdings := range [][]Holding{
			{primary, primary},
			{{Node: 1, Bucket: -1}},
			{{Node: 1, Bucket: 0, Entries: entries("a", "1", "v1", "a", "2", "v2")}},
		} {
			if _, err := CheckConvergence(holdings, nil); !errors.Is(err, ErrInvalidParameter) {
				t.Errorf("%+v: got %v, want ErrInvalidParameter", holdings, err)
			}
		}
	})
}

// bucketOfFirstByte puts keys "a…" in bucket 0 and everything else in bucket 1.
func bucketOfFirstByte(key string) int {
	if strings.HasPrefix(key, "a") {
		return 0
	}
	return 1
}

func primaryWith(bucket int, es ...Entry) Holding {
	return Holding{Node: int32(10 + bucket), Bucket: bucket, Primary: true, Initialized: true, Entries: es}
}

func TestCheckAcknowledgedWrites(t *testing.T) {
	value := func(key, v string) Entry { return Entry{Key: key, Value: v, Version: "7"} }
	tombstone := func(key string) Entry { return Entry{Key: key, Version: "8", Tombstone: true} }
	for _, tc := range []struct {
		name    string
		h       History
		final   []Entry
		lostKey string // "" for no violation
	}{
		{"last put present", history(putOp(1, "a", "v1", 0, 10), putOp(1, "a", "v2", 20, 30)), []Entry{value("a", "v2")}, ""},
		{"last put lost to an older value", history(putOp(1, "a", "v1", 0, 10), putOp(1, "a", "v2", 20, 30)), []Entry{value("a", "v1")}, "a"},
		{"last put lost entirely", history(putOp(1, "a", "v1", 0, 10)), nil, "a"},
		{"concurrent puts, either may win", history(putOp(1, "a", "v1", 0, 30), putOp(2, "a", "v2", 10, 20)), []Entry{value("a", "v1")}, ""},
		{"concurrent puts, neither present", history(putOp(1, "a", "v1", 0, 30), putOp(2, "a", "v2", 10, 20)), nil, "a"},
		{"acknowledged delete", history(putOp(1, "a", "v1", 0, 10), deleteOp(1, "a", 20, 30)), []Entry{tombstone("a")}, ""},
		{"acknowledged delete, key gone", history(putOp(1, "a", "v1", 0, 10), deleteOp(1, "a", 20, 30)), nil, ""},
		{"resurrected after acknowledged delete", history(putOp(1, "a", "v1", 0, 10), deleteOp(1, "a", 20, 30)), []Entry{value("a", "v1")}, "a"},
		{"key never written but present", history(getAbsentOp(1, "a", 0, 10)), []Entry{value("a", "ghost")}, "a"},
		{"value never written", history(putOp(1, "a", "v1", 0, 10)), []Entry{value("a", "v9")}, "a"},
		// Unknown outcomes: no false alarms.
		{"later unknown put took effect", history(putOp(1, "a", "v1", 0, 10), unknown(putOp(2, "a", "v2", 20, 0))), []Entry{value("a", "v2")}, ""},
		{"later unknown put did not", history(putOp(1, "a", "v1", 0, 10), unknown(putOp(2, "a", "v2", 20, 0))), []Entry{value("a", "v1")}, ""},
		{"earlier unknown put landed late", history(unknown(putOp(2, "a", "v0", 0, 0)), putOp(1, "a", "v1", 20, 30)), []Entry{value("a", "v0")}, ""},
		{"only unknown writes, none took effect", history(unknown(putOp(2, "a", "v0", 0, 0))), nil, ""},
		{"only unknown writes, one took effect", history(unknown(putOp(2, "a", "v0", 0, 0))), []Entry{value("a", "v0")}, ""},
		{"unknown delete may have removed it", history(putOp(1, "a", "v1", 0, 10), unknown(deleteOp(2, "a", 20, 0))), nil, ""},
		{"unknown write does not excuse another value", history(putOp(1, "a", "v1", 0, 10), unknown(putOp(2, "a", "v2", 20, 0))), []Entry{value("a", "v3")}, "a"},
		{"failed put had no effect", history(putOp(1, "a", "v1", 0, 10), failed(putOp(2, "a", "v2", 20, 30))), []Entry{value("a", "v2")}, "a"},
		// Appends.
		{"appends all present", history(appendOp(1, "b", "x", 0, 10), appendOp(2, "b", "y", 20, 30)), []Entry{value("b", "xy")}, ""},
		{"acknowledged append missing", history(appendOp(1, "b", "x", 0, 10), appendOp(2, "b", "y", 20, 30)), []Entry{value("b", "x")}, "b"},
		{"append after a put", history(putOp(1, "b", "p", 0, 10), appendOp(2, "b", "y", 20, 30)), []Entry{value("b", "p")}, "b"},
		{"append overlapping a put may be overwritten", history(appendOp(2, "b", "y", 0, 30), putOp(1, "b", "p", 10, 20)), []Entry{value("b", "p")}, ""},
		{"append then an unknown put", history(appendOp(2, "b", "y", 0, 10), unknown(putOp(1, "b", "p", 20, 0))), []Entry{value("b", "p")}, ""},
		{"append then an unknown delete", history(appendOp(2, "b", "y", 0, 10), unknown(deleteOp(1, "b", 20, 0))), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			holdings := []Holding{primaryWith(bucketOfFirstByte(tc.h[0].Key), tc.final...)}
			violations, err := CheckAcknowledgedWrites(tc.h, holdings, bucketOfFirstByte, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.lostKey == "" {
				if len(violations) != 0 {
					t.Fatalf("false alarm:\n%s", describeViolations(violations))
				}
				return
			}
			if len(violations) != 1 || violations[0].Key != tc.lostKey || violations[0].Check != AcknowledgedWriteCheck {
				t.Fatalf("want one violation for key %q, got:\n%s", tc.lostKey, describeViolations(violations))
			}
		})
	}
}

// The rules never blame a correct run: generated histories, whose final store is the result of the
// writes that took effect in their linearization order, raise no alarm, however many writes end
// with an unknown outcome.
func TestCheckAcknowledgedWritesNoFalseAlarms(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h, final := generateHistoryWithFinalState(historyShape{
			operations:     rapid.IntRange(20, 400).Draw(t, "operations"),
			keys:           rapid.IntRange(1, 6).Draw(t, "keys"),
			clients:        rapid.IntRange(1, 8).Draw(t, "clients"),
			unknownPercent: rapid.IntRange(0, 50).Draw(t, "unknownPercent"),
			seed:           rapid.Uint64().Draw(t, "seed"),
		})
		primary := Holding{Node: 1, Bucket: 0, Primary: true, Initialized: true}
		for _, kv := range sortedPairs(final) {
			primary.Entries = append(primary.Entries, Entry{Key: kv.key, Value: kv.value, Version: "1"})
		}
		violations, err := CheckAcknowledgedWrites(h, []Holding{primary}, func(string) int { return 0 }, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(violations) > 0 {
			t.Fatalf("false alarm:\n%s", describeViolations(violations))
		}
	})
}

func TestCheckAcknowledgedWritesNamesTraceAndHolders(t *testing.T) {
	h := history(putOp(1, "a", "v1", 0, 10), putOp(1, "a", "v2", 20, 30))
	h[1].InvokeSeq, h[1].ReturnSeq = 41, 45
	backup := Holding{Node: 20, NodeName: "s20", Bucket: 0, Initialized: true, Entries: entries("a", "v2", "2")}
	primary := primaryWith(0, entries("a", "v1", "1")...)
	primary.NodeName = "s10"
	violations, err := CheckAcknowledgedWrites(h, []Holding{backup, primary}, bucketOfFirstByte, nil)
	if err != nil || len(violations) != 1 {
		t.Fatalf("got %v %v", violations, err)
	}
	v := violations[0]
	if v.Bucket != 0 || len(v.Holders) != 2 || !v.Holders[0].Primary || v.Holders[1].Value != "v2" {
		t.Fatalf("holders: %+v", v.Holders)
	}
	if !slices.Contains(v.TraceSeqs, 41) || !slices.Contains(v.TraceSeqs, 45) {
		t.Errorf("trace seqs %v do not include the acknowledged put's records 41 and 45", v.TraceSeqs)
	}
	for _, text := range []string{`put("a", "v2")`, `"v1"@1`, `"v2"@2`, "s10", "s20"} {
		if !strings.Contains(v.Message, text) {
			t.Errorf("message lacks %q: %s", text, v.Message)
		}
	}
}

func TestCheckAcknowledgedWritesWithoutPrimary(t *testing.T) {
	h := history(putOp(1, "b1", "v", 0, 10), putOp(1, "b2", "v", 0, 10), unknown(putOp(2, "a", "v", 0, 0)))
	backup := Holding{Node: 5, Bucket: 1, Initialized: true}
	violations, err := CheckAcknowledgedWrites(h, []Holding{backup}, bucketOfFirstByte, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(violations) != 1 || violations[0].Bucket != 1 || !strings.Contains(violations[0].Message, "2 keys") {
		t.Fatalf("want one violation for bucket 1 with 2 keys (bucket 0 had only an unknown write), got:\n%s", describeViolations(violations))
	}
	if _, err := CheckAcknowledgedWrites(h, nil, nil, nil); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("nil bucketOf: got %v", err)
	}
}

func TestCheckRedundancy(t *testing.T) {
	holdings := []Holding{
		{Node: 1, Bucket: 0, Primary: true, Initialized: true},
		{Node: 2, Bucket: 0, Initialized: true},
		{Node: 1, Bucket: 1, Primary: true, Initialized: true},
		{Node: 3, Bucket: 1}, // still copying
		// bucket 2 has no copy at all
	}
	var b traceBuilder
	lost := b.event(1, 0, protocol.EventDataLost, "bucket", "2")
	violations, err := CheckRedundancy(holdings, RedundancyTarget{BucketCount: 3, CopiesWanted: 2, LiveMembers: 3}, b.records)
	if err != nil {
		t.Fatal(err)
	}
	if len(violations) != 2 || violations[0].Bucket != 1 || violations[1].Bucket != 2 {
		t.Fatalf("want buckets 1 and 2, got:\n%s", describeViolations(violations))
	}
	if !strings.Contains(violations[0].Message, "node 3 (uninitialized)") || !slices.Equal(violations[1].TraceSeqs, []uint64{lost}) {
		t.Errorf("violations lack holders or trace seqs:\n%s", describeViolations(violations))
	}
	// With one live member, one copy per bucket is all that can be asked.
	violations, err = CheckRedundancy(holdings, RedundancyTarget{BucketCount: 3, CopiesWanted: 2, LiveMembers: 1}, nil)
	if err != nil || len(violations) != 1 || violations[0].Bucket != 2 {
		t.Fatalf("one live member: got %v %v", violations, err)
	}
	for _, target := range []RedundancyTarget{
		{BucketCount: -1, CopiesWanted: 1},
		{BucketCount: 3, CopiesWanted: 0},
		{BucketCount: 3, CopiesWanted: 1, LiveMembers: -2},
		{BucketCount: 1, CopiesWanted: 1, LiveMembers: 1}, // holdings of bucket 1 and 2 out of range
	} {
		if _, err := CheckRedundancy(holdings, target, nil); !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("%+v: got %v, want ErrInvalidParameter", target, err)
		}
	}
}
