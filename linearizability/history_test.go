package linearizability

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
	"github.com/stateflush/stateflush/sim/trace"
)

func TestHistoryFromTracePairsOperations(t *testing.T) {
	var b traceBuilder
	putInvoke := b.invoke(5, "1", protocol.OpPut, "k", "v1")
	b.add(trace.Record{Kind: trace.KindSend, Node: 5, Peer: 0, MsgID: 1, Name: "put"}) // not an op event
	getInvoke := b.invoke(6, "1", protocol.OpGet, "k", "")
	putReturn := b.ret(5, "1", protocol.StatusOK)
	getReturn := b.ret(6, "1", protocol.StatusOK, "found", "true", "value", "v1")
	b.invoke(6, "2", protocol.OpGet, "absent", "")
	b.ret(6, "2", protocol.StatusOK, "found", "false")
	b.invoke(5, "2", protocol.OpAppend, "k", "+x")
	timeoutReturn := b.ret(5, "2", protocol.StatusUnknown)
	b.invoke(5, "3", protocol.OpDelete, "k", "")
	b.ret(5, "3", protocol.StatusFail)
	snapshotInvoke := b.invoke(7, "1", protocol.OpSnapshot, "", "")
	b.ret(7, "1", protocol.StatusOK, "value", `{"k":"v1","j":""}`)
	pendingInvoke := b.invoke(7, "2", protocol.OpPut, "j", "never returned")

	h, err := HistoryFromTrace(b.records)
	if err != nil {
		t.Fatal(err)
	}
	want := History{
		{Client: 5, Seq: 1, Kind: OpPut, Key: "k", Value: "v1", Status: StatusOK, CallUS: 10, ReturnUS: int64(putReturn) * 10, InvokeSeq: putInvoke, ReturnSeq: putReturn},
		{Client: 6, Seq: 1, Kind: OpGet, Key: "k", Status: StatusOK, Found: true, Output: "v1", CallUS: int64(getInvoke) * 10, ReturnUS: int64(getReturn) * 10, InvokeSeq: getInvoke, ReturnSeq: getReturn},
		{Client: 6, Seq: 2, Kind: OpGet, Key: "absent", Status: StatusOK, CallUS: 60, ReturnUS: 70, InvokeSeq: 6, ReturnSeq: 7},
		{Client: 5, Seq: 2, Kind: OpAppend, Key: "k", Value: "+x", Status: StatusUnknown, CallUS: 80, ReturnUS: InfiniteTimeUS, InvokeSeq: 8, ReturnSeq: timeoutReturn},
		{Client: 5, Seq: 3, Kind: OpDelete, Key: "k", Status: StatusFail, CallUS: 100, ReturnUS: 110, InvokeSeq: 10, ReturnSeq: 11},
		{Client: 7, Seq: 1, Kind: OpSnapshot, Status: StatusOK, Snapshot: map[string]string{"k": "v1", "j": ""}, CallUS: 120, ReturnUS: 130, InvokeSeq: snapshotInvoke, ReturnSeq: 13},
		{Client: 7, Seq: 2, Kind: OpPut, Key: "j", Value: "never returned", Status: StatusUnknown, CallUS: 140, ReturnUS: InfiniteTimeUS, InvokeSeq: pendingInvoke},
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got\n%s\nwant\n%s", describeHistory(h), describeHistory(want))
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestHistoryFromTraceRejectsMalformedEvents(t *testing.T) {
	for _, tc := range []struct {
		name    string
		build   func(b *traceBuilder)
		wantSeq string
	}{
		{"return without invoke", func(b *traceBuilder) { b.ret(5, "1", protocol.StatusOK) }, "record seq 1"},
		{"invoke twice", func(b *traceBuilder) {
			b.invoke(5, "1", protocol.OpGet, "k", "")
			b.invoke(5, "1", protocol.OpGet, "k", "")
		}, "record seq 2"},
		{"missing client", func(b *traceBuilder) { b.event(5, 0, protocol.EventOpInvoke, "seq", "1", "op", "get", "key", "k") }, "record seq 1"},
		{"bad seq", func(b *traceBuilder) {
			b.event(5, 0, protocol.EventOpInvoke, "client", "5", "seq", "one", "op", "get", "key", "k")
		}, "record seq 1"},
		{"unknown op", func(b *traceBuilder) { b.invoke(5, "1", "cas", "k", "") }, "record seq 1"},
		{"put without value", func(b *traceBuilder) {
			b.event(5, 0, protocol.EventOpInvoke, "client", "5", "seq", "1", "op", "put", "key", "k")
		}, "record seq 1"},
		{"get without key", func(b *traceBuilder) { b.event(5, 0, protocol.EventOpInvoke, "client", "5", "seq", "1", "op", "get") }, "record seq 1"},
		{"unknown status", func(b *traceBuilder) {
			b.invoke(5, "1", protocol.OpGet, "k", "")
			b.ret(5, "1", "maybe")
		}, "record seq 2"},
		{"get without found", func(b *traceBuilder) {
			b.invoke(5, "1", protocol.OpGet, "k", "")
			b.ret(5, "1", protocol.StatusOK)
		}, "record seq 2"},
		{"found without value", func(b *traceBuilder) {
			b.invoke(5, "1", protocol.OpGet, "k", "")
			b.ret(5, "1", protocol.StatusOK, "found", "true")
		}, "record seq 2"},
		{"found not boolean", func(b *traceBuilder) {
			b.invoke(5, "1", protocol.OpGet, "k", "")
			b.ret(5, "1", protocol.StatusOK, "found", "yes")
		}, "record seq 2"},
		{"snapshot not JSON", func(b *traceBuilder) {
			b.invoke(5, "1", protocol.OpSnapshot, "", "")
			b.ret(5, "1", protocol.StatusOK, "value", "{k:v}")
		}, "record seq 2"},
		{"records out of order", func(b *traceBuilder) {
			b.invoke(5, "1", protocol.OpGet, "k", "")
			b.invoke(5, "2", protocol.OpGet, "k", "")
			b.records[1].Seq = 1
		}, "record seq 1 follows seq 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b traceBuilder
			tc.build(&b)
			_, err := HistoryFromTrace(b.records)
			if !errors.Is(err, ErrMalformedTrace) || !strings.Contains(err.Error(), tc.wantSeq) {
				t.Fatalf("got %v, want ErrMalformedTrace naming %q", err, tc.wantSeq)
			}
		})
	}
}

func TestHistoryFileRoundTrip(t *testing.T) {
	h := generateHistory(historyShape{operations: 300, keys: 5, clients: 4, unknownPercent: 10, snapshots: true, seed: 7})
	h = append(h, history(
		failed(putOp(50, "k", "v", 10, 20)),
		snapshotOp(51, map[string]string{}, 30, 40),
		getAbsentOp(52, "k", 50, 60),
		getOp(53, "k", "", 70, 80), // found, with an empty value
	)...)
	path := filepath.Join(t.TempDir(), "history.json")
	if err := WriteHistoryFile(path, h); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHistoryFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatal("history changed in a round trip through a file")
	}
}

func TestReadHistoryRejectsMalformedFiles(t *testing.T) {
	valid := `{"format":"stateflush-history","version":1,"operations":[{"client":1,"seq":1,"op":"put","key":"k","value":"v","status":"ok","call_us":0,"return_us":10}]}`
	if _, err := ReadHistory(strings.NewReader(valid)); err != nil {
		t.Fatalf("valid file rejected: %v", err)
	}
	for _, tc := range []struct {
		name, text string
		want       error
		mention    string
	}{
		{"not JSON", `operations: []`, ErrMalformedHistory, "not a JSON history"},
		{"empty", ``, ErrMalformedHistory, "not a JSON history"},
		{"other format", `{"format":"something-else","version":1,"operations":[]}`, ErrUnsupportedVersion, "something-else"},
		{"future version", `{"format":"stateflush-history","version":2,"operations":[]}`, ErrUnsupportedVersion, "version 2"},
		{"unknown field", strings.Replace(valid, `"status"`, `"colour":"red","status"`, 1), ErrMalformedHistory, "colour"},
		{"wrong type", strings.Replace(valid, `"seq":1`, `"seq":"one"`, 1), ErrMalformedHistory, "seq"},
		{"trailing data", valid + `{}`, ErrMalformedHistory, "data after the history object"},
		{"no operations", `{"format":"stateflush-history","version":1}`, ErrMalformedHistory, `no "operations" field`},
		{"null operations", `{"format":"stateflush-history","version":1,"operations":null}`, ErrMalformedHistory, `"operations" is null`},
		{"operations not an array", `{"format":"stateflush-history","version":1,"operations":{}}`, ErrMalformedHistory, "must be an array"},
		{"operations first", `{"operations":[],"format":"stateflush-history","version":1}`, ErrMalformedHistory, `before "format"`},
		{"no format", `{"version":1}`, ErrUnsupportedVersion, `no "format"`},
		{"format twice", `{"format":"stateflush-history","format":"stateflush-history","version":1,"operations":[]}`, ErrMalformedHistory, `field "format" appears twice`},
		{"operation field twice", strings.Replace(valid, `"seq":1`, `"seq":1,"seq":2`, 1), ErrMalformedHistory, `field "seq" appears twice`},
		{"snapshot key twice", strings.Replace(valid, `"op":"put","key":"k","value":"v"`, `"op":"snapshot","snapshot":{"a":"1","a":"2"}`, 1), ErrMalformedHistory, `snapshot key "a" appears twice`},
		{"missing required field", strings.Replace(valid, `"status":"ok",`, ``, 1), ErrMalformedHistory, `no "status" field`},
		{"null field", strings.Replace(valid, `"key":"k"`, `"key":null`, 1), ErrMalformedHistory, "key must be a string, got null"},
		{"client out of range", strings.Replace(valid, `"client":1`, `"client":4294967296`, 1), ErrMalformedHistory, "client must be an integer in"},
		{"invalid UTF-8 in a key", strings.Replace(valid, `"key":"k"`, "\n\"key\":\"k\xff\"", 1), ErrMalformedHistory, "line 2 (byte offset"},
		{"overlapping operations of one client", strings.Replace(valid, `]}`, `,`+"\n"+`{"client":1,"seq":2,"op":"get","key":"k","status":"ok","found":true,"output":"v","call_us":5,"return_us":20}]}`, 1), ErrMalformedHistory, "line 2 (byte offset 153): malformed history: operation 1 (client 1 seq 2): overlaps operation 0"},
		{"syntax error names the line", "{\n\"format\":\"stateflush-history\",\n\"version\":1,\n\"operations\":[}", ErrMalformedHistory, "line 4"},
		{"truncated", valid[:len(valid)-3], ErrMalformedHistory, "the input ends"},
		{"return before call", strings.Replace(valid, `"return_us":10`, `"return_us":-5`, 1), ErrMalformedHistory, "return time"},
		{"unknown op", strings.Replace(valid, `"op":"put"`, `"op":"frobnicate"`, 1), ErrMalformedHistory, "frobnicate"},
		{"unknown with finite return", strings.Replace(valid, `"status":"ok"`, `"status":"unknown"`, 1), ErrMalformedHistory, "InfiniteTimeUS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadHistory(strings.NewReader(tc.text))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.mention)
			}
		})
	}
	if _, err := ReadHistoryLimited(strings.NewReader(valid), int64(len(valid)-1)); !errors.Is(err, ErrMalformedHistory) || !strings.Contains(err.Error(), "size limit") {
		t.Errorf("over the size limit: got %v", err)
	}
	if _, err := ReadHistoryLimited(strings.NewReader(valid), int64(len(valid))); err != nil {
		t.Errorf("at the size limit: %v", err)
	}
	path := filepath.Join(t.TempDir(), "broken.json")
	if err := os.WriteFile(path, []byte(`{"format":"stateflush-history","version":1,"operations":[{]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadHistoryFile(path); !errors.Is(err, ErrMalformedHistory) || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v, want an error naming %s", err, path)
	}
}

func TestValidateRejectsInconsistentOperations(t *testing.T) {
	for _, tc := range []struct {
		name    string
		op      Operation
		mention string
	}{
		{"no key", putOp(1, "", "v", 0, 10), "without a key"},
		{"snapshot with key", Operation{Client: 1, Kind: OpSnapshot, Key: "k", Status: StatusOK, ReturnUS: 10}, "snapshot with key"},
		{"get with input", Operation{Client: 1, Kind: OpGet, Key: "k", Value: "v", Status: StatusOK, ReturnUS: 10}, "input value"},
		{"output on a put", Operation{Client: 1, Kind: OpPut, Key: "k", Output: "v", Found: true, Status: StatusOK, ReturnUS: 10}, "output"},
		{"output without found", Operation{Client: 1, Kind: OpGet, Key: "k", Output: "v", Status: StatusOK, ReturnUS: 10}, "found is false"},
		{"snapshot output on failure", Operation{Client: 1, Kind: OpSnapshot, Snapshot: map[string]string{}, Status: StatusFail, ReturnUS: 10}, "snapshot output"},
		{"bad status", Operation{Client: 1, Kind: OpGet, Key: "k", Status: "maybe", ReturnUS: 10}, "unknown status"},
		{"negative call", putOp(1, "k", "v", -1, 10), "negative"},
		{"infinite return for ok", putOp(1, "k", "v", 0, InfiniteTimeUS), "not in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := history(tc.op).Validate()
			if !errors.Is(err, ErrMalformedHistory) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("got %v, want ErrMalformedHistory mentioning %q", err, tc.mention)
			}
		})
	}
	h := history(putOp(1, "k", "v", 0, 10), putOp(1, "k", "w", 20, 30))
	h[1].Seq = h[0].Seq
	if err := h.Validate(); !errors.Is(err, ErrMalformedHistory) || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("duplicate (client, seq): got %v", err)
	}
	var buf bytes.Buffer
	if err := WriteHistory(&buf, h); !errors.Is(err, ErrMalformedHistory) {
		t.Fatalf("WriteHistory of an invalid history: got %v", err)
	}
}

// FuzzReadHistory: the reader never panics, and what it accepts is valid and survives a round trip.
func FuzzReadHistory(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteHistory(&buf, generateHistory(historyShape{operations: 6, keys: 2, clients: 2, unknownPercent: 20, snapshots: true, seed: 3})); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"format":"stateflush-history","version":1,"operations":[{"client":1,"seq":1,"op":"cas","key":"k","expected":"a","value":"b","status":"fail","call_us":0,"return_us":10}]}`))
	f.Add([]byte(`{"format":"stateflush-history","version":1,"operations":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadHistory(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformedHistory) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("error wraps neither ErrMalformedHistory nor ErrUnsupportedVersion: %v", err)
			}
			return
		}
		if err := h.Validate(); err != nil {
			t.Fatalf("accepted an invalid history: %v", err)
		}
		var out bytes.Buffer
		if err := WriteHistory(&out, h); err != nil {
			t.Fatal(err)
		}
		again, err := ReadHistory(&out)
		if err != nil || !reflect.DeepEqual(again, h) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
