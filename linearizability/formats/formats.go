// Package formats reads client histories from the files other tools write, so that `stateflush
// check` and linearizability.CheckHistory can be used on histories from elsewhere: stateflush's
// own JSON (linearizability.ReadHistoryLimited), Jepsen's EDN histories as Jepsen, knossos and
// porcupine record them, and the Jepsen log lines that porcupine's tests read. It detects the
// format from the start of a file, refuses files that are not regular or are beyond a size limit,
// and writes histories back as EDN (for other tools, and for round-trip tests).
//
// Every reader streams: its memory grows with the operations it keeps, not with the file, and
// every error names the line and byte offset where the input went wrong.
package formats

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stateflush/stateflush/linearizability"
)

// Format names a history file format.
type Format string

// The formats this package reads.
const (
	// JSON is stateflush's history file (linearizability.WriteHistory).
	JSON Format = "json"
	// EDN is a Jepsen history: one operation map per line (Jepsen's history.edn, porcupine's
	// test_data/kv), or one vector of them (knossos), see ReadJepsenEDN.
	EDN Format = "edn"
	// PorcupineLog is Jepsen's text log of operations as porcupine's tests read it
	// (test_data/jepsen/etcd_*.log): "INFO  jepsen.util - 3	:invoke	:cas	[1 4]", see
	// ReadPorcupineLog.
	PorcupineLog Format = "porcupine-log"
	// Auto detects the format from the first bytes (Detect).
	Auto Format = "auto"
)

// Formats lists the formats with one line on each, for help texts.
func Formats() []struct {
	Format  Format
	Summary string
} {
	return []struct {
		Format  Format
		Summary string
	}{
		{JSON, `stateflush's history JSON ({"format": "stateflush-history", "version": 1, "operations": [...]})`},
		{EDN, "Jepsen/knossos/porcupine EDN history ({:process 0, :type :invoke, :f :cas, :value [1 2]} per line, or one vector)"},
		{PorcupineLog, "Jepsen's operation log as porcupine's tests read it (INFO  jepsen.util - 0 :invoke :read nil)"},
	}
}

// ParseFormat returns the format of that name ("auto" included).
func ParseFormat(name string) (Format, error) {
	switch f := Format(name); f {
	case JSON, EDN, PorcupineLog, Auto:
		return f, nil
	}
	return "", fmt.Errorf("%w: no format %q (formats: auto, %s, %s, %s)", linearizability.ErrInvalidParameter, name, JSON, EDN, PorcupineLog)
}

// DefaultMaxBytes is the size limit of ReadFile unless the caller gives another.
const DefaultMaxBytes int64 = 1 << 30

// ErrUndetectable: Detect cannot tell the format from the start of the input.
var ErrUndetectable = errors.New("cannot tell the history format")

// detectBytes is how much of the input Detect looks at.
const detectBytes = 4096

// Detect tells the format from the first bytes of a file: a JSON object whose first field name
// is a string is stateflush's JSON; a map with keyword keys, a vector, a list, a comment or a
// tagged element is EDN; a first line with "jepsen.util - " is porcupine's log.
func Detect(start []byte) (Format, error) {
	text := bytes.TrimLeft(start, " \t\r\n")
	if len(text) == 0 {
		return "", fmt.Errorf("%w: the input is empty", ErrUndetectable)
	}
	firstLine, _, _ := bytes.Cut(text, []byte("\n"))
	switch {
	case bytes.Contains(firstLine, []byte("jepsen.util - ")):
		return PorcupineLog, nil
	case text[0] == '{':
		rest := bytes.TrimLeft(text[1:], " \t\r\n")
		if len(rest) == 0 || rest[0] == '"' || rest[0] == '}' {
			return JSON, nil
		}
		return EDN, nil
	case strings.IndexByte("[(;#", text[0]) >= 0:
		return EDN, nil
	}
	return "", fmt.Errorf("%w from its first line %q: give the format (json, edn or porcupine-log)", ErrUndetectable, shorten(string(firstLine)))
}

func shorten(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// Read reads a history in the given format (Auto: detected) from r, failing beyond maxBytes
// (<= 0: no limit). It returns the format it read.
func Read(r io.Reader, format Format, maxBytes int64) (linearizability.History, Format, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if format == Auto || format == "" {
		start, err := br.Peek(detectBytes)
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return nil, "", err
		}
		if format, err = Detect(start); err != nil {
			return nil, "", err
		}
	}
	var (
		h   linearizability.History
		err error
	)
	switch format {
	case JSON:
		h, err = linearizability.ReadHistoryLimited(br, maxBytes)
	case EDN:
		h, err = ReadJepsenEDN(br, maxBytes)
	case PorcupineLog:
		h, err = ReadPorcupineLog(br, maxBytes)
	default:
		_, err = ParseFormat(string(format))
	}
	if err != nil {
		return nil, format, err
	}
	return h, format, nil
}

// ErrNotRegular: the path names something other than a regular file (a device, a pipe, a
// directory), which could be endless.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge: the file is larger than the size limit.
var ErrTooLarge = errors.New("file exceeds the size limit")

// ReadFile reads a history file (see Read). It refuses what is not a regular file and files larger
// than maxBytes (<= 0: DefaultMaxBytes) before reading. Errors name the file.
func ReadFile(path string, format Format, maxBytes int64) (linearizability.History, Format, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, "", err
	}
	if !info.Mode().IsRegular() {
		return nil, "", fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, describeMode(info.Mode()))
	}
	if info.Size() > maxBytes {
		return nil, "", fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, info.Size(), maxBytes)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	h, format, err := Read(f, format, maxBytes)
	if err != nil {
		return nil, format, fmt.Errorf("%s: %w", path, err)
	}
	return h, format, nil
}

func describeMode(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "mode " + m.String()
}
