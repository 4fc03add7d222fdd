package spec

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

//go:embed stateflush.pml chandy_lamport.pml dlock_recovery.pml
var models embed.FS

// ErrToolMissing reports that spin or gcc is not on PATH.
var ErrToolMissing = errors.New("model checker tool missing")

// Tools are the programs a check needs.
type Tools struct {
	Spin string // path of spin
	CC   string // path of the C compiler (gcc)
}

// FindTools looks spin and gcc up on PATH. The error wraps ErrToolMissing and says how to install.
func FindTools() (Tools, error) {
	spin, err := exec.LookPath("spin")
	if err != nil {
		return Tools{}, fmt.Errorf("%w: spin is not on PATH; install it with `apt-get install -y spin`", ErrToolMissing)
	}
	cc, err := exec.LookPath("gcc")
	if err != nil {
		return Tools{}, fmt.Errorf("%w: gcc is not on PATH; install it with `apt-get install -y gcc`", ErrToolMissing)
	}
	return Tools{Spin: spin, CC: cc}, nil
}

// Stats is what a verifier run reports.
type Stats struct {
	Errors        int
	StatesStored  int64
	StatesMatched int64
	Transitions   int64
	DepthReached  int
	StateVectorB  int     // bytes per state before compression
	MemoryMB      float64 // "total actual memory usage"
	ElapsedS      float64 // search time reported by the verifier, seconds
	// Violation is the first error the verifier printed ("assertion violated ...", "invalid end
	// state ..."), empty if none.
	Violation string
	// Incomplete is why the search did not cover the whole state space for a reason other than
	// stopping at an error (depth or memory bound), empty if it did.
	Incomplete string
}

var (
	reErrors      = regexp.MustCompile(`State-vector (\d+) byte, depth reached (\d+), errors: (\d+)`)
	reStored      = regexp.MustCompile(`(?m)^\s*(\d+) states, stored`)
	reMatched     = regexp.MustCompile(`(?m)^\s*(\d+) states, matched`)
	reTransitions = regexp.MustCompile(`(?m)^\s*(\d+) transitions \(= stored\+matched\)`)
	reMemory      = regexp.MustCompile(`(?m)^\s*([0-9.]+)\s+total actual memory usage`)
	reElapsed     = regexp.MustCompile(`pan: elapsed time ([0-9.e+]+) seconds`)
	reViolation   = regexp.MustCompile(`(?m)^pan:1: (.*?)(?: \(at depth \d+\))?$`)
)

// ParsePanOutput extracts the statistics from the output of a Spin-generated verifier. It fails if
// the output lacks the summary line (the verifier crashed or was not a verifier).
func ParsePanOutput(out string) (Stats, error) {
	var s Stats
	m := reErrors.FindStringSubmatch(out)
	if m == nil {
		return s, fmt.Errorf("verifier output has no \"State-vector ... errors:\" summary line")
	}
	s.StateVectorB, _ = strconv.Atoi(m[1])
	s.DepthReached, _ = strconv.Atoi(m[2])
	s.Errors, _ = strconv.Atoi(m[3])
	for _, f := range []struct {
		re  *regexp.Regexp
		dst *int64
	}{{reStored, &s.StatesStored}, {reMatched, &s.StatesMatched}, {reTransitions, &s.Transitions}} {
		if m := f.re.FindStringSubmatch(out); m != nil {
			*f.dst, _ = strconv.ParseInt(m[1], 10, 64)
		}
	}
	if m := reMemory.FindStringSubmatch(out); m != nil {
		s.MemoryMB, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reElapsed.FindStringSubmatch(out); m != nil {
		s.ElapsedS, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reViolation.FindStringSubmatch(out); m != nil {
		s.Violation = strings.TrimSpace(m[1])
	}
	switch {
	case strings.Contains(out, "max search depth too small"):
		s.Incomplete = "the depth bound (-m) was reached"
	case strings.Contains(out, "reached -DMEMLIM bound"), strings.Contains(out, "out of memory"):
		s.Incomplete = "the memory bound was reached"
	}
	return s, nil
}

// Result is the outcome of one check.
type Result struct {
	Check Check
	Stats Stats
	// Dir is the directory the check ran in (model, verifier, trail).
	Dir string
	// Trail is the counterexample trail file, empty if the verifier wrote none.
	Trail string
	// ReplayCommand reproduces the counterexample from Dir: spin -t -p with the check's -D flags.
	ReplayCommand string
	// Replay is the output of that command, run once by Run to show the trail replays.
	Replay string
	// Wall is the wall-clock time of the whole check: generate, compile, verify, replay.
	Wall time.Duration
}

// Verdict says whether the result is what the check expects, and if not, why.
func (r Result) Verdict() error {
	s := r.Stats
	switch r.Check.Expect {
	case Holds:
		if s.Errors != 0 {
			return fmt.Errorf("%s: expected no errors, Spin reports %d (%s); replay with: %s",
				r.Check.Name, s.Errors, s.Violation, r.ReplayCommand)
		}
		if s.Incomplete != "" {
			return fmt.Errorf("%s: search incomplete: %s", r.Check.Name, s.Incomplete)
		}
	case Violated:
		if s.Errors == 0 {
			if s.Incomplete != "" {
				return fmt.Errorf("%s: no counterexample found, and the search was incomplete: %s", r.Check.Name, s.Incomplete)
			}
			return fmt.Errorf("%s: expected a counterexample, Spin reports errors: 0 after %d states", r.Check.Name, s.StatesStored)
		}
		if r.Trail == "" {
			return fmt.Errorf("%s: Spin reports %d errors but wrote no trail", r.Check.Name, s.Errors)
		}
		if !strings.Contains(r.Replay, "assertion violated") && !strings.Contains(r.Replay, "invalid end state") {
			return fmt.Errorf("%s: replaying the trail does not reach the violation; replay with: %s", r.Check.Name, r.ReplayCommand)
		}
	default:
		return fmt.Errorf("%s: unknown expectation %v", r.Check.Name, r.Check.Expect)
	}
	return nil
}

// maxDepth bounds the depth-first search stack. The models' longest runs are under 300 steps; a run
// that reaches the bound is reported as incomplete, never as a pass.
const maxDepth = 10000

// Run verifies one check in dir (which must exist and should be empty): it writes the model, runs
// spin -a, compiles the verifier, runs it, and if it wrote a trail, replays it once.
func Run(ctx context.Context, tools Tools, c Check, dir string) (Result, error) {
	start := time.Now()
	res := Result{Check: c, Dir: dir}
	source, err := models.ReadFile(c.Model)
	if err != nil {
		return res, fmt.Errorf("check %s: model %q is not embedded: %w", c.Name, c.Model, err)
	}
	if err := os.WriteFile(filepath.Join(dir, c.Model), source, 0o644); err != nil {
		return res, err
	}

	spinArgs := append(append([]string{"-a"}, c.SpinFlags()...), c.Model)
	if _, err := runIn(ctx, dir, tools.Spin, spinArgs...); err != nil {
		return res, fmt.Errorf("check %s: generating the verifier: %w", c.Name, err)
	}
	// -DSAFETY: only safety properties (assertions, end states); -DXUSAFE: channels passed as
	// parameters keep their xr/xs declarations for partial-order reduction; -DMEMLIM: stop (and report
	// an incomplete search) rather than exhaust the machine; -w: gcc's warnings about the generated
	// code say nothing about the model. Optimizing takes about 2 s of compilation, which pays off only
	// for the complete searches of correct models; a counterexample is found in well under a second.
	optimize := "-O0"
	if c.Expect == Holds {
		optimize = "-O2"
	}
	ccArgs := []string{optimize, "-w", "-DSAFETY", "-DXUSAFE", "-DMEMLIM=6000"}
	switch c.Search {
	case BreadthFirst:
		ccArgs = append(ccArgs, "-DBFS")
	case Collapse:
		ccArgs = append(ccArgs, "-DCOLLAPSE")
	}
	ccArgs = append(ccArgs, "-o", "pan", "pan.c")
	if _, err := runIn(ctx, dir, tools.CC, ccArgs...); err != nil {
		return res, fmt.Errorf("check %s: compiling the verifier: %w", c.Name, err)
	}

	panArgs := []string{fmt.Sprintf("-m%d", maxDepth)}
	if c.Search == Collapse {
		panArgs = append(panArgs, "-w27")
	}
	out, err := runIn(ctx, dir, "./pan", panArgs...)
	if err != nil {
		return res, fmt.Errorf("check %s: running the verifier: %w", c.Name, err)
	}
	if res.Stats, err = ParsePanOutput(out); err != nil {
		return res, fmt.Errorf("check %s: %w\n%s", c.Name, err, out)
	}

	replayArgs := append(append([]string{"-t", "-p"}, c.SpinFlags()...), c.Model)
	res.ReplayCommand = fmt.Sprintf("cd %s && spin %s", dir, strings.Join(replayArgs, " "))
	trail := filepath.Join(dir, c.Model+".trail")
	if _, err := os.Stat(trail); err == nil {
		res.Trail = trail
		// A trail that ends in the violation exits spin with status 0; the text is what matters.
		if res.Replay, err = runIn(ctx, dir, tools.Spin, replayArgs...); err != nil {
			return res, fmt.Errorf("check %s: replaying the trail: %w", c.Name, err)
		}
	}
	res.Wall = time.Since(start)
	return res, nil
}

// KeepTrail copies a result's model and trail into keepDir/<check name> and returns the replay
// command for that copy, so a counterexample outlives the temporary directory it was found in.
func KeepTrail(r Result, keepDir string) (string, error) {
	if r.Trail == "" {
		return "", fmt.Errorf("check %s: no trail to keep", r.Check.Name)
	}
	dst := filepath.Join(keepDir, r.Check.Name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	for _, name := range []string{r.Check.Model, r.Check.Model + ".trail"} {
		data, err := os.ReadFile(filepath.Join(r.Dir, name))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o644); err != nil {
			return "", err
		}
	}
	replayArgs := append(append([]string{"-t", "-p"}, r.Check.SpinFlags()...), r.Check.Model)
	return fmt.Sprintf("cd %s && spin %s", dst, strings.Join(replayArgs, " ")), nil
}

// runIn runs a program in dir and returns its combined output. A non-zero exit is an error that
// carries the output's tail.
func runIn(ctx context.Context, dir, program string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		text := out.String()
		if len(text) > 4000 {
			text = "..." + text[len(text)-4000:]
		}
		return out.String(), fmt.Errorf("%s %s: %w\n%s", program, strings.Join(args, " "), err, text)
	}
	return out.String(), nil
}
