// Package textinput is the byte stream under the history readers: it enforces a size limit,
// rejects invalid UTF-8 as it reads (a decoder that replaced it would change keys silently), and
// turns byte offsets back into line numbers so that errors can say where the input went wrong.
// Its memory does not grow with the input: it remembers only the newlines of a recent window.
package textinput

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// ErrTooLarge: the input is longer than the reader's limit.
var ErrTooLarge = errors.New("input exceeds the size limit")

// ErrInvalidUTF8: the input is not valid UTF-8.
var ErrInvalidUTF8 = errors.New("invalid UTF-8")

// window is how far back (in bytes) line numbers stay exact; a decoder's look-ahead is far smaller.
const window = 4 << 20

// Reader wraps an io.Reader. Its Read fails with an error wrapping ErrTooLarge or ErrInvalidUTF8
// (naming the line and offset) as soon as the bytes read so far show the problem.
type Reader struct {
	r     io.Reader
	limit int64 // 0: none
	// offset is the number of bytes returned so far.
	offset int64
	// newlines holds the offsets of the newlines in the last window bytes; forgotten counts the
	// older ones.
	newlines  []int64
	forgotten int
	// pending holds the bytes of a rune split across reads (at most utf8.UTFMax-1).
	pending []byte
	err     error
}

// NewReader reads r, failing once more than limit bytes arrive (limit <= 0: no limit).
func NewReader(r io.Reader, limit int64) *Reader {
	return &Reader{r: r, limit: limit}
}

// Read implements io.Reader.
func (t *Reader) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.r.Read(p)
	if n > 0 {
		if t.limit > 0 && t.offset+int64(n) > t.limit {
			t.err = fmt.Errorf("%w of %d bytes", ErrTooLarge, t.limit)
			return 0, t.err
		}
		if bad, ok := t.checkUTF8(p[:n]); !ok {
			t.record(p[:max(bad, 0)])
			t.err = fmt.Errorf("%s: %w", t.Position(t.offset+int64(min(bad, 0))), ErrInvalidUTF8)
			return 0, t.err
		}
		t.record(p[:n])
	}
	if err == io.EOF && len(t.pending) > 0 {
		t.err = fmt.Errorf("%s: %w (the input ends inside a character)", t.Position(t.offset-int64(len(t.pending))), ErrInvalidUTF8)
		return n, t.err
	}
	return n, err
}

// checkUTF8 reports whether p continues the stream validly, and otherwise the index in p of the
// first invalid byte (negative when it is one of the bytes kept from the previous read). A rune
// cut off at the end of p is kept for the next read.
func (t *Reader) checkUTF8(p []byte) (int, bool) {
	i := 0
	if len(t.pending) > 0 {
		// Complete the rune split across reads with the first bytes of p.
		joined := append(append(make([]byte, 0, utf8.UTFMax), t.pending...), p[:min(len(p), utf8.UTFMax-len(t.pending))]...)
		if !utf8.FullRune(joined) {
			t.pending = joined // p was too short to complete it
			return 0, true
		}
		r, size := utf8.DecodeRune(joined)
		if r == utf8.RuneError && size == 1 {
			return -len(t.pending), false
		}
		i = size - len(t.pending)
		t.pending = t.pending[:0]
	}
	for i < len(p) {
		if p[i] < utf8.RuneSelf {
			i++
			continue
		}
		if !utf8.FullRune(p[i:]) {
			t.pending = append(t.pending[:0], p[i:]...)
			return 0, true
		}
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size == 1 {
			return i, false
		}
		i += size
	}
	return 0, true
}

func (t *Reader) record(p []byte) {
	for i, b := range p {
		if b == '\n' {
			t.newlines = append(t.newlines, t.offset+int64(i))
		}
	}
	t.offset += int64(len(p))
	// Forget newlines older than the window, in batches so that trimming costs O(1) per newline.
	if len(t.newlines) > 1024 && t.newlines[len(t.newlines)/2] < t.offset-window {
		half := len(t.newlines) / 2
		t.forgotten += half
		t.newlines = append(t.newlines[:0], t.newlines[half:]...)
	}
}

// Offset is the number of bytes read so far.
func (t *Reader) Offset() int64 { return t.offset }

// Line returns the 1-based line of a byte offset already read, and false when the offset is
// older than the window this reader remembers.
func (t *Reader) Line(offset int64) (int, bool) {
	if len(t.newlines) > 0 && t.forgotten > 0 && offset <= t.newlines[0] {
		return 0, false
	}
	// Newlines are sorted; count those before offset.
	lo, hi := 0, len(t.newlines)
	for lo < hi {
		mid := (lo + hi) / 2
		if t.newlines[mid] < offset {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return t.forgotten + lo + 1, true
}

// Position describes a byte offset for an error message: "line 12 (byte offset 345)", or only
// the offset when the line is no longer known.
func (t *Reader) Position(offset int64) string {
	if line, ok := t.Line(offset); ok {
		return fmt.Sprintf("line %d (byte offset %d)", line, offset)
	}
	return fmt.Sprintf("byte offset %d", offset)
}
