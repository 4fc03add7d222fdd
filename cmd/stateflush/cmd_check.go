package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stateflush/stateflush/internal/textinput"
	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/linearizability/formats"
)

var checkHelpText = help{
	usage: "stateflush check [flags] FILE",
	about: `Checks a recorded client history for linearizability against a model (--models lists them): by
default the cas register when the history reads, writes or compares-and-swaps, the lock model when it
locks or unlocks, the whole store when it holds a successful snapshot, otherwise the store's register
per key.

FILE is a history in one of these formats (--format; by default detected from the first line):
  json           stateflush's history JSON (history.json of a report directory, or any file
                 written by linearizability.WriteHistoryFile); FILE may also be a report directory
  edn            a Jepsen history as Jepsen, knossos and porcupine record it: one operation map per
                 line or one vector; :info is an unknown outcome, :fail of a write had no effect,
                 :fail of a cas observed another value; :nemesis operations are skipped
  porcupine-log  Jepsen's operation log as porcupine's tests read it (INFO  jepsen.util - 0 :invoke :read nil)
Files are read strictly (duplicate fields, invalid UTF-8, overlapping operations of one client,
files that are not regular or are larger than --max-size are errors naming the line).

Every key first gets a short slice of the budget (shortest keys first), then the undecided ones share
the rest; the check stops at the first illegal key unless --all-keys asks for every key to be decided.
A check that runs out of --budget is unknown, never a pass. --report DIR writes a report directory
(index.html, summary.txt, history.json) as a failing run does.
Exit code: 0 linearizable, 1 not linearizable, 3 unknown (out of time), 2 unreadable or malformed file.`,
	examples: `  stateflush check history.json                      # json, the model chosen from the operations
  stateflush check stateflush-out/steady-monkey-seed56-no-mitt
  stateflush check history.json --budget 1m --json
  stateflush check --all-keys --model register history.json
  stateflush check --model store history.json
  stateflush check --report /tmp/check-report history.json
  stateflush check linearizability/formats/testdata/jepsen/cas-register.edn              # edn, cas-register
  stateflush check --format porcupine-log --model cas-register linearizability/formats/testdata/porcupine/etcd_002.log
  stateflush check --format edn --model kv-empty linearizability/formats/testdata/porcupine/c01-bad.txt
  stateflush check linearizability/formats/testdata/lock/tokens-restart.json              # json, lock
  stateflush check --max-size 4G history.json
  stateflush check --models
`,
}

// historyInputFlags are the flags of commands that read a history file in any format.
type historyInputFlags struct {
	format  *string
	maxSize *string
}

func addHistoryInputFlags(fs *flag.FlagSet) historyInputFlags {
	return historyInputFlags{
		format:  fs.String("format", string(formats.Auto), "the history's `format`: auto, json, edn or porcupine-log"),
		maxSize: fs.String("max-size", "1G", "refuse history files larger than this many `bytes` (suffixes K, M, G)"),
	}
}

// read reads the history file at path (a report directory: its history.json).
func (f historyInputFlags) read(path string) (linearizability.History, formats.Format, string, error) {
	format, err := formats.ParseFormat(*f.format)
	if err != nil {
		return nil, "", path, badInput("--format %s: %v", *f.format, err)
	}
	maxBytes, err := parseByteSize(*f.maxSize)
	if err != nil {
		return nil, "", path, badInput("--max-size %s: %v", *f.maxSize, err)
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		path = filepath.Join(path, linearizability.ReportHistoryFile)
	}
	history, format, err := formats.ReadFile(path, format, maxBytes)
	switch {
	case errors.Is(err, formats.ErrTooLarge), errors.Is(err, textinput.ErrTooLarge):
		return nil, format, path, badInput("%v (--max-size raises the limit)", err)
	case err != nil:
		return nil, format, path, asBadInput(err)
	}
	return history, format, path, nil
}

// parseByteSize reads a size such as 1048576, 512K, 100M or 4G (binary multiples).
func parseByteSize(s string) (int64, error) {
	multiplier := int64(1)
	number := s
	if n := len(s); n > 0 {
		switch strings.ToUpper(s[n-1:]) {
		case "K":
			multiplier, number = 1<<10, s[:n-1]
		case "M":
			multiplier, number = 1<<20, s[:n-1]
		case "G":
			multiplier, number = 1<<30, s[:n-1]
		}
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/multiplier {
		return 0, errors.New("want a positive number of bytes, optionally with K, M or G")
	}
	return n * multiplier, nil
}

// runCheck is `stateflush check FILE`.
func runCheck(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush check")
	budget := addBudgetFlag(fs)
	asJSON := fs.Bool("json", false, "print the verdict as JSON")
	allKeys := fs.Bool("all-keys", false, "decide every key instead of stopping at the first illegal one")
	modelName := fs.String("model", "", "the model to check against (see --models); default: chosen from the history's operations")
	listModels := fs.Bool("models", false, "list the built-in models and exit")
	reportDir := fs.String("report", "", "write a report `directory` (index.html, summary.txt, history.json, violations.json)")
	input := addHistoryInputFlags(fs)
	files, err := parseFlags(s, fs, checkHelpText, args)
	if err != nil {
		return 0, err
	}
	if *listModels {
		for _, m := range linearizability.Models() {
			fmt.Fprintf(s.stdout, "%-13s %s\n", m.Name, m.Summary)
		}
		return exitPass, nil
	}
	if len(files) != 1 {
		return 0, badInput("want exactly one history file, got %d arguments (see 'stateflush check --help')", len(files))
	}
	if err := validateBudget(*budget); err != nil {
		return 0, err
	}
	if *reportDir != "" {
		if err := checkOutputDir("--report", *reportDir); err != nil {
			return 0, err
		}
	}
	var options []linearizability.CheckOption
	var model *linearizability.Model // nil: the one CheckHistory picks for the history
	if *modelName != "" {
		m, err := linearizability.LookupModel(*modelName)
		if err != nil {
			return 0, badInput("--model %s: %v", *modelName, err)
		}
		model = &m
		options = append(options, linearizability.WithModel(m))
	}
	if !*allKeys {
		options = append(options, linearizability.StopAtFirstIllegal())
	}
	history, format, path, err := input.read(files[0])
	if err != nil {
		return 0, err
	}
	verdict, err := linearizability.CheckHistory(history, *budget, options...)
	if err != nil {
		return 0, asBadInput(fmt.Errorf("%s: %w", path, err))
	}
	if *asJSON {
		b, err := json.Marshal(verdict)
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(s.stdout, "%s\n", b)
	} else {
		fmt.Fprintf(s.stdout, "%s: %d operations (%s): %s\n", path, len(history), format, verdict)
	}
	if *reportDir != "" {
		if err := writeCheckReport(*reportDir, checkReplayCommand(path, format, *modelName, *allKeys, *budget, *input.maxSize), history, model, verdict); err != nil {
			return 0, err
		}
		fmt.Fprintf(s.stderr, "report: %s (open %s in a browser)\n", *reportDir, filepath.Join(*reportDir, linearizability.ReportPageFile))
	}
	switch verdict.Result {
	case linearizability.Ok:
		return exitPass, nil
	case linearizability.Illegal:
		return exitViolation, nil
	}
	return exitUnknown, nil
}

// writeCheckReport writes the report directory of `check --report`. It is the one place that
// calls the report library for a checked history, so that another report page is swapped in here.
func writeCheckReport(dir, replay string, history linearizability.History, model *linearizability.Model, verdict linearizability.Verdict) error {
	err := linearizability.WriteReport(dir, linearizability.ReportInput{
		Description:   fmt.Sprintf("stateflush check of a history of %d operations with the %s model", len(history), verdict.Model),
		ReplayCommand: replay,
		History:       history,
		Verdicts:      []linearizability.Verdict{verdict},
		Model:         model,
	})
	if err != nil {
		return fmt.Errorf("writing the report to %s: %w", dir, err)
	}
	return nil
}

// checkReplayCommand is the check command that reproduces a verdict: the same model, budget and
// key policy on the file that was read, in the format it was read as.
func checkReplayCommand(path string, format formats.Format, model string, allKeys bool, budget time.Duration, maxSize string) string {
	parts := []string{"stateflush", "check", "--format", string(format)}
	if model != "" {
		parts = append(parts, "--model", model)
	}
	if allKeys {
		parts = append(parts, "--all-keys")
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	parts = append(parts, "--budget", budget.String(), "--max-size", maxSize, path)
	for i, p := range parts {
		parts[i] = shellQuote(p)
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes an argument for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,+-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
