package linearizability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"

	"github.com/stateflush/stateflush/internal/textinput"
)

// HistoryFormat and HistoryVersion identify the JSON encoding of a History. A reader accepts only
// the versions it knows; a change that old readers would misread gets a new version.
const (
	HistoryFormat  = "stateflush-history"
	HistoryVersion = 1
)

// ErrUnsupportedVersion: a history file has another format or a version this reader does not know.
var ErrUnsupportedVersion = errors.New("unsupported history file")

type historyFile struct {
	Format     string      `json:"format"`
	Version    int         `json:"version"`
	Operations []Operation `json:"operations"`
}

// WriteHistory encodes a history as indented JSON:
//
//	{"format": "stateflush-history", "version": 1, "operations": [ {...}, ... ]}
//
// Each operation's fields are those of Operation's JSON tags; an unknown outcome has
// "return_us": 9223372036854775807 (InfiniteTimeUS).
func WriteHistory(w io.Writer, h History) error {
	if err := h.Validate(); err != nil {
		return err
	}
	ops := h
	if ops == nil {
		ops = History{}
	}
	data, err := json.MarshalIndent(historyFile{Format: HistoryFormat, Version: HistoryVersion, Operations: ops}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding history: %w", err)
	}
	data = append(data, '\n')
	_, err = w.Write(data)
	return err
}

// ReadHistory decodes a history written by WriteHistory (see ReadHistoryLimited; no size limit).
func ReadHistory(r io.Reader) (History, error) { return ReadHistoryLimited(r, 0) }

// ReadHistoryLimited decodes a history written by WriteHistory, strictly and as a stream: memory
// grows with the operations read, not with the file, and reading fails at the first byte that
// shows a problem. It rejects other formats and versions (ErrUnsupportedVersion), and (wrapping
// ErrMalformedHistory, with the line and byte offset): input longer than maxBytes (> 0), invalid
// UTF-8 (which a decoder would silently replace), a missing or null "operations", a field that
// appears twice, unknown fields, missing required operation fields (client, seq, op, status,
// call_us, return_us), values of the wrong type or range, trailing data, operations that fail
// History.Validate, and overlapping operations of one client (History.CheckClientOverlaps).
//
// "format" and "version" must come before "operations" (WriteHistory writes them first), so that
// a file of another version gets a version error rather than complaints about its operations.
func ReadHistoryLimited(r io.Reader, maxBytes int64) (History, error) {
	in := textinput.NewReader(r, maxBytes)
	d := &historyDecoder{in: in, dec: json.NewDecoder(in)}
	d.dec.UseNumber()
	h, err := d.history()
	if err != nil {
		return nil, err
	}
	for i := range h {
		// JSON drops an empty map; an empty snapshot is still a snapshot.
		if h[i].Kind == OpSnapshot && h[i].Status == StatusOK && h[i].Snapshot == nil {
			h[i].Snapshot = map[string]string{}
		}
	}
	err = h.Validate()
	if err == nil {
		err = h.CheckClientOverlaps()
	}
	var opErr *OperationError
	if errors.As(err, &opErr) && opErr.Index < len(d.positions) {
		return nil, fmt.Errorf("%s: %w", d.positions[opErr.Index], err)
	}
	if err != nil {
		return nil, err
	}
	return h, nil
}

// historyDecoder reads a history file token by token (json.Decoder's Token), so that no more
// than one token is held beyond the operations already decoded.
type historyDecoder struct {
	in  *textinput.Reader
	dec *json.Decoder
	// positions[i] says where operation i starts in the file, for errors found after reading.
	positions []filePosition
}

// filePosition is where an operation starts: its line (0: no longer known) and byte offset.
type filePosition struct {
	offset int64
	line   int
}

func (p filePosition) String() string {
	if p.line > 0 {
		return fmt.Sprintf("line %d (byte offset %d)", p.line, p.offset)
	}
	return fmt.Sprintf("byte offset %d", p.offset)
}

// where is the position of the decoder in the input.
func (d *historyDecoder) where() string { return d.in.Position(d.dec.InputOffset()) }

func (d *historyDecoder) fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformedHistory, d.where(), fmt.Sprintf(format, args...))
}

// token reads the next token; what says what was expected, for the error.
func (d *historyDecoder) token(what string) (json.Token, error) {
	t, err := d.dec.Token()
	if err == nil {
		return t, nil
	}
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformedHistory, d.in.Position(syntax.Offset), err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, d.fail("the input ends where %s should be", what)
	case errors.Is(err, textinput.ErrTooLarge):
		return nil, fmt.Errorf("%w: %w (a larger limit reads it)", ErrMalformedHistory, err)
	}
	return nil, fmt.Errorf("%w: %w", ErrMalformedHistory, err)
}

func (d *historyDecoder) delim(want json.Delim, what string) error {
	t, err := d.token(what)
	if err != nil {
		return err
	}
	if t != want {
		return d.fail("want %s, got %s", what, describeToken(t))
	}
	return nil
}

func (d *historyDecoder) history() (History, error) {
	t, err := d.dec.Token()
	if err != nil || t != json.Delim('{') {
		if err == nil {
			err = fmt.Errorf("starts with %s", describeToken(t))
		} else if errors.Is(err, io.EOF) {
			err = errors.New("the input is empty")
		} else if errors.Is(err, textinput.ErrInvalidUTF8) || errors.Is(err, textinput.ErrTooLarge) {
			return nil, fmt.Errorf("%w: %w", ErrMalformedHistory, err)
		}
		return nil, fmt.Errorf("%w: not a JSON history object: %v", ErrMalformedHistory, err)
	}
	seen := map[string]bool{}
	var h History
	for d.dec.More() {
		t, err := d.token("a field name")
		if err != nil {
			return nil, err
		}
		field := t.(string) // inside an object, json.Decoder returns only string keys here
		if seen[field] {
			return nil, d.fail("field %q appears twice", field)
		}
		seen[field] = true
		switch field {
		case "format":
			format, err := d.stringValue(field)
			if err != nil {
				return nil, err
			}
			if format != HistoryFormat {
				return nil, fmt.Errorf("%w: format %q, want %q", ErrUnsupportedVersion, format, HistoryFormat)
			}
		case "version":
			version, err := d.intValue(field, 0, math.MaxInt32)
			if err != nil {
				return nil, err
			}
			if version != HistoryVersion {
				return nil, fmt.Errorf("%w: version %d, this reader knows version %d", ErrUnsupportedVersion, version, HistoryVersion)
			}
		case "operations":
			if !seen["format"] || !seen["version"] {
				return nil, d.fail(`"operations" before "format" and "version" (they come first, so that the version is known before the operations are read)`)
			}
			if h, err = d.operations(); err != nil {
				return nil, err
			}
		default:
			return nil, d.fail("unknown field %q", field)
		}
	}
	if err := d.delim('}', "the end of the history object"); err != nil {
		return nil, err
	}
	switch {
	case !seen["format"]:
		return nil, fmt.Errorf("%w: no \"format\" field", ErrUnsupportedVersion)
	case !seen["version"]:
		return nil, fmt.Errorf("%w: no \"version\" field", ErrUnsupportedVersion)
	case !seen["operations"]:
		return nil, d.fail(`no "operations" field (an empty history is "operations": [])`)
	}
	if t, err := d.dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("%w: after the history object: %w", ErrMalformedHistory, err)
		}
		return nil, d.fail("data after the history object: %s", describeToken(t))
	}
	if h == nil {
		h = History{}
	}
	return h, nil
}

func (d *historyDecoder) operations() (History, error) {
	t, err := d.token("the operations")
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, d.fail(`"operations" is null (an empty history is "operations": [])`)
	}
	if t != json.Delim('[') {
		return nil, d.fail(`"operations" must be an array, got %s`, describeToken(t))
	}
	h := History{}
	for d.dec.More() {
		op, err := d.operation(len(h))
		if err != nil {
			return nil, err
		}
		h = append(h, op)
	}
	return h, d.delim(']', "the end of the operations")
}

// Required operation fields; the others may be left out (WriteHistory omits empty ones).
var requiredOperationFields = []string{"client", "seq", "op", "status", "call_us", "return_us"}

func (d *historyDecoder) operation(index int) (Operation, error) {
	var op Operation
	if err := d.delim('{', "an operation (an object)"); err != nil {
		return op, err
	}
	start := filePosition{offset: d.dec.InputOffset() - 1}
	start.line, _ = d.in.Line(start.offset)
	d.positions = append(d.positions, start)
	// The fields seen so far: few, so a list is cheaper than a map (a file has millions of these).
	seen := make([]string, 0, 16)
	for d.dec.More() {
		t, err := d.token("a field name")
		if err != nil {
			return op, err
		}
		field := t.(string)
		if slices.Contains(seen, field) {
			return op, d.fail("operation %d: field %q appears twice", index, field)
		}
		seen = append(seen, field)
		var (
			s *string
			n int64
		)
		switch field {
		case "client":
			n, err = d.intValue(field, math.MinInt32, math.MaxInt32)
			op.Client = int32(n)
		case "seq":
			op.Seq, err = d.uintValue(field)
		case "invoke_seq":
			op.InvokeSeq, err = d.uintValue(field)
		case "return_seq":
			op.ReturnSeq, err = d.uintValue(field)
		case "call_us":
			op.CallUS, err = d.intValue(field, math.MinInt64, math.MaxInt64)
		case "return_us":
			op.ReturnUS, err = d.intValue(field, math.MinInt64, math.MaxInt64)
		case "found":
			op.Found, err = d.boolValue(field)
		case "snapshot":
			op.Snapshot, err = d.snapshot()
		case "op":
			var kind string
			kind, err = d.stringValue(field)
			op.Kind = OpKind(kind)
		case "status":
			var status string
			status, err = d.stringValue(field)
			op.Status = Status(status)
		case "key":
			s = &op.Key
		case "value":
			s = &op.Value
		case "expected":
			s = &op.Expected
		case "output":
			s = &op.Output
		default:
			return op, d.fail("operation %d: unknown field %q", index, field)
		}
		if s != nil {
			*s, err = d.stringValue(field)
		}
		if err != nil {
			return op, fmt.Errorf("operation %d: %w", index, err)
		}
	}
	if err := d.delim('}', "the end of the operation"); err != nil {
		return op, err
	}
	for _, field := range requiredOperationFields {
		if !slices.Contains(seen, field) {
			return op, fmt.Errorf("%w: %s: operation %d has no %q field", ErrMalformedHistory, start, index, field)
		}
	}
	return op, nil
}

func (d *historyDecoder) snapshot() (map[string]string, error) {
	if err := d.delim('{', "a snapshot (an object of key: value strings)"); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for d.dec.More() {
		t, err := d.token("a key")
		if err != nil {
			return nil, err
		}
		key := t.(string)
		if _, dup := m[key]; dup {
			return nil, d.fail("snapshot key %q appears twice", key)
		}
		if m[key], err = d.stringValue("snapshot value of " + strconv.Quote(key)); err != nil {
			return nil, err
		}
	}
	return m, d.delim('}', "the end of the snapshot")
}

func (d *historyDecoder) stringValue(field string) (string, error) {
	t, err := d.token(field)
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", d.fail("%s must be a string, got %s", field, describeToken(t))
	}
	return s, nil
}

func (d *historyDecoder) boolValue(field string) (bool, error) {
	t, err := d.token(field)
	if err != nil {
		return false, err
	}
	b, ok := t.(bool)
	if !ok {
		return false, d.fail("%s must be true or false, got %s", field, describeToken(t))
	}
	return b, nil
}

func (d *historyDecoder) intValue(field string, lo, hi int64) (int64, error) {
	t, err := d.token(field)
	if err != nil {
		return 0, err
	}
	n, ok := t.(json.Number)
	if !ok {
		return 0, d.fail("%s must be an integer, got %s", field, describeToken(t))
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, d.fail("%s must be an integer in [%d, %d], got %s", field, lo, hi, n)
	}
	return v, nil
}

func (d *historyDecoder) uintValue(field string) (uint64, error) {
	t, err := d.token(field)
	if err != nil {
		return 0, err
	}
	n, ok := t.(json.Number)
	if !ok {
		return 0, d.fail("%s must be a non-negative integer, got %s", field, describeToken(t))
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return 0, d.fail("%s must be an integer in [0, %d], got %s", field, uint64(math.MaxUint64), n)
	}
	return v, nil
}

// describeToken names a JSON token for an error message; long strings are cut.
func describeToken(t json.Token) string {
	switch v := t.(type) {
	case nil:
		return "null"
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	case string:
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + string(v)
	case bool:
		return fmt.Sprint(v)
	}
	return fmt.Sprint(t)
}

// WriteHistoryFile writes a history to the named file (see WriteHistory).
func WriteHistoryFile(path string, h History) error {
	var buf bytes.Buffer
	if err := WriteHistory(&buf, h); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// ReadHistoryFile reads a history from the named file (see ReadHistory). Errors name the file.
func ReadHistoryFile(path string) (History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := ReadHistory(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("history file %s: %w", path, err)
	}
	return h, nil
}
