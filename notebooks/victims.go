package notebooks

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol/kv"
	"github.com/stateflush/stateflush/sim/chaos"
)

// Experiment 11: the chaos monkey's victim choice. The seed's monkey gives "weight to older
// processes now and then", on the hypothesis that this shakes the system up more. For each victim
// choice (age-weighted, uniform, role-aware) this experiment runs the default scenario with every
// nemesis on (no swarm draw, so the monkey is in every seed) and measures whom the monkey kills
// (the share of its kills that hit the membership coordinator, the oldest member, and members that
// are primary of some bucket) and how often the checks catch each mutant whose home is this
// scenario, with 95% Wilson intervals, so that the choices can be told apart where they differ.

// victimSeeds is the budget per choice: seeds 1..60 for the correct protocol, and for each mutant.
const victimSeeds = 60

func victimScenario(v chaos.Victims) (harness.Scenario, error) {
	scn, err := harness.LookupScenario(harness.DefaultScenario)
	if err != nil {
		return scn, err
	}
	scn.Swarm = false
	monkey := *scn.Nemeses.Monkey
	monkey.Victims = v
	scn.Nemeses.Monkey = &monkey
	return scn, scn.Validate()
}

// victimMutants are the mutants whose home scenario is the default one.
func victimMutants() []string {
	var names []string
	for _, m := range kv.AllMutants() {
		if harness.HomeScenario(m) == harness.DefaultScenario {
			names = append(names, m.String())
		}
	}
	return names
}

// victimKills is what the monkey did over the correct protocol's seeds under one choice.
type victimKills struct {
	kills, coordinator, primary, noRole, passes int
	ageMS                                       float64 // mean age of the victims' incarnations
}

func countVictimKills(scn harness.Scenario) (victimKills, error) {
	var k victimKills
	var runErr error
	var ageSum float64
	type seedRun struct {
		o   *harness.Outcome
		err error
	}
	harness.ParallelSeeds(harness.AllSeeds.Seeds(1, victimSeeds), runtime.GOMAXPROCS(0),
		func(seed uint64) seedRun {
			o, err := harness.Run(scn, seed, harness.Options{})
			return seedRun{o, err}
		},
		func(r seedRun) {
			if r.err != nil {
				runErr = r.err
				return
			}
			if r.o.Final == harness.VerdictPass {
				k.passes++
			}
			for _, kill := range r.o.Kills {
				k.kills++
				ageSum += usToMS(kill.AgeUS)
				switch {
				case slices.Contains(kill.Roles, "coordinator"):
					k.coordinator++
				case slices.Contains(kill.Roles, "primary"):
					k.primary++
				}
				if len(kill.Roles) == 0 {
					k.noRole++
				}
			}
		}, func() bool { return runErr != nil })
	if runErr != nil {
		return k, runErr
	}
	if k.kills > 0 {
		k.ageMS = ageSum / float64(k.kills)
	}
	return k, nil
}

func runVictims(outDir string) error {
	mutants := victimMutants()
	var killRows, detectionRows [][]string
	kills := map[chaos.Victims]victimKills{}
	detections := map[chaos.Victims][]harness.MutantScore{}
	for _, v := range chaos.VictimChoices() {
		scn, err := victimScenario(v)
		if err != nil {
			return err
		}
		k, err := countVictimKills(scn)
		if err != nil {
			return err
		}
		if k.passes != victimSeeds {
			return fmt.Errorf("victims %s: the correct protocol passed %d of %d seeds (replay the others with: stateflush sweep --swarm=false --victims %s --seeds %d)",
				v, k.passes, victimSeeds, v, victimSeeds)
		}
		kills[v] = k
		killRows = append(killRows, []string{string(v), fmt.Sprint(victimSeeds), fmt.Sprint(k.kills), fmt.Sprint(k.coordinator),
			fmt.Sprint(k.primary), fmt.Sprint(k.noRole), formatFloat(k.ageMS)})
		scores, err := harness.ScoreMutants(harness.MutationConfig{Scenario: scn, Mutants: mutants, Seeds: victimSeeds, FirstSeed: 1,
			Full: true, Workers: runtime.GOMAXPROCS(0)})
		if err != nil {
			return err
		}
		detections[v] = scores
		for _, s := range scores {
			low, high := wilson(s.Detections, s.Seeds)
			first := ""
			if s.Caught {
				first = fmt.Sprint(s.SeedsToDetection)
			}
			detectionRows = append(detectionRows, []string{string(v), s.Mutant, fmt.Sprint(s.Seeds), fmt.Sprint(s.Detections),
				formatFloat(float64(s.Detections) / float64(s.Seeds)), formatFloat(low), formatFloat(high), first})
		}
	}
	top, err := victimKillPanel(kills)
	if err != nil {
		return err
	}
	bottom, err := victimDetectionPanel(mutants, detections)
	if err != nil {
		return err
	}
	if err := saveFigure(outDir, "victims", figureWidth, 22*vg.Centimeter, stackedPanels(top, bottom)); err != nil {
		return err
	}
	if err := writeCSV(outDir, "victims-kills", victimKillsHeader, killRows); err != nil {
		return err
	}
	return writeCSV(outDir, "victims", victimDetectionHeader, detectionRows)
}

var (
	victimKillsHeader     = []string{"victims", "seeds", "kills", "coordinator_kills", "primary_kills", "no_role_kills", "mean_victim_age_ms"}
	victimDetectionHeader = []string{"victims", "mutant", "seeds", "detections", "detection_rate", "wilson_low", "wilson_high", "seeds_to_first_detection"}
)

// wilson is the 95% Wilson score interval of a proportion of k successes in n trials.
func wilson(k, n int) (low, high float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p, nf := float64(k)/float64(n), float64(n)
	centre := (p + z*z/(2*nf)) / (1 + z*z/nf)
	half := z / (1 + z*z/nf) * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return max(0, centre-half), min(1, centre+half)
}

// ageAgainstUniform is the sentence that compares how often an age-weighted and a uniform monkey
// kill a role (hits of kills each, with 95% Wilson intervals), and whether the age-weighted one
// kills it more often (the intervals separate that way).
func ageAgainstUniform(role string, ageHits, ageKills, uniformHits, uniformKills int) (string, bool) {
	aLow, aHigh := wilson(ageHits, ageKills)
	uLow, uHigh := wilson(uniformHits, uniformKills)
	verdict := "about as often as"
	switch {
	case aLow > uHigh:
		verdict = "more often than"
	case aHigh < uLow:
		verdict = "less often than"
	}
	return fmt.Sprintf("Weighted by age, the monkey kills %s %s a uniform monkey does (95%% intervals %.0f–%.0f%% and %.0f–%.0f%%).\n",
		role, verdict, 100*aLow, 100*aHigh, 100*uLow, 100*uHigh), aLow > uHigh
}

// separate reports whether two 95% intervals do not overlap.
func separate(aLow, aHigh, bLow, bHigh float64) bool { return aHigh < bLow || bHigh < aLow }

// victimSpread places the choices' points side by side around each x position.
func victimSpread(choice int) float64 { return 0.22 * float64(choice-1) }

// victimKillPanel shows, per choice, the share of the monkey's kills that hit the coordinator and
// a primary (not the coordinator), with Wilson intervals.
func victimKillPanel(kills map[chaos.Victims]victimKills) (*plot.Plot, error) {
	share := func(count func(victimKills) int) func(chaos.Victims) (int, int) {
		return func(v chaos.Victims) (int, int) { return count(kills[v]), kills[v].kills }
	}
	return killSharePanel(fmt.Sprintf("Whom the monkey kills (default scenario, every nemesis on, seeds 1–%d)", victimSeeds), 1, []choiceShare{
		{"the coordinator (oldest member)", share(func(k victimKills) int { return k.coordinator })},
		{"a primary (not the coordinator)", share(func(k victimKills) int { return k.primary })},
		{"a member with no role", share(func(k victimKills) int { return k.noRole })},
	})
}

// victimDetectionPanel shows each mutant's detection rate under each choice, with Wilson intervals.
func victimDetectionPanel(mutants []string, detections map[chaos.Victims][]harness.MutantScore) (*plot.Plot, error) {
	return detectionByChoicePanel(fmt.Sprintf("Detection rate by victim choice (%d seeds per point, 95%% Wilson intervals)", victimSeeds), mutants,
		func(v chaos.Victims, i int) (int, int) { s := detections[v][i]; return s.Detections, s.Seeds })
}

// choiceShare is one series of a kill panel: a role, and per victim choice the monkey's kills that
// hit it and all its kills.
type choiceShare struct {
	name  string
	share func(chaos.Victims) (hits, kills int)
}

// killSharePanel shows, per victim choice, each series' share of the monkey's kills with its
// Wilson interval, on a y axis from 0 to yMax.
func killSharePanel(title string, yMax float64, series []choiceShare) (*plot.Plot, error) {
	p := newPlot(title, "victim choice", "share of the monkey's kills")
	var ticks []plot.Tick
	for i, v := range chaos.VictimChoices() {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: string(v)})
	}
	for r, role := range series {
		points := errorPoints{}
		for i, v := range chaos.VictimChoices() {
			hits, kills := role.share(v)
			share := float64(hits) / float64(max(kills, 1))
			low, high := wilson(hits, kills)
			points.XYs = append(points.XYs, plotter.XY{X: float64(i) + victimSpread(r), Y: share})
			points.Low, points.High = append(points.Low, share-low), append(points.High, high-share)
		}
		if err := addErrorSeries(p, role.name, points, r); err != nil {
			return nil, err
		}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.5, float64(len(ticks))-0.5
	p.Y.Min, p.Y.Max = 0, yMax
	p.Legend.Top = true
	return p, nil
}

// detectionByChoicePanel shows each mutant's detection rate under each victim choice (caught: the
// seeds that caught mutant i under a choice, of how many), with Wilson intervals.
func detectionByChoicePanel(title string, mutants []string, caught func(v chaos.Victims, i int) (k, n int)) (*plot.Plot, error) {
	p := newPlot(title, "", "fraction of seeds that caught it")
	var ticks []plot.Tick
	for i, m := range mutants {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: m})
	}
	for c, v := range chaos.VictimChoices() {
		points := errorPoints{}
		for i := range mutants {
			k, n := caught(v, i)
			rate := float64(k) / float64(n)
			low, high := wilson(k, n)
			points.XYs = append(points.XYs, plotter.XY{X: float64(i) + victimSpread(c), Y: rate})
			points.Low, points.High = append(points.Low, rate-low), append(points.High, high-rate)
		}
		if err := addErrorSeries(p, "victims "+string(v), points, c); err != nil {
			return nil, err
		}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Tick.Label.Rotation = math.Pi / 2
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = -1, -0.5
	p.X.Min, p.X.Max = -0.5, float64(len(ticks))-0.5
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top, p.Legend.Left = false, true // the lower left is empty: the first mutants are caught often
	return p, nil
}

// addErrorSeries draws points with their error bars in series style i and names them in the legend.
func addErrorSeries(p *plot.Plot, name string, points errorPoints, i int) error {
	sc, err := plotter.NewScatter(points.XYs)
	if err != nil {
		return err
	}
	sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = seriesColor(i), seriesGlyph(i), vg.Points(3)
	bars, err := plotter.NewYErrorBars(points)
	if err != nil {
		return err
	}
	bars.LineStyle.Color = seriesColor(i)
	p.Add(bars, sc)
	p.Legend.Add(name, sc)
	return nil
}

// victimsSummary is the paragraph of 11's README that quotes its CSVs: whom each choice kills, the
// mean detection rate, and the mutants on which two choices' intervals do not overlap.
func victimsSummary(killsCSV, detectionCSV string) (string, error) {
	killTable, err := readCSVTable("victims-kills.csv", killsCSV, victimKillsHeader...)
	if err != nil {
		return "", err
	}
	detTable, err := readCSVTable("victims.csv", detectionCSV, victimDetectionHeader...)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	var shares []string
	type coordinatorShare struct{ kills, coordinator int }
	byChoice := map[string]coordinatorShare{}
	for _, row := range killTable.rows {
		v, _ := killTable.text(row, "victims")
		var n [4]float64
		for i, name := range []string{"kills", "coordinator_kills", "primary_kills", "mean_victim_age_ms"} {
			if n[i], err = killTable.number(row, name); err != nil {
				return "", err
			}
		}
		if n[0] == 0 {
			return "", fmt.Errorf("victims-kills.csv: no kills under %s", v)
		}
		byChoice[v] = coordinatorShare{int(n[0]), int(n[1])}
		shares = append(shares, fmt.Sprintf("%s %.0f%% (%.0f of %.0f kills; primaries %.0f%%; victims %.0f ms old on average)",
			v, 100*n[1]/n[0], n[1], n[0], 100*n[2]/n[0], n[3]))
	}
	if len(shares) == 0 {
		return "", fmt.Errorf("victims-kills.csv: no rows")
	}
	fmt.Fprintf(&b, "The monkey's kills that hit the coordinator: %s.\n", strings.Join(shares, "; "))
	// The seed's hypothesis first: does weighting by age make the monkey kill the oldest member more?
	if age, okAge := byChoice[string(chaos.VictimsByAge)]; okAge {
		if uniform, ok := byChoice[string(chaos.VictimsUniform)]; ok {
			sentence, _ := ageAgainstUniform("the coordinator", age.coordinator, age.kills, uniform.coordinator, uniform.kills)
			b.WriteString(sentence)
		}
	}
	type interval struct{ rate, low, high float64 }
	byMutant := map[string]map[string]interval{}
	var mutants, choices []string
	sums := map[string]float64{}
	for _, row := range detTable.rows {
		v, _ := detTable.text(row, "victims")
		m, _ := detTable.text(row, "mutant")
		var x [3]float64
		for i, name := range []string{"detection_rate", "wilson_low", "wilson_high"} {
			if x[i], err = detTable.number(row, name); err != nil {
				return "", err
			}
		}
		if byMutant[m] == nil {
			byMutant[m] = map[string]interval{}
			mutants = append(mutants, m)
		}
		if !slices.Contains(choices, v) {
			choices = append(choices, v)
		}
		byMutant[m][v] = interval{x[0], x[1], x[2]}
		sums[v] += x[0]
	}
	if len(mutants) == 0 || len(choices) < 2 {
		return "", fmt.Errorf("victims.csv: %d mutants and %d victim choices, need mutants and at least 2 choices", len(mutants), len(choices))
	}
	var means []string
	for _, v := range choices {
		means = append(means, fmt.Sprintf("%s %.2f", v, sums[v]/float64(len(mutants))))
	}
	fmt.Fprintf(&b, "Mean detection rate over the %d mutants: %s.\n", len(mutants), strings.Join(means, ", "))
	var apart []string
	separated := 0 // mutants with at least one pair apart
	for _, m := range mutants {
		n := len(apart)
		for i, a := range choices {
			for _, c := range choices[i+1:] {
				x, y := byMutant[m][a], byMutant[m][c]
				if separate(x.low, x.high, y.low, y.high) {
					apart = append(apart, fmt.Sprintf("`%s` (%s %.2f, %s %.2f)", m, a, x.rate, c, y.rate))
				}
			}
		}
		if len(apart) > n {
			separated++
		}
	}
	if len(apart) == 0 {
		fmt.Fprintf(&b, "On no mutant do two choices' 95%% intervals separate: at %s seeds per mutant the victim choice makes no difference these checks can see.\n",
			killTable.rows[0][killTable.col["seeds"]])
	} else {
		fmt.Fprintf(&b, "Mutants on which two choices' 95%% intervals separate: %s; on the other %d they overlap.\n",
			strings.Join(apart, ", "), len(mutants)-separated)
	}
	return b.String(), nil
}
