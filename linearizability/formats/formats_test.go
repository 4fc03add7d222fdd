package formats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stateflush/stateflush/linearizability"
)

const budget = 30 * time.Second

// porcupine's test_data/jepsen: which histories porcupine_test.go says are linearizable.
var linearizableEtcd = []int{2, 5, 7, 18, 25}

func TestPorcupineEtcdLogsGetPorcupinesVerdicts(t *testing.T) {
	for n := range 30 {
		path := filepath.Join("testdata", "porcupine", fmt.Sprintf("etcd_%03d.log", n))
		h, format, err := ReadFile(path, Auto, 0)
		if err != nil {
			t.Fatal(err)
		}
		if format != PorcupineLog {
			t.Fatalf("%s detected as %s", path, format)
		}
		want := linearizability.Illegal
		if slices.Contains(linearizableEtcd, n) {
			want = linearizability.Ok
		}
		v, err := linearizability.CheckHistory(h, budget)
		if err != nil {
			t.Fatal(err)
		}
		if v.Result != want || v.Model != linearizability.ModelCASRegister {
			t.Errorf("%s: got %v, want %s with the cas register", path, v, want)
		}
		// The same history through EDN: the same operations, the same verdict.
		var buf bytes.Buffer
		if err := WriteJepsenEDN(&buf, h); err != nil {
			t.Fatal(err)
		}
		again, format, err := Read(&buf, Auto, 0)
		if err != nil || format != EDN {
			t.Fatalf("%s as EDN: %v (format %s)", path, err, format)
		}
		if !reflect.DeepEqual(again, h) {
			t.Fatalf("%s: the history changed in a round trip through EDN", path)
		}
	}
}

func TestPorcupineKVHistoriesGetPorcupinesVerdicts(t *testing.T) {
	for _, name := range []string{"c01-ok", "c01-bad", "c10-ok", "c10-bad"} {
		path := filepath.Join("testdata", "porcupine", name+".txt")
		h, format, err := ReadFile(path, Auto, 0)
		if err != nil {
			t.Fatal(err)
		}
		if format != EDN {
			t.Fatalf("%s detected as %s", path, format)
		}
		want := linearizability.Illegal
		if strings.HasSuffix(name, "-ok") {
			want = linearizability.Ok
		}
		v, err := linearizability.CheckHistory(h, budget, linearizability.WithModel(linearizability.KVEmptyDefaultModel))
		if err != nil {
			t.Fatal(err)
		}
		if v.Result != want {
			t.Errorf("%s: got %v, want %s", path, v, want)
		}
	}
}

func readEDN(t *testing.T, text string) linearizability.History {
	t.Helper()
	h, err := ReadJepsenEDN(strings.NewReader(text), 0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func check(t *testing.T, h linearizability.History) linearizability.Result {
	t.Helper()
	v, err := linearizability.CheckHistory(h, budget)
	if err != nil {
		t.Fatal(err)
	}
	return v.Result
}

func TestJepsenEDNSemantics(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       linearizability.Result
	}{
		{"write then read", `
{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value 1}`, linearizability.Ok},
		{"stale read", `
{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value nil}`, linearizability.Illegal},
		{"a failed write had no effect", `
{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :fail, :f :write, :value 1}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value 1}`, linearizability.Illegal},
		{"an :info write may take effect later", `
{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :info, :f :write, :value 1}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value nil}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value 1}`, linearizability.Ok},
		{"a failed cas observed another value", `
{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 1, :type :invoke, :f :cas, :value [1 2]}
{:process 1, :type :fail, :f :cas, :value [1 2]}`, linearizability.Illegal},
		{"a failed cas on another value", `
{:process 0, :type :invoke, :f :write, :value 3}
{:process 0, :type :ok, :f :write, :value 3}
{:process 1, :type :invoke, :f :cas, :value [1 2]}
{:process 1, :type :fail, :f :cas, :value [1 2]}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value 3}`, linearizability.Ok},
		{"a crashed process comes back with a new number", `
{:process 0, :type :invoke, :f :cas, :value [3 1]}
{:process 0, :type :info, :f :cas, :value [3 1]}
{:process 5, :type :invoke, :f :write, :value 2}
{:process 5, :type :ok, :f :write, :value 2}
{:process 5, :type :invoke, :f :read, :value nil}
{:process 5, :type :ok, :f :read, :value 2}`, linearizability.Ok},
		{"nemesis operations are skipped, unknown keys ignored", `
{:process :nemesis, :type :info, :f :start, :value nil}
{:process 0, :type :invoke, :f :write, :value "a", :time 10, :index 1}
{:process :nemesis, :type :info, :f :start, :value [:isolated {"n1" #{"n2"}}]}
{:process 0, :type :ok, :f :write, :value "a", :time 20, :index 2}`, linearizability.Ok},
		{"independent keys", `
{:process 0, :type :invoke, :f :write, :value [1 5]}
{:process 0, :type :ok, :f :write, :value [1 5]}
{:process 1, :type :invoke, :f :read, :value [2 nil]}
{:process 1, :type :ok, :f :read, :value [2 nil]}
{:process 1, :type :invoke, :f :cas, :value [1 [5 6]]}
{:process 1, :type :ok, :f :cas, :value [1 [5 6]]}
{:process 1, :type :invoke, :f :read, :value [1 nil]}
{:process 1, :type :ok, :f :read, :value [1 5]}`, linearizability.Illegal},
		{"a knossos vector of a kv history", `[{:process 0, :type :invoke, :f :put, :key "k", :value "x"}
 {:process 0, :type :ok, :f :put, :key "k", :value "x"}
 {:process 1, :type :invoke, :f :append, :key "k", :value "y"}
 {:process 1, :type :ok, :f :append, :key "k", :value "y"}
 {:process 0, :type :invoke, :f :get, :key "k", :value nil}
 {:process 0, :type :ok, :f :get, :key "k", :value "xy"}]`, linearizability.Ok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := readEDN(t, tc.text)
			if got := check(t, h); got != tc.want {
				t.Fatalf("got %s, want %s\n%v", got, tc.want, h)
			}
		})
	}
}

func TestJepsenEDNOperations(t *testing.T) {
	h := readEDN(t, `{:process 0, :type :invoke, :f :cas, :value [0 1]}
{:process 1, :type :invoke, :f :read}
{:process 0, :type :info, :f :cas}
{:process 1, :type :ok, :f :read, :value "x"}
{:process 2, :type :invoke, :f :write, :value :k}`)
	inf := linearizability.InfiniteTimeUS
	want := linearizability.History{
		{Client: 0, Seq: 1, Kind: linearizability.OpCAS, Expected: "0", Value: "1", Status: linearizability.StatusUnknown, CallUS: 0, ReturnUS: inf},
		{Client: 1, Seq: 1, Kind: linearizability.OpRead, Status: linearizability.StatusOK, Found: true, Output: "x", CallUS: 1, ReturnUS: 2},
		{Client: 2, Seq: 1, Kind: linearizability.OpWrite, Value: ":k", Status: linearizability.StatusUnknown, CallUS: 3, ReturnUS: inf},
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got\n%v\nwant\n%v", h, want)
	}
}

func TestJepsenEDNRejectsBadHistories(t *testing.T) {
	for _, tc := range []struct{ name, text, mention string }{
		{"invoke while pending", "{:process 0, :type :invoke, :f :read}\n{:process 0, :type :invoke, :f :write, :value 1}", "line 2 (byte offset 38): process 0 invokes :write while its :read from line 1"},
		{"completion without invocation", "{:process 0, :type :ok, :f :read, :value 1}", "without an invocation"},
		{"completion of another function", "{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :write, :value 1}", "completes :write but invoked :read"},
		{"unsupported function", "{:process 0, :type :invoke, :f :txn, :value [[:r 1 nil]]}", "unsupported :f :txn"},
		{"unknown type", "{:process 0, :type :maybe, :f :read}", "unknown :type :maybe"},
		{"no process", "{:type :invoke, :f :read}", "without :process"},
		{"process not a number", "{:process \"p\", :type :invoke, :f :read}", "neither an integer nor :nemesis"},
		{"duplicate key", "{:process 0, :type :invoke, :type :ok, :f :read}", "map key :type appears twice"},
		{"not a map", "[1 2]", "want an operation map"},
		{"cas from nil", "{:process 0, :type :invoke, :f :cas, :value [nil 1]}", "the expected value must be a string, number or keyword, got nil"},
		{"cas without a pair", "{:process 0, :type :invoke, :f :cas, :value 3}", "[expected new]"},
		{"write of a map", "{:process 0, :type :invoke, :f :write, :value {:a 1}}", "must be a string, number or keyword"},
		{"invalid UTF-8", "{:process 0, :type :invoke, :f :write, :value \"\xff\"}", "invalid UTF-8"},
		{"keyed read answered for another key", "{:process 0, :type :invoke, :f :read, :value [1 nil]}\n{:process 0, :type :ok, :f :read, :value [2 3]}", "tuple of key \"1\""},
		{"syntax", "{:process 0, :type :invoke, :f :read", "closing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadJepsenEDN(strings.NewReader(tc.text), 0)
			if !errors.Is(err, linearizability.ErrMalformedHistory) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("got %v, want ErrMalformedHistory mentioning %q", err, tc.mention)
			}
		})
	}
	if _, err := ReadJepsenEDN(strings.NewReader(strings.Repeat("{:process 0, :type :invoke, :f :read}\n", 10)), 100); err == nil || !strings.Contains(err.Error(), "size limit") {
		t.Fatalf("beyond the size limit: %v", err)
	}
}

func TestPorcupineLogRejectsBadLines(t *testing.T) {
	for _, tc := range []struct{ name, text, mention string }{
		{"no operation lines", "INFO  jepsen.core - starting\n", "no operation lines"},
		{"too few values", "INFO  jepsen.util - 0\t:invoke\n", "line 1 (byte offset 0): want PROCESS :TYPE :F VALUE"},
		{"not EDN", "INFO  jepsen.util - 0\t:invoke\t:read\t\"nil\n", "not EDN"},
		{"second line", "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\tnil\n", "line 2 (byte offset 40): process 1 completes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadPorcupineLog(strings.NewReader(tc.text), 0)
			if !errors.Is(err, linearizability.ErrMalformedHistory) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("got %v, want ErrMalformedHistory mentioning %q", err, tc.mention)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	for text, want := range map[string]Format{
		`{"format": "stateflush-history"}`:        JSON,
		"  \n{\n  \"format\"":                     JSON,
		`{:process 0, :type :invoke}`:             EDN,
		`[{:process 0}]`:                          EDN,
		"; Jepsen history\n{:process 0}":          EDN,
		"INFO  jepsen.util - 0\t:invoke\t:read\t": PorcupineLog,
	} {
		if got, err := Detect([]byte(text)); err != nil || got != want {
			t.Errorf("%q: got %s %v, want %s", text, got, err, want)
		}
	}
	for _, text := range []string{"", "   ", "hello world", "12 13"} {
		if _, err := Detect([]byte(text)); !errors.Is(err, ErrUndetectable) {
			t.Errorf("%q: got %v, want ErrUndetectable", text, err)
		}
	}
}

func TestReadFileRefusesWhatIsNotARegularFileAndLargeFiles(t *testing.T) {
	if _, _, err := ReadFile("/dev/zero", Auto, 0); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "character device") {
		t.Errorf("/dev/zero: got %v", err)
	}
	if _, _, err := ReadFile(t.TempDir(), Auto, 0); !errors.Is(err, ErrNotRegular) {
		t.Errorf("a directory: got %v", err)
	}
	path := filepath.Join(t.TempDir(), "h.json")
	if err := linearizability.WriteHistoryFile(path, linearizability.History{}); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	if _, _, err := ReadFile(path, Auto, info.Size()-1); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), path) {
		t.Errorf("over the limit: got %v", err)
	}
	if h, format, err := ReadFile(path, Auto, info.Size()); err != nil || format != JSON || len(h) != 0 {
		t.Errorf("at the limit: %v %s %d", err, format, len(h))
	}
}

// Stateflush histories (with client operations after an unknown outcome) survive EDN: the same
// operations in the same order with the same outcomes; times become event positions and a
// client's operations after a crash get a new process number.
func TestStateflushHistoryThroughEDN(t *testing.T) {
	op := func(client int32, seq uint64, kind linearizability.OpKind, value string, status linearizability.Status, call, ret int64) linearizability.Operation {
		o := linearizability.Operation{Client: client, Seq: seq, Kind: kind, Key: "k", Value: value, Status: status, CallUS: call, ReturnUS: ret}
		if kind == linearizability.OpGet && status == linearizability.StatusOK {
			o.Value, o.Found, o.Output = "", true, value
		}
		return o
	}
	inf := linearizability.InfiniteTimeUS
	h := linearizability.History{
		op(7, 1, linearizability.OpPut, "a", linearizability.StatusOK, 0, 100),
		op(7, 2, linearizability.OpAppend, "b", linearizability.StatusUnknown, 150, inf),
		op(8, 1, linearizability.OpGet, "ab", linearizability.StatusOK, 100, 300),
		op(7, 3, linearizability.OpDelete, "", linearizability.StatusFail, 400, 500),
	}
	var buf bytes.Buffer
	if err := WriteJepsenEDN(&buf, h); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJepsenEDN(&buf, 0)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	want := linearizability.History{
		op(7, 1, linearizability.OpPut, "a", linearizability.StatusOK, 0, 2),
		op(8, 1, linearizability.OpGet, "ab", linearizability.StatusOK, 1, 4),
		op(7, 2, linearizability.OpAppend, "b", linearizability.StatusUnknown, 3, inf),
		op(9, 1, linearizability.OpDelete, "", linearizability.StatusFail, 5, 6),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%v\nwant\n%v\nEDN:\n%s", got, want, buf.String())
	}
	if check(t, got) != check(t, h) {
		t.Fatal("the verdict changed through EDN")
	}
}

// FuzzReadJepsenEDN and FuzzReadPorcupineLog: no panics; an accepted history is valid and survives
// a round trip through WriteJepsenEDN.
func FuzzReadJepsenEDN(f *testing.F) {
	for _, name := range []string{"c01-ok.txt"} {
		data, err := os.ReadFile(filepath.Join("testdata", "porcupine", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data[:min(len(data), 600)]))
	}
	f.Add("[{:process 0, :type :invoke, :f :cas, :value [1 [2 3]]} {:process 0, :type :info, :f :cas}]")
	f.Fuzz(func(t *testing.T, text string) { fuzzReader(t, text, ReadJepsenEDN) })
}

func FuzzReadPorcupineLog(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "porcupine", "etcd_000.log"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(data[:600]))
	f.Fuzz(func(t *testing.T, text string) { fuzzReader(t, text, ReadPorcupineLog) })
}

func fuzzReader(t *testing.T, text string, read func(r io.Reader, maxBytes int64) (linearizability.History, error)) {
	h, err := read(strings.NewReader(text), 0)
	if err != nil {
		if !errors.Is(err, linearizability.ErrMalformedHistory) {
			t.Fatalf("error does not wrap ErrMalformedHistory: %v", err)
		}
		return
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("accepted an invalid history: %v", err)
	}
	var buf bytes.Buffer
	if err := WriteJepsenEDN(&buf, h); err != nil {
		t.Fatal(err)
	}
	again, err := ReadJepsenEDN(&buf, 0)
	if err != nil {
		t.Fatalf("written EDN does not read back: %v\n%s", err, buf.String())
	}
	if len(again) != len(h) {
		t.Fatalf("round trip: %d operations, want %d", len(again), len(h))
	}
}
