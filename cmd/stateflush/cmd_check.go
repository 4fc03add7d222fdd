package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stateflush/stateflush/linearizability"
)

var checkHelpText = help{
	usage: "stateflush check [flags] FILE",
	about: `Checks a recorded client history (history.json of a report directory, or any file written by
linearizability.WriteHistoryFile) for linearizability against a model (--models lists them): by
default the cas register when the history reads, writes or compares-and-swaps, the whole store when
it holds a successful snapshot, otherwise the store's register per key. FILE may also be a report directory.
Every key first gets a short slice of the budget (shortest keys first), then the undecided ones share
the rest; the check stops at the first illegal key unless --all-keys asks for every key to be decided.
A check that runs out of --budget is unknown, never a pass.
Exit code: 0 linearizable, 1 not linearizable, 3 unknown (out of time), 2 unreadable or malformed file.`,
	examples: `  stateflush check stateflush-out/steady-monkey-seed56-no-mitt/history.json
  stateflush check stateflush-out/steady-monkey-seed56-no-mitt
  stateflush check history.json --budget 1m --json
  stateflush check --all-keys history.json
  stateflush check --model cas-register register-history.json
  stateflush check --model kv-empty porcupine-kv-history.json
  stateflush check --models
`,
}

// runCheck is `stateflush check FILE`.
func runCheck(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush check")
	budget := addBudgetFlag(fs)
	asJSON := fs.Bool("json", false, "print the verdict as JSON")
	allKeys := fs.Bool("all-keys", false, "decide every key instead of stopping at the first illegal one")
	modelName := fs.String("model", "", "the model to check against (see --models); default: chosen from the history's operations")
	listModels := fs.Bool("models", false, "list the built-in models and exit")
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
	path := files[0]
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		path = filepath.Join(path, linearizability.ReportHistoryFile)
	}
	if err := readableFile(path); err != nil {
		return 0, err
	}
	history, err := linearizability.ReadHistoryFile(path)
	if err != nil {
		return 0, asBadInput(err)
	}
	var options []linearizability.CheckOption
	if *modelName != "" {
		model, err := linearizability.LookupModel(*modelName)
		if err != nil {
			return 0, badInput("--model %s: %v", *modelName, err)
		}
		options = append(options, linearizability.WithModel(model))
	}
	if !*allKeys {
		options = append(options, linearizability.StopAtFirstIllegal())
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
		fmt.Fprintf(s.stdout, "%s: %d operations: %s\n", path, len(history), verdict)
	}
	switch verdict.Result {
	case linearizability.Ok:
		return exitPass, nil
	case linearizability.Illegal:
		return exitViolation, nil
	}
	return exitUnknown, nil
}
