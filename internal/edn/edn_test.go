package edn

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t testing.TB, text string) ([]Value, error) {
	t.Helper()
	d := NewDecoder(strings.NewReader(text), 0)
	var values []Value
	for {
		v, err := d.Next()
		if err == io.EOF {
			return values, nil
		}
		if err != nil {
			return values, err
		}
		values = append(values, v)
	}
}

func TestReadsJepsenOperations(t *testing.T) {
	text := `{:type :invoke, :f :cas, :value [1 2], :process 3, :time 12345, :index 0}
; a comment
{:type :info :f :start :process :nemesis :value nil :error "timed out\n" :x #_ 7 -1.5e3 :y #{1 2} :z (a/b \c) :t #inst "2020-01-01"}`
	values, err := readAll(t, text)
	if err != nil {
		t.Fatal(err)
	}
	if len(values) != 2 {
		t.Fatalf("got %d values, want 2", len(values))
	}
	op := values[0]
	if v, _ := op.Get("value"); v.Kind != Vector || len(v.Items) != 2 || v.Items[1].Text != "2" {
		t.Errorf(":value read as %v", v)
	}
	if v, _ := op.Get("process"); v.Kind != Int || v.Text != "3" {
		t.Errorf(":process read as %v", v)
	}
	info := values[1]
	for key, want := range map[string]string{"type": ":info", "process": ":nemesis", "value": "nil", "error": `"timed out\n"`, "x": "-1.5e3", "y": "#{1 2}", "z": `(a/b \c)`, "t": `#inst "2020-01-01"`} {
		if v, ok := info.Get(key); !ok || v.String() != want {
			t.Errorf(":%s read as %v, want %s", key, v, want)
		}
	}
}

func TestEntersATopLevelVector(t *testing.T) {
	d := NewDecoder(strings.NewReader(" [{:a 1}\n{:a 2}] "), 0)
	if ok, err := d.EnterVector(); !ok || err != nil {
		t.Fatalf("EnterVector: %v %v", ok, err)
	}
	for i := range 2 {
		if v, err := d.Next(); err != nil || v.Kind != Map {
			t.Fatalf("element %d: %v %v", i, v, err)
		}
	}
	if _, err := d.Next(); err != EndOfVector {
		t.Fatalf("got %v, want EndOfVector", err)
	}
	d = NewDecoder(strings.NewReader("[{:a 1}"), 0)
	d.EnterVector()
	d.Next()
	if _, err := d.Next(); !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "no closing ]") {
		t.Fatalf("unclosed vector: %v", err)
	}
	d = NewDecoder(strings.NewReader("[] x"), 0)
	d.EnterVector()
	if _, err := d.Next(); !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "after the top-level vector") {
		t.Fatalf("data after the vector: %v", err)
	}
}

func TestRejectsBadInput(t *testing.T) {
	for _, tc := range []struct{ text, mention string }{
		{"{:a 1 :a 2}", "map key :a appears twice"},
		{"#{1 1}", "set element 1 appears twice"},
		{"{:a}", "a key and no value"},
		{"[1 2", `closing ']'`},
		{"(1))", `unexpected ')'`},
		{"\"abc", "closing quote"},
		{`"\q"`, `invalid escape \q`},
		{"{:k \"a\xffb\"}", "invalid UTF-8"},
		{"12abc", "malformed number"},
		{"99999999999999999999", "malformed number"},
		{"::a", "invalid keyword"},
		{"\n\n  }", "line 3 (byte offset 4)"},
		{strings.Repeat("[", MaxDepth+2), "nested deeper"},
	} {
		_, err := readAll(t, tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%q: got %v, want an error mentioning %q", tc.text, err, tc.mention)
		}
	}
	if _, err := io.ReadAll(io.LimitReader(strings.NewReader(""), 0)); err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(strings.NewReader("[1 2 3 4 5 6]"), 5)
	if _, err := d.Next(); err == nil || !strings.Contains(err.Error(), "size limit") {
		t.Errorf("over the size limit: got %v", err)
	}
}

func stripOffsets(v Value) Value {
	v.Offset = 0
	for i := range v.Items {
		v.Items[i] = stripOffsets(v.Items[i])
	}
	return v
}

// FuzzDecoder: no panics; every value read is written back as EDN that reads as the same value.
func FuzzDecoder(f *testing.F) {
	f.Add(`{:type :ok, :f :read, :value [1 nil], :process 0}`)
	f.Add(`[#_ 1 #{:a "b\u00e9"} (x \y) #tag {1.5 -2N}]`)
	f.Add(`{:a {:b [[[]]]}} ; comment`)
	f.Fuzz(func(t *testing.T, text string) {
		values, err := readAll(t, text)
		if err != nil {
			return
		}
		for _, v := range values {
			again, err := readAll(t, v.String())
			if err != nil || len(again) != 1 {
				t.Fatalf("%s does not read back: %v", v, err)
			}
			if a, b := stripOffsets(again[0]).String(), stripOffsets(v).String(); a != b {
				t.Fatalf("round trip changed %s into %s", b, a)
			}
		}
	})
}
