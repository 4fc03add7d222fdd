// Command regen regenerates the figures of the notebooks' experiments without the stateflush command
// line. Run it from the module root:
//
//	go run ./notebooks/cmd/regen NAME...   # regenerate the named experiments into notebooks/NN-name/
//	go run ./notebooks/cmd/regen all       # regenerate every experiment
//	go run ./notebooks/cmd/regen           # list the experiments
//
// -out DIR writes an experiment's figures to DIR/NN-name instead of notebooks/NN-name.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/stateflush/stateflush/notebooks"
)

func main() {
	out := flag.String("out", "notebooks", "directory that holds the experiments' NN-name directories")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: regen [-out DIR] NAME... | all\n\nexperiments:\n")
		for _, e := range notebooks.Experiments() {
			fmt.Fprintf(flag.CommandLine.Output(), "  %-26s %s\n", e.Name, e.Title)
		}
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "regen:", err)
		os.Exit(1)
	}
}

func run(out string, names []string) error {
	if info, err := os.Stat(out); err != nil || !info.IsDir() {
		return fmt.Errorf("-out %q is not a directory (run from the module root, or pass -out)", out)
	}
	var todo []notebooks.Experiment
	if len(names) == 1 && names[0] == "all" {
		todo = notebooks.Experiments()
	} else {
		for _, name := range names {
			e, err := notebooks.Lookup(name)
			if err != nil {
				return err
			}
			todo = append(todo, e)
		}
	}
	var errs []error
	for _, e := range todo {
		dir := filepath.Join(out, e.Dir)
		start := time.Now()
		if err := e.Run(dir); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Name, err))
			continue
		}
		fmt.Printf("%s: wrote %s in %.1fs\n", e.Name, dir, time.Since(start).Seconds())
	}
	return errors.Join(errs...)
}
