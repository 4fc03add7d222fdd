package textinput

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

func TestReaderRejectsInvalidUTF8AtItsLine(t *testing.T) {
	text := "first line\nsecond \xff line\n"
	if _, err := io.ReadAll(NewReader(iotest.OneByteReader(strings.NewReader("ab\n\xe2000")), 0)); err == nil || !strings.Contains(err.Error(), "line 2 (byte offset 3)") {
		t.Errorf("bad start byte read alone: got %v, want line 2, offset 3", err)
	}
	for name, r := range map[string]io.Reader{
		"whole":        strings.NewReader(text),
		"byte by byte": iotest.OneByteReader(strings.NewReader(text)),
	} {
		_, err := io.ReadAll(NewReader(r, 0))
		if !errors.Is(err, ErrInvalidUTF8) || !strings.Contains(err.Error(), "line 2 (byte offset 18)") {
			t.Errorf("%s: got %v, want invalid UTF-8 at line 2, offset 18", name, err)
		}
	}
}

func TestReaderAcceptsRunesSplitAcrossReads(t *testing.T) {
	text := strings.Repeat("día ✓ 𝄞\n", 100)
	got, err := io.ReadAll(NewReader(iotest.OneByteReader(strings.NewReader(text)), 0))
	if err != nil || string(got) != text {
		t.Fatalf("got %v, want the text back", err)
	}
	// A rune cut off by the end of the input is invalid.
	_, err = io.ReadAll(NewReader(iotest.OneByteReader(strings.NewReader("ok \xe2\x9c")), 0))
	if !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("truncated rune: got %v, want ErrInvalidUTF8", err)
	}
}

func TestReaderEnforcesTheLimit(t *testing.T) {
	if _, err := io.ReadAll(NewReader(strings.NewReader("12345"), 5)); err != nil {
		t.Fatalf("input of exactly the limit: %v", err)
	}
	if _, err := io.ReadAll(NewReader(strings.NewReader("123456"), 5)); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "5 bytes") {
		t.Fatalf("got %v, want ErrTooLarge naming the limit", err)
	}
}

func TestLinesStayExactWhileTheWindowMoves(t *testing.T) {
	line := strings.Repeat("x", 99) + "\n"
	r := NewReader(strings.NewReader(strings.Repeat(line, 100_000)), 0) // 10 MB, more than the window
	if _, err := io.ReadAll(r); err != nil {
		t.Fatal(err)
	}
	end := r.Offset()
	if got, ok := r.Line(end - 50); !ok || got != 100_000 {
		t.Fatalf("line of a recent offset: %d %v, want 100000", got, ok)
	}
	if _, ok := r.Line(10); ok {
		t.Fatal("an offset older than the window must not get a line")
	}
	if got := r.Position(10); got != "byte offset 10" {
		t.Fatalf("position of a forgotten offset: %q", got)
	}
	if len(r.newlines) > 2*window/len(line)+1024 {
		t.Fatalf("%d newlines remembered: memory grows with the input", len(r.newlines))
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("a\nb"), 0)
	f.Add([]byte("\xe2\x9c\x93\xff"), 3)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		got, err := io.ReadAll(NewReader(iotest.OneByteReader(strings.NewReader(string(data))), int64(limit)))
		tooLarge := limit > 0 && len(data) > limit
		switch {
		case tooLarge && !utf8.Valid(data):
			if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrInvalidUTF8) {
				t.Fatalf("%d invalid bytes with limit %d: %v", len(data), limit, err)
			}
		case tooLarge:
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%d bytes with limit %d: %v", len(data), limit, err)
			}
		case !utf8.Valid(data):
			if !errors.Is(err, ErrInvalidUTF8) {
				t.Fatalf("invalid UTF-8 accepted: %v", err)
			}
		default:
			if err != nil || string(got) != string(data) {
				t.Fatalf("valid input: %v", err)
			}
		}
	})
}
