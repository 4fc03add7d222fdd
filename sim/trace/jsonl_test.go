package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sampleRecords() []Record {
	return []Record{
		{Seq: 1, TimeUS: 0, Kind: KindTimerSet, Node: 0, TimerID: 1, Attrs: []Attr{{Key: "after", Value: "100"}}},
		{Seq: 2, TimeUS: 0, Kind: KindSend, Node: 0, Peer: 1, MsgID: 1, Name: "put", Attrs: []Attr{{Key: "key", Value: "k \"1\"\n<&>"}}},
		{Seq: 3, TimeUS: 100, Kind: KindDeliver, Node: 1, MsgID: 1, Cause: 2, Name: "put"},
		{Seq: 4, TimeUS: 100, Kind: KindEvent, Node: 1, Incarnation: 2, Cause: 3, Name: "op-return",
			Attrs: []Attr{{Key: "status", Value: "ok"}, {Key: "value", Value: "é☃"}}},
		{Seq: 5, TimeUS: 150, Kind: KindDrop, Node: -1, Peer: 3, MsgID: 9, Name: "no-such-node"},
		{Seq: 6, TimeUS: 200, Kind: KindCrash, Node: 2, Attrs: []Attr{{Key: "by", Value: "chaos-monkey"}}},
		{Seq: 7, TimeUS: 300, Kind: KindEnd, Node: -1, Name: "quiescent"},
	}
}

func write(t *testing.T, h Header, records []Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, h, records); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteReadRoundTrip(t *testing.T) {
	records := sampleRecords()
	desc := json.RawMessage(`{"seed": 42,
		"scenario": "gossip"}`)
	data := write(t, Header{Description: desc}, records)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 1+len(records) {
		t.Fatalf("%d lines, want a header and %d records:\n%s", len(lines), len(records), data)
	}
	if lines[0] != `{"format":"stateflush-trace","version":2,"description":{"seed":42,"scenario":"gossip"}}` {
		t.Fatalf("header line %s", lines[0])
	}
	h, got, err := Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != Version || string(h.Description) != `{"seed":42,"scenario":"gossip"}` {
		t.Fatalf("header %+v (%s)", h, h.Description)
	}
	if !reflect.DeepEqual(got, records) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, records)
	}
	if Hash(got) != Hash(records) {
		t.Fatal("hash changed in the round trip")
	}
}

func TestHashCoversEveryFieldButDescriptiveAttrs(t *testing.T) {
	base := sampleRecords()
	want := Hash(base)
	mutations := map[string]func(r []Record){
		"seq":         func(r []Record) { r[2].Seq = 30 },
		"time":        func(r []Record) { r[2].TimeUS++ },
		"kind":        func(r []Record) { r[5].Kind = KindRestart },
		"node":        func(r []Record) { r[2].Node = 2 },
		"peer":        func(r []Record) { r[2].Peer = 5 },
		"incarnation": func(r []Record) { r[3].Incarnation = 1 },
		"msg":         func(r []Record) { r[2].MsgID = 2 },
		"timer":       func(r []Record) { r[0].TimerID = 2 },
		"cause":       func(r []Record) { r[3].Cause = 2 },
		"name":        func(r []Record) { r[3].Name = "op-invoke" },
		"attr value":  func(r []Record) { r[3].Attrs[1].Value = "x" },
		"attr key":    func(r []Record) { r[5].Attrs[0].Key = "who" },
		"attr gone":   func(r []Record) { r[3].Attrs = r[3].Attrs[:1] },
		"record gone": func(r []Record) { copy(r[4:], r[5:]) },
		"order":       func(r []Record) { r[5], r[6] = r[6], r[5] },
	}
	for name, mutate := range mutations {
		r := sampleRecords()
		mutate(r)
		if Hash(r) == want {
			t.Errorf("changing the %s left the hash unchanged", name)
		}
	}
	r := sampleRecords()
	r[0].Attrs, r[1].Attrs = nil, nil // timer-set and send attrs are descriptive
	if Hash(r) != want {
		t.Error("send and timer-set attrs changed the hash")
	}
	var h Hasher
	for i := range base {
		var hashed []Attr
		if AttrsHashed(base[i].Kind) {
			hashed = base[i].Attrs
		}
		h.AddHead(&base[i], len(hashed))
		for _, a := range hashed {
			h.AddAttr(a)
		}
	}
	if h.Sum64() != want || h.Records() != uint64(len(base)) {
		t.Error("AddHead and AddAttr disagree with Add")
	}
}

func TestReadRejectsBadInputNamingTheLine(t *testing.T) {
	good := string(write(t, Header{Description: json.RawMessage(`{"seed":1}`)}, sampleRecords()))
	lines := strings.SplitAfter(good, "\n")
	header := lines[0]
	cases := []struct {
		name  string
		input string
		line  int
		want  error
	}{
		{"empty input", "", 1, ErrTruncated},
		{"header cut off", header[:20], 1, ErrTruncated},
		{"record cut off", header + lines[1] + lines[2][:15], 3, ErrTruncated},
		{"wrong version", strings.Replace(header, `"version":2`, `"version":1`, 1), 1, ErrVersion},
		{"wrong format", strings.Replace(header, "stateflush-trace", "other", 1), 1, ErrVersion},
		{"header not an object", "[1,2]\n", 1, ErrMalformed},
		{"header unknown field", `{"format":"stateflush-trace","version":2,"extra":true}` + "\n", 1, ErrMalformed},
		{"not JSON", header + "seq=1\n", 2, ErrMalformed},
		{"empty line", header + lines[1] + "\n" + lines[2], 3, ErrMalformed},
		{"null record", header + "null\n", 2, ErrMalformed},
		{"unknown field", header + `{"seq":1,"t":0,"kind":"send","node":0,"colour":"red"}` + "\n", 2, ErrMalformed},
		{"wrong type", header + `{"seq":"one","t":0,"kind":"send","node":0}` + "\n", 2, ErrMalformed},
		{"trailing data", header + `{"seq":1,"t":0,"kind":"send","node":0} {}` + "\n", 2, ErrMalformed},
		{"unknown kind", header + `{"seq":1,"t":0,"kind":"teleport","node":0}` + "\n", 2, ErrMalformed},
		{"seq zero", header + `{"seq":0,"t":0,"kind":"send","node":0}` + "\n", 2, ErrMalformed},
		{"seq repeats", header + lines[1] + lines[1], 3, ErrMalformed},
		{"time goes back", header + `{"seq":1,"t":5,"kind":"send","node":0}` + "\n" + `{"seq":2,"t":4,"kind":"send","node":0}` + "\n", 3, ErrMalformed},
		{"negative time", header + `{"seq":1,"t":-5,"kind":"send","node":0}` + "\n", 2, ErrMalformed},
		{"node overflow", header + `{"seq":1,"t":0,"kind":"send","node":4294967296}` + "\n", 2, ErrMalformed},
	}
	for _, tc := range cases {
		_, _, err := Read(strings.NewReader(tc.input))
		var le *LineError
		if !errors.As(err, &le) || !errors.Is(err, tc.want) || le.Line != tc.line {
			t.Errorf("%s: got %v, want %v at line %d", tc.name, err, tc.want, tc.line)
			continue
		}
		if !strings.Contains(err.Error(), "line ") {
			t.Errorf("%s: error %q does not name the line", tc.name, err)
		}
	}
	// The last line may lack its newline if it is complete.
	if _, recs, err := Read(strings.NewReader(strings.TrimSuffix(good, "\n"))); err != nil || len(recs) != len(sampleRecords()) {
		t.Errorf("complete last line without newline: %d records, %v", len(recs), err)
	}
}

func TestWriteRejectsWhatReadWouldReject(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, Header{Version: 9}, nil); !errors.Is(err, ErrVersion) {
		t.Errorf("Header.Version 9: %v", err)
	}
	if err := Write(&buf, Header{Description: json.RawMessage(`{"seed":`)}, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("invalid description: %v", err)
	}
	bad := sampleRecords()
	bad[3].Seq = 2
	if err := Write(&buf, Header{}, bad); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "records[3]") {
		t.Errorf("decreasing seq: %v", err)
	}
}

// FuzzReadTrace checks that Read never panics, and that whatever it accepts survives a round trip
// through Write and Read unchanged (records, hash and description).
func FuzzReadTrace(f *testing.F) {
	var buf bytes.Buffer
	if err := Write(&buf, Header{Description: json.RawMessage(`{"seed":7}`)}, sampleRecords()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		h, records, err := Read(bytes.NewReader(data))
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		var out bytes.Buffer
		if err := Write(&out, h, records); err != nil {
			t.Fatalf("Write rejected what Read accepted: %v", err)
		}
		h2, records2, err := Read(&out)
		if err != nil {
			t.Fatalf("Read rejected what Write wrote: %v\n%s", err, out.Bytes())
		}
		if !reflect.DeepEqual(records, records2) || Hash(records) != Hash(records2) {
			t.Fatalf("records changed in a round trip:\n%+v\n%+v", records, records2)
		}
		var d1, d2 bytes.Buffer
		if len(h.Description) > 0 {
			if err := json.Compact(&d1, h.Description); err != nil {
				t.Fatalf("accepted description is not JSON: %v", err)
			}
		}
		if len(h2.Description) > 0 {
			_ = json.Compact(&d2, h2.Description)
		}
		if d1.String() != d2.String() {
			t.Fatalf("description changed in a round trip: %s vs %s", h.Description, h2.Description)
		}
	})
}
