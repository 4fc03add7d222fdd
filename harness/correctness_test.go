package harness

import (
	"flag"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/internal/generated"
)

var updateCorrectness = flag.Bool("update-correctness", false,
	"sweep every built-in scenario (10,000 seeds of the default and of lock-grantor-failover, 1,000 of each other) and rewrite the correctness table in README.md")

const (
	correctnessBegin = "<!-- correctness-table:begin (generated: go test ./harness -run TestCorrectnessTable -update-correctness -timeout 60m) -->"
	correctnessEnd   = "<!-- correctness-table:end -->"
	// correctnessSample is how many seeds of each scenario the test without -update-correctness
	// runs again: each must be listed as failing exactly when it fails.
	correctnessSample = 25
	// correctnessListed bounds the failing seeds a row lists.
	correctnessListed = 20
)

// correctnessSeeds is the sweep size of a scenario in the table: the issues' targets.
func correctnessSeeds(scenario string) int {
	if scenario == DefaultScenario || scenario == "lock-grantor-failover" {
		return 10000
	}
	return 1000
}

// TestCorrectnessTable keeps README.md's table of the correct protocol over every built-in
// scenario equal to what the code does. With -update-correctness it sweeps every scenario in full
// (minutes on two cores) and rewrites the table; without, it checks that the table lists every
// scenario at its sweep size, and runs again every seed the table lists as failing (each must
// still fail) and the first correctnessSample seeds of each scenario (each that fails must be
// listed), so a change to the store that the table does not follow fails here.
func TestCorrectnessTable(t *testing.T) {
	readme := filepath.Join("..", "README.md")
	if *updateCorrectness {
		var b strings.Builder
		b.WriteString("| scenario | seeds | pass | violation | unknown | crash | data loss beyond redundancy (expected) | failing seeds |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|\n")
		for _, scn := range Scenarios() {
			var tally Tally
			var failing []uint64
			for _, r := range sweepResults(t, scn, AllSeeds.Seeds(1, correctnessSeeds(scn.Name)), runtime.GOMAXPROCS(0)) {
				tally.Add(r)
				if failedVerdict(r.Verdict) {
					failing = append(failing, r.Seed)
				}
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %s |\n", scn.Name, tally.Seeds, tally.Pass, tally.Violation,
				tally.Unknown, tally.Crash, tally.DataLoss, seedList(failing))
		}
		generated.Check(t, readme, correctnessBegin, correctnessEnd, b.String(), true, "")
		return
	}
	rows := correctnessRows(t, readme)
	for _, scn := range Scenarios() {
		row, ok := rows[scn.Name]
		if !ok {
			t.Errorf("README.md's correctness table has no row for scenario %s; run with -update-correctness", scn.Name)
			continue
		}
		if row.seeds != correctnessSeeds(scn.Name) {
			t.Errorf("README.md's correctness table sweeps %s over %d seeds, want %d; run with -update-correctness", scn.Name, row.seeds, correctnessSeeds(scn.Name))
		}
		seeds := AllSeeds.Seeds(1, correctnessSample)
		for _, s := range row.failing {
			if !slices.Contains(seeds, s) {
				seeds = append(seeds, s)
			}
		}
		for _, r := range sweepResults(t, scn, seeds, 2) {
			listed := slices.Contains(row.failing, r.Seed)
			if failedVerdict(r.Verdict) != listed && (listed || !row.truncated) {
				t.Errorf("scenario %s seed %d: verdict %s, but README.md's correctness table lists it as failing: %v; run with -update-correctness",
					scn.Name, r.Seed, r.Verdict, listed)
			}
		}
	}
}

// failedVerdict: what the table counts against the store (data loss beyond redundancy is what the
// beyond-redundancy scenario studies, and is counted apart).
func failedVerdict(v Verdict) bool {
	return v != VerdictPass && v != VerdictDataLoss
}

func sweepResults(t *testing.T, scn Scenario, seeds []uint64, workers int) []SeedResult {
	t.Helper()
	var results []SeedResult
	var failure error
	ParallelSeeds(seeds, workers, func(seed uint64) (r struct {
		res SeedResult
		err error
	}) {
		o, err := Run(scn, seed, Options{})
		if err != nil {
			r.err = fmt.Errorf("scenario %s seed %d: %w", scn.Name, seed, err)
			return r
		}
		r.res = o.SeedResult()
		return r
	}, func(r struct {
		res SeedResult
		err error
	}) {
		if r.err != nil {
			failure = r.err
			return
		}
		results = append(results, r.res)
	}, func() bool { return failure != nil })
	if failure != nil {
		t.Fatal(failure)
	}
	return results
}

// seedList lists up to correctnessListed seeds, then how many more.
func seedList(seeds []uint64) string {
	if len(seeds) == 0 {
		return "none"
	}
	var parts []string
	for i, s := range seeds {
		if i == correctnessListed {
			parts = append(parts, fmt.Sprintf("… (%d more)", len(seeds)-correctnessListed))
			break
		}
		parts = append(parts, strconv.FormatUint(s, 10))
	}
	return strings.Join(parts, ", ")
}

type correctnessRow struct {
	seeds     int
	failing   []uint64
	truncated bool // the row lists correctnessListed failing seeds and says how many more
}

var correctnessRowPattern = regexp.MustCompile(`^\| ([a-z-]+) \| (\d+) \| \d+ \| \d+ \| \d+ \| \d+ \| \d+ \| ([^|]*) \|$`)

// correctnessRows parses the committed table.
func correctnessRows(t *testing.T, readme string) map[string]correctnessRow {
	t.Helper()
	rows := map[string]correctnessRow{}
	for _, line := range strings.Split(generated.Section(t, readme, correctnessBegin, correctnessEnd), "\n") {
		m := correctnessRowPattern.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		seeds, _ := strconv.Atoi(m[2])
		row := correctnessRow{seeds: seeds}
		if cell := strings.TrimSpace(m[3]); cell != "none" {
			for _, f := range strings.Split(cell, ", ") {
				if strings.HasPrefix(f, "…") {
					row.truncated = true
					continue
				}
				s, err := strconv.ParseUint(f, 10, 64)
				if err != nil {
					t.Fatalf("README.md's correctness table, row %s: failing seed %q is not a number", m[1], f)
				}
				row.failing = append(row.failing, s)
			}
		}
		rows[m[1]] = row
	}
	return rows
}
