package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stateflush/stateflush/notebooks"
)

// modulePath identifies the stateflush checkout, whose notebooks/ directory holds the figures.
const modulePath = "github.com/stateflush/stateflush"

var plotHelpText = help{
	usage: "stateflush plot [flags] [NAME...]",
	about: `Regenerates the figures (PNG at 300 dpi, SVG and PDF) and data of the notebook experiments: all
of them, or the named ones. Each experiment writes into its own directory under notebooks/ of the stateflush
checkout (found from the current directory upwards), or under --out DIR (DIR/<experiment dir>).
Experiments run one after another; some run thousands of simulations and take minutes.
Exit code: 0 every experiment succeeded, 4 some experiment failed, 2 unknown experiment name.`,
	examples: `  stateflush plot
  stateflush plot latency-timeline mutant-detection
  stateflush plot --out /tmp/figures checker-cost
  stateflush plot --list
`,
}

// runPlot is `stateflush plot`.
func runPlot(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush plot")
	out := fs.String("out", "", "root `directory` of the figures (default: notebooks/ of the checkout)")
	list := fs.Bool("list", false, "list the experiments and exit")
	names, err := parseFlags(s, fs, plotHelpText, args)
	if err != nil {
		return 0, err
	}
	experiments := notebooks.Experiments()
	if len(names) > 0 {
		experiments = nil
		for _, name := range names {
			e, err := notebooks.Lookup(name)
			if err != nil {
				return 0, asBadInput(err)
			}
			experiments = append(experiments, e)
		}
	}
	if *list {
		for _, e := range experiments {
			fmt.Fprintf(s.stdout, "%-26s %s (notebooks/%s)\n", e.Name, e.Title, e.Dir)
		}
		return exitPass, nil
	}
	root := *out
	if root == "" {
		checkout, err := findCheckout()
		if err != nil {
			return 0, err
		}
		root = filepath.Join(checkout, "notebooks")
	}
	failures := 0
	for _, e := range experiments {
		dir := filepath.Join(root, e.Dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, asBadInput(fmt.Errorf("--out: %w", err))
		}
		fmt.Fprintf(s.stdout, "%s: %s ... ", e.Name, e.Title)
		start := time.Now()
		if err := e.Run(dir); err != nil {
			failures++
			fmt.Fprintf(s.stdout, "FAILED: %s\n", oneLine(err.Error()))
			continue
		}
		fmt.Fprintf(s.stdout, "done in %v: %s\n", time.Since(start).Round(time.Millisecond), dir)
	}
	if failures > 0 {
		// An experiment is the project's own code: its failure is an internal error (exit 4).
		return 0, fmt.Errorf("%d of %d experiments failed", failures, len(experiments))
	}
	return exitPass, nil
}

// findCheckout returns the directory of the stateflush module containing the current directory.
func findCheckout() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isStateflushModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", badInput("the current directory is not inside the stateflush checkout, where the figures go: run from there or give --out")
		}
		dir = parent
	}
}

// isStateflushModule reports whether the go.mod file declares the stateflush module.
func isStateflushModule(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if module, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(module), `"`) == modulePath
		}
	}
	return false
}
