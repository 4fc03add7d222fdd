package notebooks

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol/kv"
)

// Experiment 3: for each mutant, how the fraction of seeds that catch it evolves as seeds are
// added, and after how many seeds it is first caught.

const (
	// detectionSeeds is the budget per mutant: seeds 1..60 of the default scenario, every one run
	// (Full), about 8 s on 2 cores.
	detectionSeeds     = 60
	detectionFirstSeed = 1
)

func runMutantDetection(outDir string) error {
	scn, err := harness.LookupScenario(harness.DefaultScenario)
	if err != nil {
		return err
	}
	// The twelve state flush mutants: this notebook studies the flush (the mutation table in the
	// README scores the other mechanisms' mutants too).
	var mutants []string
	for _, m := range kv.AllMutants() {
		if m.Mechanism() == kv.MechFlush {
			mutants = append(mutants, m.String())
		}
	}
	verdicts := map[string][]harness.Verdict{}
	scores, err := harness.ScoreMutants(harness.MutationConfig{
		Scenario: scn, Mutants: mutants, Seeds: detectionSeeds, FirstSeed: detectionFirstSeed, Full: true,
		Workers: runtime.GOMAXPROCS(0),
		// Called in seed order for each mutant, so verdicts[m][i] is seed FirstSeed+i.
		Progress: func(mutant string, _ uint64, v harness.Verdict) { verdicts[mutant] = append(verdicts[mutant], v) },
	})
	if err != nil {
		return err
	}
	if err := plotDetectionRate(outDir, scn.Name, mutants, verdicts); err != nil {
		return err
	}
	if err := plotDetectionMatrix(outDir, scn.Name, scores, verdicts); err != nil {
		return err
	}
	var rows [][]string
	for _, s := range scores {
		first := ""
		if s.Caught {
			first = fmt.Sprint(s.SeedsToDetection)
		}
		rows = append(rows, []string{s.Mutant, fmt.Sprint(s.Seeds), fmt.Sprint(s.Detections), formatFloat(float64(s.Detections) / float64(s.Seeds)),
			first, fmt.Sprint(s.Unknown), strings.Join(s.CaughtBy, " ")})
	}
	return writeCSV(outDir, "mutant-detection",
		[]string{"mutant", "seeds", "detections", "detection_rate", "seeds_to_first_detection", "unknown", "caught_by_on_first_detection"}, rows)
}

// markerStep is the spacing, in seeds, of a detection-rate series' markers.
const markerStep = 6

// plotDetectionRate draws, per mutant, the fraction of the first n seeds that caught it.
func plotDetectionRate(outDir, scenario string, mutants []string, verdicts map[string][]harness.Verdict) error {
	p := newPlot(fmt.Sprintf("Mutant detection rate as seeds are added (scenario %s)", scenario),
		"seeds run", "fraction of seeds that caught the mutant")
	var never []string
	var drawn []plotter.XYs // the series drawn so far, to name those that coincide
	var drawnNames []string
	for i, m := range mutants {
		var xys plotter.XYs
		caught := 0
		for n, v := range verdicts[m] {
			if v.Found() {
				caught++
			}
			xys = append(xys, plotter.XY{X: float64(n + 1), Y: float64(caught) / float64(n+1)})
		}
		if caught == 0 {
			never = append(never, m)
			continue
		}
		l, err := line(xys, seriesColor(i), seriesDash(i))
		if err != nil {
			return err
		}
		// A marker every markerStep seeds, at an offset of its own, so that series stay apart in
		// greyscale and series that coincide still show each one's markers.
		var marks plotter.XYs
		for n := i%markerStep + 1; n <= len(xys); n += markerStep {
			marks = append(marks, xys[n-1])
		}
		sc, err := plotter.NewScatter(marks)
		if err != nil {
			return err
		}
		sc.Color, sc.Radius, sc.Shape = seriesColor(i), vg.Points(3), seriesGlyph(i)
		p.Add(l, sc)
		label := m
		for j, other := range drawn {
			if slices.Equal(other, xys) {
				label += " (= " + drawnNames[j] + ")"
				break
			}
		}
		drawn, drawnNames = append(drawn, xys), append(drawnNames, m)
		p.Legend.Add(label, l, sc)
	}
	if len(never) > 0 {
		// Mutants never caught would all lie on y = 0; one grey line stands for them, named in the
		// legend.
		var zero plotter.XYs
		for n := 1; n <= detectionSeeds; n++ {
			zero = append(zero, plotter.XY{X: float64(n), Y: 0})
		}
		l, err := line(zero, colorGrey, nil)
		if err != nil {
			return err
		}
		p.Add(l)
		p.Legend.Add("not caught: "+strings.Join(never, ", "), l)
	}
	p.X.Min, p.X.Max = 1, detectionSeeds
	p.Y.Min = 0
	return saveFigure(outDir, "mutant-detection-rate", 19*vg.Centimeter, figureHeight, sideLegend(p, 6.5*vg.Centimeter))
}

// plotDetectionMatrix draws one row per mutant and one cell per seed, filled where the seed caught
// the mutant; the row label gives detections/seeds and the first catching seed.
func plotDetectionMatrix(outDir, scenario string, scores []harness.MutantScore, verdicts map[string][]harness.Verdict) error {
	// The colour key goes in the title: a legend inside the grid would hide cells.
	p := newPlot(fmt.Sprintf("Which seeds catch which mutant (scenario %s, seeds %d–%d)\nblack: first catch, orange: later catches, grey: check out of time, pale: passed",
		scenario, detectionFirstSeed, detectionFirstSeed+detectionSeeds-1), "seed", "")
	var names []string
	var cells cellGrid
	// Rows from the top in the reference order: the y value of row i is len-1-i.
	for i, s := range scores {
		y := float64(len(scores) - 1 - i)
		label := fmt.Sprintf("%s  %d/%d", s.Mutant, s.Detections, s.Seeds)
		if s.Caught {
			label += fmt.Sprintf(", first #%d", s.SeedsToDetection)
		}
		names = append(names, label)
		for n, v := range verdicts[s.Mutant] {
			seed := float64(detectionFirstSeed + n)
			switch v {
			case harness.VerdictViolation, harness.VerdictCrash:
				c := colorVermillion
				if n+1 == s.SeedsToDetection {
					c = colorBlack
				}
				cells = append(cells, cell{X: seed, Y: y, Color: c})
			case harness.VerdictUnknown:
				cells = append(cells, cell{X: seed, Y: y, Color: colorGrey})
			default:
				cells = append(cells, cell{X: seed, Y: y, Color: withAlpha(colorBlue, 0x28)})
			}
		}
	}
	// NominalY labels values 0..n-1 from the bottom.
	reversed := make([]string, len(names))
	for i, n := range names {
		reversed[len(names)-1-i] = n
	}
	p.Add(cells)
	p.NominalY(reversed...)
	p.Y.Tick.Label.Font.Size = tickFontSize
	p.X.Min, p.X.Max = float64(detectionFirstSeed)-0.5, float64(detectionFirstSeed+detectionSeeds)-0.5
	return saveFigure(outDir, "mutant-detection-matrix", figureWidth, 11*vg.Centimeter, p.Draw)
}

// detectionSummary is the sentence of 03's README that quotes its CSV (kept equal to it by
// TestReadmeNumbersMatchTheirCSV): when each mutant was first caught and the range of the rates.
func detectionSummary(csvText string) (string, error) {
	table, err := readCSVTable("mutant-detection.csv", csvText, "mutant", "seeds", "detections", "seeds_to_first_detection")
	if err != nil {
		return "", err
	}
	col := table.col
	type rate struct {
		mutant            string
		detections, seeds int
		first             string
	}
	var rates []rate
	for _, row := range table.rows {
		d, err1 := strconv.Atoi(row[col["detections"]])
		n, err2 := strconv.Atoi(row[col["seeds"]])
		if err := errors.Join(err1, err2); err != nil || n == 0 {
			return "", fmt.Errorf("mutant-detection.csv row %v: %v", row, err)
		}
		rates = append(rates, rate{row[col["mutant"]], d, n, row[col["seeds_to_first_detection"]]})
	}
	describe := func(pick func(r rate) bool) string {
		var names []string
		for _, r := range rates {
			if pick(r) {
				names = append(names, fmt.Sprintf("`%s` %d/%d", r.mutant, r.detections, r.seeds))
			}
		}
		return strings.Join(names, ", ")
	}
	lo, hi := rates[0], rates[0]
	var firstOnSeed1, never []string
	for _, r := range rates {
		if r.detections*lo.seeds < lo.detections*r.seeds {
			lo = r
		}
		if r.detections*hi.seeds > hi.detections*r.seeds {
			hi = r
		}
		switch r.first {
		case "1":
			firstOnSeed1 = append(firstOnSeed1, r.mutant)
		case "":
			never = append(never, r.mutant)
		}
	}
	same := func(a, b rate) bool { return a.detections*b.seeds == b.detections*a.seeds }
	s := fmt.Sprintf("In the committed run %d of the %d mutants are caught on seed 1", len(firstOnSeed1), len(rates))
	if len(never) > 0 {
		s += fmt.Sprintf(" and %s never", strings.Join(never, ", "))
	}
	s += fmt.Sprintf(".\nThe most often caught: %s; the least often: %s.\n",
		describe(func(r rate) bool { return same(r, hi) }), describe(func(r rate) bool { return same(r, lo) }))
	return s, nil
}
