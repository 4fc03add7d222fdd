package harness

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// SweepID says which sweep a line belongs to, so that a file describes itself: lines of two
// different runs (another flag, another build, another split into shards) cannot be merged or
// resumed as one sweep by mistake.
type SweepID struct {
	// Spec is SpecDigest of the run: every parameter that shapes a seed's outcome.
	Spec string `json:"spec"`
	// Version is the build that ran the seed (a different build may give different results).
	Version string `json:"version"`
	// FirstSeed and Seeds are the whole sweep's seed range, which Shard splits.
	FirstSeed uint64 `json:"first_seed"`
	Seeds     int    `json:"seeds"`
	Shard     Shard  `json:"shard"`
}

// SweepLine is one line of a sweep's output: a seed's result and the sweep it belongs to.
type SweepLine struct {
	SeedResult
	SweepID
}

// SpecDigest is the digest of everything that shapes the outcome of a seed: the scenario with every
// flag applied (its JSON form, which names every parameter) and the linearizability check's budget
// (a check that runs out is unknown). The worker count is not in it: it changes no result.
func SpecDigest(scn Scenario, checkBudget time.Duration) (string, error) {
	b, err := json.Marshal(struct {
		Scenario      Scenario `json:"scenario"`
		CheckBudgetNS int64    `json:"check_budget_ns"`
	}{scn, checkBudget.Nanoseconds()})
	if err != nil {
		return "", fmt.Errorf("digest of scenario %s: %w", scn.Name, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:specDigestBytes]), nil
}

// specDigestBytes is the length of SpecDigest: 128 bits tell apart any two specifications a user
// runs.
const specDigestBytes = 16

// MarshalText writes a shard as "i/n".
func (s Shard) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "i/n" (see ParseShard).
func (s *Shard) UnmarshalText(b []byte) error {
	p, err := ParseShard(string(b))
	if err != nil {
		return err
	}
	*s = p
	return nil
}

// Holds reports whether seed is one of this shard's seeds of the range first, ..., first+count-1.
func (s Shard) Holds(first uint64, count int, seed uint64) bool {
	if seed < first || seed-first >= uint64(count) {
		return false
	}
	return int((seed-first)%uint64(s.Count)) == s.Index
}

// known verdicts, the only ones a result line may carry.
var knownVerdicts = []Verdict{VerdictPass, VerdictViolation, VerdictUnknown, VerdictDataLoss, VerdictCrash}

// validate rejects a result no run writes: an unknown verdict or a hash that is not 16 hex digits.
func (r SeedResult) validate() error {
	if r.Scenario == "" {
		return errors.New("no scenario")
	}
	if !slices.Contains(knownVerdicts, r.Verdict) {
		return fmt.Errorf("unknown verdict %q (known: %s)", r.Verdict, verdictNames())
	}
	if !isHex(r.Hash, 16) {
		return fmt.Errorf("malformed hash %q (want 16 lower-case hex digits)", r.Hash)
	}
	return nil
}

// validate rejects an identity no sweep writes, and a seed that is not in the line's own shard.
func (l SweepLine) validate() error {
	if err := l.SeedResult.validate(); err != nil {
		return err
	}
	id := l.SweepID
	switch {
	case !isHex(id.Spec, 2*specDigestBytes):
		return fmt.Errorf("malformed spec digest %q (want %d hex digits)", id.Spec, 2*specDigestBytes)
	case id.Version == "":
		return errors.New("no version")
	case id.Seeds < 1:
		return fmt.Errorf("seeds %d: a sweep has at least one seed", id.Seeds)
	case id.Shard.Count < 1:
		return errors.New("no shard")
	case id.FirstSeed+uint64(id.Seeds-1) < id.FirstSeed:
		return fmt.Errorf("first_seed %d with seeds %d passes the largest seed", id.FirstSeed, id.Seeds)
	case !id.Shard.Holds(id.FirstSeed, id.Seeds, l.Seed):
		return fmt.Errorf("seed %d is not in shard %s of seeds %s", l.Seed, id.Shard, id.Range())
	}
	return nil
}

// Range is the sweep's seed range as people write it: "1..100".
func (id SweepID) Range() string {
	return fmt.Sprintf("%d..%d", id.FirstSeed, id.FirstSeed+uint64(id.Seeds-1))
}

// Differs names the first field in which two identities differ, with both values, or returns "".
// sameSplit false ignores the shard index (shards of one sweep differ only there).
func (id SweepID) Differs(other SweepID, sameShard bool) string {
	switch {
	case id.Spec != other.Spec:
		return fmt.Sprintf("spec digest %s vs %s (a scenario flag or the budget differs)", id.Spec, other.Spec)
	case id.Version != other.Version:
		return fmt.Sprintf("version %q vs %q", id.Version, other.Version)
	case id.FirstSeed != other.FirstSeed || id.Seeds != other.Seeds:
		return fmt.Sprintf("seed range %s vs %s", id.Range(), other.Range())
	case id.Shard.Count != other.Shard.Count:
		return fmt.Sprintf("shard %s vs %s (another split)", id.Shard, other.Shard)
	case sameShard && id.Shard != other.Shard:
		return fmt.Sprintf("shard %s vs %s", id.Shard, other.Shard)
	}
	return ""
}

func verdictNames() string {
	var names []string
	for _, v := range knownVerdicts {
		names = append(names, string(v))
	}
	return strings.Join(names, ", ")
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// WriteSweepLine writes one JSON line.
func WriteSweepLine(w io.Writer, l SweepLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// ErrEmptySweep is returned when a sweep file holds no results.
var ErrEmptySweep = errors.New("no results")

// maxLineBytes bounds one line of a results file (a result's detail is one message), so that a
// file that is not one cannot make a reader hold it whole in memory.
const maxLineBytes = 16 * 1024 * 1024

// ReadSeedResults reads JSON lines of seed results (`run --json`, or the results of sweep lines
// without their identity). Errors name the line.
func ReadSeedResults(r io.Reader, name string) ([]SeedResult, error) {
	var out []SeedResult
	err := scanLines(r, name, func(lineNo int, text []byte, _ bool) error {
		var res SeedResult
		if err := decodeLine(text, &res, false); err != nil {
			return fmt.Errorf("%s:%d: not a seed result line: %v", name, lineNo, err)
		}
		if err := res.validate(); err != nil {
			return fmt.Errorf("%s:%d: %v", name, lineNo, err)
		}
		out = append(out, res)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrEmptySweep)
	}
	return out, nil
}

// SweepFile is what a sweep output file holds.
type SweepFile struct {
	Name  string
	Lines []SweepLine
	// DroppedTail is the unterminated last line a tolerant read dropped (a sweep killed while it
	// wrote it), or "".
	DroppedTail string
}

// ReadSweep reads a sweep's output (or one shard's): every line a valid result of the same sweep
// and shard, no seed twice. An empty file is no error (a shard that holds no seed of the range
// writes nothing). Errors name the line.
func ReadSweep(r io.Reader, name string) (SweepFile, error) { return readSweep(r, name, false) }

// ReadPartialSweep is ReadSweep for a file a sweep may have left when it was killed outright: an
// unterminated last line that does not parse is dropped (and reported in DroppedTail) rather than
// an error. Sweeps write whole lines and end every one with a newline, so only such a tail can be
// cut.
func ReadPartialSweep(r io.Reader, name string) (SweepFile, error) { return readSweep(r, name, true) }

func readSweep(r io.Reader, name string, tolerateTail bool) (SweepFile, error) {
	f := SweepFile{Name: name}
	seen := map[uint64]int{}
	err := scanLines(r, name, func(lineNo int, text []byte, terminated bool) error {
		var l SweepLine
		if err := decodeLine(text, &l, true); err != nil {
			if tolerateTail && !terminated {
				f.DroppedTail = string(text)
				return nil
			}
			return fmt.Errorf("%s:%d: not a sweep result line: %v", name, lineNo, err)
		}
		if err := l.validate(); err != nil {
			return fmt.Errorf("%s:%d: %v", name, lineNo, err)
		}
		if len(f.Lines) > 0 {
			if d := f.Lines[0].SweepID.Differs(l.SweepID, true); d != "" {
				return fmt.Errorf("%s:%d: the line belongs to another sweep than the file's first line: %s", name, lineNo, d)
			}
		}
		if earlier, dup := seen[l.Seed]; dup {
			return fmt.Errorf("%s:%d: seed %d already on line %d", name, lineNo, l.Seed, earlier)
		}
		seen[l.Seed] = lineNo
		f.Lines = append(f.Lines, l)
		return nil
	})
	return f, err
}

// decodeLine decodes one JSON object, refusing unknown fields and, with allFields, missing ones (a
// sweep line lacking its identity is of an older format or not a sweep line).
func decodeLine(text []byte, v any, allFields bool) error {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value on the line")
	}
	if allFields {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(text, &fields); err != nil {
			return err
		}
		for _, f := range []string{"seed", "scenario", "verdict", "hash", "spec", "version", "first_seed", "seeds", "shard"} {
			if _, ok := fields[f]; !ok {
				return fmt.Errorf("no %q field", f)
			}
		}
	}
	return nil
}

// scanLines calls line for every non-blank line with its number and whether a newline ended it.
func scanLines(r io.Reader, name string, line func(lineNo int, text []byte, terminated bool) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLineBytes)
	unterminated := false
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		advance, token, err := bufio.ScanLines(data, atEOF)
		if atEOF && token != nil && advance == len(data) && !bytes.HasSuffix(data, []byte("\n")) {
			unterminated = true
		}
		return advance, token, err
	})
	n := 0
	for sc.Scan() {
		n++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if err := line(n, text, !unterminated); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: line %d: %v", name, n+1, err)
	}
	return nil
}

// SeedRange is a run of consecutive seeds, First..Last.
type SeedRange struct{ First, Last uint64 }

func (r SeedRange) String() string {
	if r.First == r.Last {
		return fmt.Sprint(r.First)
	}
	return fmt.Sprintf("%d..%d", r.First, r.Last)
}

// Merged is the whole sweep MergeSweeps rebuilds from shards.
type Merged struct {
	// Lines are ordered by seed, and carry the whole sweep's identity (shard 0/1), so that a
	// complete merge writes the same lines as the sweep run in one piece.
	Lines []SweepLine
	ID    SweepID
	// Missing are the seeds of the range that no input holds.
	Missing []SeedRange
}

// MissingSeeds counts the seeds in Missing.
func (m Merged) MissingSeeds() uint64 {
	var n uint64
	for _, r := range m.Missing {
		n += r.Last - r.First + 1
	}
	return n
}

// MergeSweeps combines shard outputs into the sweep they are parts of. Inputs of different sweeps
// (another specification, version, seed range or split into shards) are an error, as is the same
// seed in two inputs (overlapping shards, a file given twice); empty inputs (shards that hold no
// seed) add nothing. Seeds no input holds are listed in Missing: the caller decides whether an
// incomplete sweep is acceptable.
func MergeSweeps(files ...SweepFile) (Merged, error) {
	var m Merged
	var first *SweepFile
	total := 0
	for i := range files {
		f := &files[i]
		if len(f.Lines) == 0 {
			continue
		}
		total += len(f.Lines)
		if first == nil {
			first = f
			continue
		}
		if d := first.Lines[0].SweepID.Differs(f.Lines[0].SweepID, false); d != "" {
			return m, fmt.Errorf("%s and %s are not shards of one sweep: %s", first.Name, f.Name, d)
		}
	}
	if first == nil {
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
		}
		return m, fmt.Errorf("%w: %s: no input has a line, so nothing says which sweep they are parts of", ErrEmptySweep, strings.Join(names, ", "))
	}
	m.ID = first.Lines[0].SweepID
	m.ID.Shard = AllSeeds
	from := make([]string, 0, total)
	m.Lines = make([]SweepLine, 0, total)
	for _, f := range files {
		for _, l := range f.Lines {
			m.Lines = append(m.Lines, l)
			from = append(from, f.Name)
		}
	}
	order := make([]int, len(m.Lines))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		switch sa, sb := m.Lines[a].Seed, m.Lines[b].Seed; {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
	sorted := make([]SweepLine, len(m.Lines))
	for i, j := range order {
		sorted[i] = m.Lines[j]
		sorted[i].SweepID.Shard = AllSeeds
		if i > 0 && sorted[i].Seed == sorted[i-1].Seed {
			return Merged{}, fmt.Errorf("seed %d appears in %s and in %s: overlapping shards, or a file given twice?", sorted[i].Seed, from[order[i-1]], from[j])
		}
	}
	m.Lines = sorted
	next := m.ID.FirstSeed
	for _, l := range m.Lines {
		if l.Seed > next {
			m.Missing = append(m.Missing, SeedRange{next, l.Seed - 1})
		}
		next = l.Seed + 1
	}
	if last := m.ID.FirstSeed + uint64(m.ID.Seeds-1); next <= last && next != 0 {
		m.Missing = append(m.Missing, SeedRange{next, last})
	}
	return m, nil
}

// WriteSeedResult writes one seed's result as a JSON line (`run --json`; sweeps write SweepLine).
func WriteSeedResult(w io.Writer, r SeedResult) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
