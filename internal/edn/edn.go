// Package edn reads the subset of EDN (extensible data notation, https://github.com/edn-format/edn)
// that Jepsen, knossos and porcupine histories are written in: nil, booleans, integers, floats,
// strings, characters, keywords, symbols, lists, vectors, maps, sets, tagged elements (the tag is
// kept, the element read as usual), comments and #_ discards. It reads a stream of top-level
// values one at a time, and can step into a top-level vector so that a history written as one
// vector is also read one operation at a time. It is strict: invalid UTF-8, a map key or set
// element that appears twice, unbalanced delimiters and nesting deeper than MaxDepth are errors
// naming the line and byte offset.
package edn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/stateflush/stateflush/internal/textinput"
)

// Kind is the type of a Value.
type Kind int

// The kinds of value.
const (
	Nil Kind = iota
	Bool
	Int
	Float
	String
	Char
	Keyword
	Symbol
	List
	Vector
	Map
	Set
)

var kindNames = [...]string{"nil", "boolean", "integer", "float", "string", "character", "keyword", "symbol", "list", "vector", "map", "set"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", int(k))
}

// Value is one EDN value.
type Value struct {
	Kind Kind
	// Text is a string's or character's contents, a keyword's or symbol's name (a keyword
	// without its colon), a number as written (without an N or M suffix), "true" or "false".
	Text string
	// Items are a list's, vector's or set's elements; a map's keys and values alternate.
	Items []Value
	// Tag is the tag of a tagged element (#inst "..." has Tag "inst"), or empty.
	Tag string
	// Offset is where the value starts in the input.
	Offset int64
}

// Get returns the value of a map's keyword key.
func (v Value) Get(keyword string) (Value, bool) {
	for i := 0; i+1 < len(v.Items); i += 2 {
		if k := v.Items[i]; k.Kind == Keyword && k.Text == keyword {
			return v.Items[i+1], true
		}
	}
	return Value{}, false
}

// String writes the value back as EDN.
func (v Value) String() string {
	var b strings.Builder
	v.write(&b)
	return b.String()
}

func (v Value) write(b *strings.Builder) {
	if v.Tag != "" {
		b.WriteString("#" + v.Tag + " ")
	}
	items := func(open, close string) {
		b.WriteString(open)
		for i, item := range v.Items {
			if i > 0 {
				b.WriteByte(' ')
			}
			item.write(b)
		}
		b.WriteString(close)
	}
	switch v.Kind {
	case Nil:
		b.WriteString("nil")
	case String:
		b.WriteString(Quote(v.Text))
	case Char:
		b.WriteString(`\` + v.Text)
	case Keyword:
		b.WriteString(":" + v.Text)
	case List:
		items("(", ")")
	case Vector:
		items("[", "]")
	case Map:
		items("{", "}")
	case Set:
		items("#{", "}")
	default:
		b.WriteString(v.Text)
	}
}

// Quote writes s as an EDN string.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// MaxDepth bounds nesting, so that hostile input cannot exhaust the stack.
const MaxDepth = 100

// ErrSyntax: the input is not EDN (or not the subset this package reads).
var ErrSyntax = errors.New("EDN syntax error")

// EndOfVector is what Next returns at the end of a vector entered with EnterVector.
var EndOfVector = errors.New("end of the vector")

// Decoder reads EDN values from a stream.
type Decoder struct {
	in      *textinput.Reader
	r       *bufio.Reader
	offset  int64 // of the next byte r returns
	inside  bool  // a top-level vector was entered
	started bool
}

// NewDecoder reads r, failing beyond maxBytes (<= 0: no limit).
func NewDecoder(r io.Reader, maxBytes int64) *Decoder {
	in := textinput.NewReader(r, maxBytes)
	return &Decoder{in: in, r: bufio.NewReaderSize(in, 64<<10)}
}

// Position describes an offset of the input for an error message (line and byte offset).
func (d *Decoder) Position(offset int64) string { return d.in.Position(offset) }

func (d *Decoder) errorf(offset int64, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrSyntax, d.Position(offset), fmt.Sprintf(format, args...))
}

// readByte returns the next byte; io.EOF at the end. Errors of the stream (size, UTF-8) are
// returned as they are.
func (d *Decoder) readByte() (byte, error) {
	c, err := d.r.ReadByte()
	if err == nil {
		d.offset++
	}
	return c, err
}

func (d *Decoder) unreadByte() {
	if d.r.UnreadByte() == nil {
		d.offset--
	}
}

// skipSpace skips whitespace, commas and comments and returns the next byte without consuming it.
func (d *Decoder) skipSpace() (byte, error) {
	for {
		c, err := d.readByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r', ',', '\f':
			continue
		case ';':
			for c != '\n' {
				if c, err = d.readByte(); err != nil {
					return 0, err
				}
			}
			continue
		}
		d.unreadByte()
		return c, nil
	}
}

// EnterVector consumes the opening bracket of a top-level vector if the input starts with one,
// after which Next returns its elements and then EndOfVector. It reports whether it did.
func (d *Decoder) EnterVector() (bool, error) {
	if d.started {
		return false, errors.New("edn: EnterVector after the first value")
	}
	d.started = true
	c, err := d.skipSpace()
	if err != nil {
		if err == io.EOF {
			return false, nil
		}
		return false, err
	}
	if c != '[' {
		return false, nil
	}
	d.readByte()
	d.inside = true
	return true, nil
}

// Next reads the next top-level value (or element of the entered vector). At the end of the
// input it returns io.EOF; at the end of an entered vector EndOfVector, and io.EOF after it only
// if nothing but space follows.
func (d *Decoder) Next() (Value, error) {
	d.started = true
	c, err := d.skipSpace()
	if err == io.EOF {
		if d.inside {
			return Value{}, d.errorf(d.offset, "the input ends inside the top-level vector (no closing ])")
		}
		return Value{}, io.EOF
	}
	if err != nil {
		return Value{}, err
	}
	if d.inside && c == ']' {
		d.readByte()
		d.inside = false
		if _, err := d.skipSpace(); err != io.EOF {
			if err != nil {
				return Value{}, err
			}
			return Value{}, d.errorf(d.offset, "data after the top-level vector")
		}
		return Value{}, EndOfVector
	}
	v, err := d.value(0)
	if err == errDiscardedLast {
		return d.Next()
	}
	return v, err
}

// value reads one value; the next byte is not space.
func (d *Decoder) value(depth int) (Value, error) {
	if depth > MaxDepth {
		return Value{}, d.errorf(d.offset, "nested deeper than %d", MaxDepth)
	}
	for {
		start := d.offset
		c, err := d.readByte()
		if err != nil {
			return Value{}, d.eof(err, start, "a value")
		}
		switch {
		case c == '(':
			return d.collection(List, ')', start, depth)
		case c == '[':
			return d.collection(Vector, ']', start, depth)
		case c == '{':
			return d.collection(Map, '}', start, depth)
		case c == ')' || c == ']' || c == '}':
			return Value{}, d.errorf(start, "unexpected %q", c)
		case c == '"':
			return d.str(start)
		case c == '\\':
			text, err := d.atom()
			if err != nil {
				return Value{}, err
			}
			if text == "" {
				// A character that is itself a delimiter or space, e.g. \( or \ .
				b, err := d.readByte()
				if err != nil {
					return Value{}, d.eof(err, start, "a character")
				}
				text = string(b)
			}
			return Value{Kind: Char, Text: text, Offset: start}, nil
		case c == '#':
			next, err := d.readByte()
			if err != nil {
				return Value{}, d.eof(err, start, "a dispatch character after #")
			}
			switch next {
			case '{':
				return d.collection(Set, '}', start, depth)
			case '_':
				if _, err := d.following(depth, start, "the discarded value after #_"); err != nil {
					return Value{}, err
				}
				c, err := d.skipSpace()
				if err != nil {
					return Value{}, d.eof(err, d.offset, "a value after the discarded one")
				}
				if c == ')' || c == ']' || c == '}' {
					return Value{}, errDiscardedLast
				}
				continue
			}
			d.unreadByte()
			tag, err := d.atom()
			if err != nil {
				return Value{}, err
			}
			if tag == "" {
				return Value{}, d.errorf(start, "# followed by %q", next)
			}
			v, err := d.following(depth, start, "the element tagged #"+tag)
			if err != nil {
				return Value{}, err
			}
			if v.Tag != "" {
				return Value{}, d.errorf(start, "an element with two tags (#%s #%s)", tag, v.Tag)
			}
			v.Tag = tag
			return v, nil
		}
		d.unreadByte()
		text, err := d.atom()
		if err != nil {
			return Value{}, err
		}
		if text == "" {
			return Value{}, d.errorf(start, "unexpected %q", c)
		}
		return d.classify(text, start)
	}
}

// errDiscardedLast: a #_ discarded the last element of a collection; collection handles it.
var errDiscardedLast = errors.New("discarded the last element")

// following reads the value after a dispatch (#_ or a tag), skipping space first.
func (d *Decoder) following(depth int, start int64, what string) (Value, error) {
	if _, err := d.skipSpace(); err != nil {
		return Value{}, d.eof(err, start, what)
	}
	return d.value(depth + 1)
}

func (d *Decoder) eof(err error, start int64, what string) error {
	if err == io.EOF {
		return d.errorf(start, "the input ends where %s should be", what)
	}
	return err
}

func (d *Decoder) collection(kind Kind, closing byte, start int64, depth int) (Value, error) {
	v := Value{Kind: kind, Offset: start}
	seen := map[string]bool{}
	for {
		c, err := d.skipSpace()
		if err != nil {
			return Value{}, d.eof(err, start, fmt.Sprintf("the closing %q of the %s opened here", closing, kind))
		}
		if c == closing {
			d.readByte()
			break
		}
		item, err := d.value(depth + 1)
		if err == errDiscardedLast {
			continue
		}
		if err != nil {
			return Value{}, err
		}
		if kind == Set || (kind == Map && len(v.Items)%2 == 0) {
			key := item.String()
			if seen[key] {
				what := "map key"
				if kind == Set {
					what = "set element"
				}
				return Value{}, d.errorf(item.Offset, "%s %s appears twice", what, shorten(key))
			}
			seen[key] = true
		}
		v.Items = append(v.Items, item)
	}
	if kind == Map && len(v.Items)%2 != 0 {
		return Value{}, d.errorf(start, "a map with a key and no value")
	}
	return v, nil
}

func shorten(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// atom reads the characters of a symbol, keyword, number or character name.
func (d *Decoder) atom() (string, error) {
	var b []byte
	for {
		c, err := d.readByte()
		if err == io.EOF {
			return string(b), nil
		}
		if err != nil {
			return "", err
		}
		if isDelimiter(c) {
			d.unreadByte()
			return string(b), nil
		}
		b = append(b, c)
	}
}

func isDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', '\f', '(', ')', '[', ']', '{', '}', '"', ';':
		return true
	}
	return false
}

func (d *Decoder) classify(text string, start int64) (Value, error) {
	switch text {
	case "nil":
		return Value{Kind: Nil, Offset: start}, nil
	case "true", "false":
		return Value{Kind: Bool, Text: text, Offset: start}, nil
	}
	first := text[0]
	if first == ':' {
		if len(text) == 1 || text[1] == ':' {
			return Value{}, d.errorf(start, "invalid keyword %q", text)
		}
		return Value{Kind: Keyword, Text: text[1:], Offset: start}, nil
	}
	if first >= '0' && first <= '9' || (first == '+' || first == '-') && len(text) > 1 && text[1] >= '0' && text[1] <= '9' {
		return d.number(text, start)
	}
	if !utf8.ValidString(text) {
		return Value{}, d.errorf(start, "invalid UTF-8 in a symbol")
	}
	return Value{Kind: Symbol, Text: text, Offset: start}, nil
}

func (d *Decoder) number(text string, start int64) (Value, error) {
	if body, ok := strings.CutSuffix(text, "N"); ok {
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return Value{}, d.errorf(start, "integer %q out of range or malformed", text)
		}
		return Value{Kind: Int, Text: strconv.FormatInt(n, 10), Offset: start}, nil
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return Value{Kind: Int, Text: strconv.FormatInt(n, 10), Offset: start}, nil
	}
	body := strings.TrimSuffix(text, "M")
	if _, err := strconv.ParseFloat(body, 64); err == nil && strings.ContainsAny(body, ".eE") {
		return Value{Kind: Float, Text: body, Offset: start}, nil
	}
	return Value{}, d.errorf(start, "malformed number %q", text)
}

func (d *Decoder) str(start int64) (Value, error) {
	var b strings.Builder
	for {
		c, err := d.readByte()
		if err != nil {
			return Value{}, d.eof(err, start, "the closing quote of the string opened here")
		}
		switch c {
		case '"':
			return Value{Kind: String, Text: b.String(), Offset: start}, nil
		case '\\':
			e, err := d.readByte()
			if err != nil {
				return Value{}, d.eof(err, start, "the closing quote of the string opened here")
			}
			switch e {
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'n':
				b.WriteByte('\n')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case '\\', '"', '\'':
				b.WriteByte(e)
			case 'u':
				var hex [4]byte
				for i := range hex {
					if hex[i], err = d.readByte(); err != nil {
						return Value{}, d.eof(err, start, "the closing quote of the string opened here")
					}
				}
				r, err := strconv.ParseUint(string(hex[:]), 16, 16)
				if err != nil || utf8.RuneLen(rune(r)) < 0 {
					return Value{}, d.errorf(d.offset-6, `invalid escape \u%s`, hex[:])
				}
				b.WriteRune(rune(r))
			default:
				return Value{}, d.errorf(d.offset-2, "invalid escape \\%c in a string", e)
			}
		default:
			b.WriteByte(c)
		}
	}
}
