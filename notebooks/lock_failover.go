package notebooks

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/stateflush/stateflush/harness"
	"github.com/stateflush/stateflush/protocol/dlock"
	"github.com/stateflush/stateflush/sim/chaos"
)

// Experiment 12: the seed's hypothesis where it was made, lock grantor fail-over. For each victim
// choice (age-weighted, uniform, role-aware) this experiment runs lock-grantor-failover with every
// nemesis on (no swarm draw, so the monkey acts in every seed) and measures how often the monkey's
// kills hit the grantor and the elder, and, for each lock mutant, the fraction of seeds that catch
// it, with 95% Wilson intervals, and the seeds, simulated steps and CPU seconds to its first
// detection.

// lockSeeds is the budget per choice and per mutant: seeds 1..lockSeeds.
const lockSeeds = 1000

func runLockFailover(outDir string) error { return lockFailover(outDir, lockSeeds) }

func lockScenario(v chaos.Victims) (harness.Scenario, error) {
	scn, err := harness.LookupScenario("lock-grantor-failover")
	if err != nil {
		return scn, err
	}
	scn.Swarm = false
	monkey := *scn.Nemeses.Monkey
	monkey.Victims = v
	scn.Nemeses.Monkey = &monkey
	return scn, scn.Validate()
}

// lockKills is what the monkey did over the correct protocol's seeds under one choice.
type lockKills struct {
	kills, grantor, elder, noRole, passes int
	seconds                               float64 // CPU seconds of the seeds (one worker per core)
}

// lockDetection is one mutant's record under one choice.
type lockDetection struct {
	mutant     string
	detections int
	first      int     // seeds up to and including the first detection (0: none)
	steps      int64   // simulated steps of those seeds
	seconds    float64 // CPU seconds of those seeds
}

// runLockSeeds runs seeds 1..seeds of scn and hands each outcome, in seed order, to emit with the
// CPU time it took.
func runLockSeeds(scn harness.Scenario, seeds int, emit func(o *harness.Outcome, seconds float64)) error {
	type seedRun struct {
		o       *harness.Outcome
		seconds float64
		err     error
	}
	var runErr error
	harness.ParallelSeeds(harness.AllSeeds.Seeds(1, seeds), runtime.GOMAXPROCS(0),
		func(seed uint64) seedRun {
			start := time.Now()
			o, err := harness.Run(scn, seed, harness.Options{})
			return seedRun{o, time.Since(start).Seconds(), err}
		},
		func(r seedRun) {
			if r.err != nil {
				runErr = r.err
				return
			}
			emit(r.o, r.seconds)
		}, func() bool { return runErr != nil })
	return runErr
}

func countLockKills(scn harness.Scenario, seeds int) (lockKills, error) {
	var k lockKills
	err := runLockSeeds(scn, seeds, func(o *harness.Outcome, seconds float64) {
		k.seconds += seconds
		if o.Final == harness.VerdictPass {
			k.passes++
		}
		for _, kill := range o.Kills {
			k.kills++
			if slices.Contains(kill.Roles, "grantor") {
				k.grantor++
			}
			if slices.Contains(kill.Roles, "coordinator") {
				k.elder++
			}
			if len(kill.Roles) == 0 {
				k.noRole++
			}
		}
	})
	return k, err
}

func detectLockMutant(scn harness.Scenario, m dlock.Mutant, budget int) (lockDetection, error) {
	scn.KV.Locks.Mutants = dlock.NewMutants(m)
	d := lockDetection{mutant: m.String()}
	seeds := 0
	err := runLockSeeds(scn, budget, func(o *harness.Outcome, seconds float64) {
		seeds++
		if d.first == 0 {
			d.steps += o.Result.Steps
			d.seconds += seconds
		}
		// The correct protocol passes every seed (runLockFailover checks it), so a failing seed
		// is the mutant's doing.
		if o.Final.Found() {
			d.detections++
			if d.first == 0 {
				d.first = seeds
			}
		}
	})
	return d, err
}

// lockFailover runs the experiment over seeds 1..seeds per choice and per mutant.
func lockFailover(outDir string, seeds int) error {
	var killRows, detectionRows [][]string
	kills := map[chaos.Victims]lockKills{}
	detections := map[chaos.Victims][]lockDetection{}
	for _, v := range chaos.VictimChoices() {
		scn, err := lockScenario(v)
		if err != nil {
			return err
		}
		k, err := countLockKills(scn, seeds)
		if err != nil {
			return err
		}
		if k.passes != seeds {
			return fmt.Errorf("victims %s: the correct lock service passed %d of %d seeds (replay the others with: stateflush sweep --scenario lock-grantor-failover --swarm=false --victims %s --seeds %d)",
				v, k.passes, seeds, v, seeds)
		}
		kills[v] = k
		killRows = append(killRows, []string{string(v), fmt.Sprint(seeds), fmt.Sprint(k.kills), fmt.Sprint(k.grantor),
			fmt.Sprint(k.elder), fmt.Sprint(k.noRole), formatFloat(k.seconds / float64(seeds))})
		for _, m := range dlock.AllMutants() {
			d, err := detectLockMutant(scn, m, seeds)
			if err != nil {
				return err
			}
			detections[v] = append(detections[v], d)
			low, high := wilson(d.detections, seeds)
			first, steps, seconds := "", "", ""
			if d.first > 0 {
				first, steps, seconds = fmt.Sprint(d.first), fmt.Sprint(d.steps), formatFloat(d.seconds)
			}
			detectionRows = append(detectionRows, []string{string(v), d.mutant, fmt.Sprint(seeds), fmt.Sprint(d.detections),
				formatFloat(float64(d.detections) / float64(seeds)), formatFloat(low), formatFloat(high), first, steps, seconds})
		}
	}
	top, err := lockKillPanel(kills, seeds)
	if err != nil {
		return err
	}
	bottom, err := lockDetectionPanel(detections, seeds)
	if err != nil {
		return err
	}
	if err := saveFigure(outDir, "lock-failover", figureWidth, 22*vg.Centimeter, stackedPanels(top, bottom)); err != nil {
		return err
	}
	if err := writeCSV(outDir, "lock-failover-kills", lockKillsHeader, killRows); err != nil {
		return err
	}
	return writeCSV(outDir, "lock-failover", lockDetectionHeader, detectionRows)
}

var (
	lockKillsHeader     = []string{"victims", "seeds", "kills", "grantor_kills", "elder_kills", "no_role_kills", "cpu_seconds_per_seed"}
	lockDetectionHeader = []string{"victims", "mutant", "seeds", "detections", "detection_rate", "wilson_low", "wilson_high",
		"seeds_to_first_detection", "steps_to_first_detection", "cpu_seconds_to_first_detection"}
)

// lockKillPanel shows, per choice, the share of the monkey's kills that hit the grantor and the
// elder, with Wilson intervals.
func lockKillPanel(kills map[chaos.Victims]lockKills, seeds int) (*plot.Plot, error) {
	share := func(count func(lockKills) int) func(chaos.Victims) (int, int) {
		return func(v chaos.Victims) (int, int) { return count(kills[v]), kills[v].kills }
	}
	return killSharePanel(fmt.Sprintf("Whom the monkey kills (lock-grantor-failover, every nemesis on, seeds 1–%d)", seeds), 0.5, []choiceShare{
		{"the grantor", share(func(k lockKills) int { return k.grantor })},
		{"the elder (oldest member)", share(func(k lockKills) int { return k.elder })},
		{"a member with no role", share(func(k lockKills) int { return k.noRole })},
	})
}

// lockDetectionPanel shows each lock mutant's detection rate under each choice.
func lockDetectionPanel(detections map[chaos.Victims][]lockDetection, seeds int) (*plot.Plot, error) {
	var mutants []string
	for _, m := range dlock.AllMutants() {
		mutants = append(mutants, m.String())
	}
	return detectionByChoicePanel(fmt.Sprintf("Lock mutants caught, by victim choice (%d seeds per point, 95%% Wilson)", seeds), mutants,
		func(v chaos.Victims, i int) (int, int) { return detections[v][i].detections, seeds })
}

// lockFailoverSummary is the paragraph of 12's README that quotes its CSVs: how often each choice
// kills the grantor and the elder, and, per mutant, the choices' rates and where they separate.
func lockFailoverSummary(killsCSV, detectionCSV string) (string, error) {
	killTable, err := readCSVTable("lock-failover-kills.csv", killsCSV, lockKillsHeader...)
	if err != nil {
		return "", err
	}
	detTable, err := readCSVTable("lock-failover.csv", detectionCSV, lockDetectionHeader...)
	if err != nil {
		return "", err
	}
	type share struct{ kills, grantor, elder int }
	byChoice := map[string]share{}
	var choices, lines []string
	for _, row := range killTable.rows {
		v, _ := killTable.text(row, "victims")
		var n [3]float64
		for i, name := range []string{"kills", "grantor_kills", "elder_kills"} {
			if n[i], err = killTable.number(row, name); err != nil {
				return "", err
			}
		}
		if n[0] == 0 {
			return "", fmt.Errorf("lock-failover-kills.csv: no kills under %s", v)
		}
		byChoice[v] = share{int(n[0]), int(n[1]), int(n[2])}
		choices = append(choices, v)
		lines = append(lines, fmt.Sprintf("%s: the grantor %.0f%%, the elder %.0f%% of %.0f kills", v, 100*n[1]/n[0], 100*n[2]/n[0], n[0]))
	}
	if len(choices) < 2 {
		return "", fmt.Errorf("lock-failover-kills.csv: %d victim choices, need at least 2", len(choices))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Whom the monkey kills: %s.\n", strings.Join(lines, "; "))
	ageKillsGrantorMore := false
	if age, ok := byChoice[string(chaos.VictimsByAge)]; ok {
		if uniform, ok := byChoice[string(chaos.VictimsUniform)]; ok {
			var sentence string
			sentence, ageKillsGrantorMore = ageAgainstUniform("the grantor", age.grantor, age.kills, uniform.grantor, uniform.kills)
			b.WriteString(sentence)
		}
	}
	type record struct {
		rate, low, high float64
		first           string
	}
	byMutant := map[string]map[string]record{}
	var mutants []string
	for _, row := range detTable.rows {
		v, _ := detTable.text(row, "victims")
		m, _ := detTable.text(row, "mutant")
		var x [3]float64
		for i, name := range []string{"detection_rate", "wilson_low", "wilson_high"} {
			if x[i], err = detTable.number(row, name); err != nil {
				return "", err
			}
		}
		first, _ := detTable.text(row, "seeds_to_first_detection")
		if byMutant[m] == nil {
			byMutant[m] = map[string]record{}
			mutants = append(mutants, m)
		}
		byMutant[m][v] = record{x[0], x[1], x[2], first}
	}
	if len(mutants) == 0 {
		return "", fmt.Errorf("lock-failover.csv has no mutants")
	}
	var escaped, apart, ageBeatsUniform []string
	for _, m := range mutants {
		var rates []string
		caught := false
		for _, v := range choices {
			r := byMutant[m][v]
			first := "never"
			if r.first != "" {
				first, caught = "first at seed "+r.first, true
			}
			rates = append(rates, fmt.Sprintf("%s %.3f (%s)", v, r.rate, first))
		}
		fmt.Fprintf(&b, "- `%s`: %s.\n", m, strings.Join(rates, ", "))
		if !caught {
			escaped = append(escaped, m)
		}
		var pairs []string
		for i, a := range choices {
			for _, c := range choices[i+1:] {
				x, y := byMutant[m][a], byMutant[m][c]
				if separate(x.low, x.high, y.low, y.high) {
					pairs = append(pairs, fmt.Sprintf("%s %.3f vs %s %.3f", a, x.rate, c, y.rate))
				}
			}
		}
		if len(pairs) > 0 {
			apart = append(apart, fmt.Sprintf("`%s` (%s)", m, strings.Join(pairs, ", ")))
		}
		age, uniform := byMutant[m][string(chaos.VictimsByAge)], byMutant[m][string(chaos.VictimsUniform)]
		if age.low > uniform.high {
			ageBeatsUniform = append(ageBeatsUniform, "`"+m+"`")
		}
	}
	if len(escaped) > 0 {
		fmt.Fprintf(&b, "Escaped every choice's %s seeds: %s.\n", killTable.rows[0][killTable.col["seeds"]], strings.Join(escaped, ", "))
	} else {
		fmt.Fprintf(&b, "Every lock mutant is caught within %s seeds by at least one choice.\n", killTable.rows[0][killTable.col["seeds"]])
	}
	if len(apart) == 0 {
		b.WriteString("On no mutant do two choices' 95% intervals separate.\n")
	} else {
		fmt.Fprintf(&b, "Where two choices' 95%% intervals separate: %s.\n", strings.Join(apart, ", "))
	}
	killsText := "weighting by age does not hit the grantor more often than a uniform monkey"
	if ageKillsGrantorMore {
		killsText = "weighting by age does hit the grantor more often than a uniform monkey"
	}
	catchText := "it catches no lock mutant more often than a uniform monkey does"
	if len(ageBeatsUniform) > 0 {
		catchText = "it catches " + strings.Join(ageBeatsUniform, ", ") + " more often than a uniform monkey does (the others as often)"
	}
	fmt.Fprintf(&b, "On the seed's hypothesis: %s, and %s.\n", killsText, catchText)
	return b.String(), nil
}
