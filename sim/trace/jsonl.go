package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Format is the value of the "format" field of a trace file's header line.
const Format = "stateflush-trace"

// Version is the trace file format version that Write produces and Read accepts.
const Version = 2

// Header is the first line of a trace file. Description is a free-form JSON value supplied by whoever
// ran the simulation (seed, scenario, configuration), so that the file says how to reproduce it.
type Header struct {
	Version     int
	Description json.RawMessage
}

// headerLine is the JSON form of Header.
type headerLine struct {
	Format      string          `json:"format"`
	Version     int             `json:"version"`
	Description json.RawMessage `json:"description,omitempty"`
}

// Errors that Read (and Write, for records it would not read back) wrap. Every error Read returns
// is a *LineError naming the line.
var (
	// ErrMalformed: a line is not the JSON the format requires, or a record breaks a trace invariant.
	ErrMalformed = errors.New("malformed trace")
	// ErrTruncated: the input ends inside a record, or before the header.
	ErrTruncated = errors.New("truncated trace")
	// ErrVersion: the header names another format or an unsupported version.
	ErrVersion = errors.New("unsupported trace version")
)

// LineError is an error at one line of a trace file (lines count from 1; the header is line 1).
type LineError struct {
	Line   int
	Err    error // ErrMalformed, ErrTruncated or ErrVersion
	Detail string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("trace: line %d: %v: %s", e.Line, e.Err, e.Detail)
}

func (e *LineError) Unwrap() error { return e.Err }

// knownKinds lists every Kind a trace may hold.
var knownKinds = map[Kind]bool{
	KindSend: true, KindDeliver: true, KindDrop: true, KindDuplicate: true, KindTimerSet: true,
	KindTimer: true, KindCrash: true, KindRestart: true, KindFault: true, KindEvent: true, KindEnd: true,
}

// Write encodes a trace as JSON Lines: a header line
//
//	{"format":"stateflush-trace","version":2,"description":{...}}
//
// then one Record per line. h.Version must be 0 (meaning the current Version) or Version, and
// h.Description empty or valid JSON (it is written compacted onto the header line). Records must
// satisfy the invariants Read checks (known kind, Seq strictly increasing from at least 1, time
// non-negative and non-decreasing), so whatever Write accepts, Read returns unchanged.
func Write(w io.Writer, h Header, records []Record) error {
	if h.Version != 0 && h.Version != Version {
		return fmt.Errorf("trace: Header.Version = %d: %w (this build writes version %d)", h.Version, ErrVersion, Version)
	}
	if len(h.Description) > 0 && !json.Valid(h.Description) {
		return fmt.Errorf("trace: Header.Description = %.80q: %w: not valid JSON", h.Description, ErrMalformed)
	}
	var prev *Record
	for i := range records {
		if err := checkRecord(&records[i], prev); err != nil {
			return fmt.Errorf("trace: records[%d]: %w: %s", i, ErrMalformed, err)
		}
		prev = &records[i]
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(headerLine{Format: Format, Version: Version, Description: h.Description}); err != nil {
		return fmt.Errorf("trace: writing header: %w", err)
	}
	for i := range records {
		if err := enc.Encode(&records[i]); err != nil {
			return fmt.Errorf("trace: writing records[%d]: %w", i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("trace: writing: %w", err)
	}
	return nil
}

// Read decodes a trace written by Write. It rejects, with a *LineError naming the line: input without
// a header; a header of another format or version; a line that is not one JSON object of the
// expected fields (unknown fields included); an unknown record kind; Seq not strictly increasing from
// at least 1; a negative or decreasing time; and a last line cut off in the middle. It never panics.
func Read(r io.Reader) (Header, []Record, error) {
	br := bufio.NewReader(r)
	var h Header
	var records []Record
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return Header{}, nil, &LineError{Line: lineNo, Err: ErrTruncated, Detail: "reading: " + err.Error()}
		}
		atEOF := err == io.EOF
		if atEOF && len(line) == 0 {
			if lineNo == 1 {
				return Header{}, nil, &LineError{Line: 1, Err: ErrTruncated, Detail: "empty input: no header line"}
			}
			return h, records, nil
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		if lineNo == 1 {
			if h, err = decodeHeader(line, atEOF); err != nil {
				return Header{}, nil, err
			}
		} else {
			var rec Record
			if err := decodeLine(line, atEOF, lineNo, &rec); err != nil {
				return Header{}, nil, err
			}
			var prev *Record
			if len(records) > 0 {
				prev = &records[len(records)-1]
			}
			if err := checkRecord(&rec, prev); err != nil {
				return Header{}, nil, &LineError{Line: lineNo, Err: ErrMalformed, Detail: err.Error()}
			}
			if len(rec.Attrs) == 0 {
				rec.Attrs = nil // "attrs":[] and a missing field mean the same
			}
			records = append(records, rec)
		}
		if atEOF {
			return h, records, nil
		}
	}
}

func decodeHeader(line []byte, atEOF bool) (Header, error) {
	var hl headerLine
	if err := decodeLine(line, atEOF, 1, &hl); err != nil {
		return Header{}, err
	}
	if hl.Format != Format {
		return Header{}, &LineError{Line: 1, Err: ErrVersion, Detail: fmt.Sprintf("format = %.40q, want %q", hl.Format, Format)}
	}
	if hl.Version != Version {
		return Header{}, &LineError{Line: 1, Err: ErrVersion, Detail: fmt.Sprintf("version = %d, this build reads version %d", hl.Version, Version)}
	}
	return Header{Version: hl.Version, Description: hl.Description}, nil
}

// decodeLine decodes exactly one JSON object with only known fields from line into v. A line cut off
// at the end of the input is reported as truncated, any other failure as malformed.
func decodeLine(line []byte, atEOF bool, lineNo int, v any) error {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 {
		return &LineError{Line: lineNo, Err: ErrMalformed, Detail: "empty line"}
	}
	if trimmed[0] != '{' {
		return &LineError{Line: lineNo, Err: ErrMalformed, Detail: fmt.Sprintf("line starts with %q, want a JSON object", trimmed[0])}
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if atEOF && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) {
			return &LineError{Line: lineNo, Err: ErrTruncated, Detail: "input ends inside this line"}
		}
		return &LineError{Line: lineNo, Err: ErrMalformed, Detail: err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &LineError{Line: lineNo, Err: ErrMalformed, Detail: "data after the JSON object"}
	}
	return nil
}

// checkRecord checks the invariants every simulator trace satisfies, given the previous record (nil
// for the first).
func checkRecord(r, prev *Record) error {
	if !knownKinds[r.Kind] {
		return fmt.Errorf("kind = %.40q: unknown record kind", r.Kind)
	}
	if r.Seq == 0 {
		return errors.New("seq = 0: sequence numbers start at 1")
	}
	if r.TimeUS < 0 {
		return fmt.Errorf("t = %d: negative time", r.TimeUS)
	}
	if prev != nil {
		if r.Seq <= prev.Seq {
			return fmt.Errorf("seq = %d after seq %d: not increasing", r.Seq, prev.Seq)
		}
		if r.TimeUS < prev.TimeUS {
			return fmt.Errorf("t = %d after t = %d: time goes backwards", r.TimeUS, prev.TimeUS)
		}
	}
	return nil
}
