package linearizability

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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

// ReadHistory decodes a history written by WriteHistory. It rejects unknown fields, other formats
// and versions, trailing data, and operations that fail History.Validate.
func ReadHistory(r io.Reader) (History, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	// Decode the header first, leniently, so that a file of another version gets a version error
	// rather than a complaint about a field this version does not know. Unmarshal also rejects
	// data after the object.
	var header struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(data, &header); err != nil {
		return nil, fmt.Errorf("%w: not a JSON history object: %v", ErrMalformedHistory, err)
	}
	if header.Format != HistoryFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrUnsupportedVersion, header.Format, HistoryFormat)
	}
	if header.Version != HistoryVersion {
		return nil, fmt.Errorf("%w: version %d, this reader knows version %d", ErrUnsupportedVersion, header.Version, HistoryVersion)
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	var file historyFile
	if err := decoder.Decode(&file); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedHistory, err)
	}
	h := History(file.Operations)
	for i := range h {
		// JSON drops an empty map; an empty snapshot is still a snapshot.
		if h[i].Kind == OpSnapshot && h[i].Status == StatusOK && h[i].Snapshot == nil {
			h[i].Snapshot = map[string]string{}
		}
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return h, nil
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
	h, err := ReadHistory(f)
	if err != nil {
		return nil, fmt.Errorf("history file %s: %w", path, err)
	}
	return h, nil
}
