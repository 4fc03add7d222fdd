package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// checkOutputDir checks, before any simulation runs, that a report directory can be written: dir
// is a directory or can be created as one, i.e. its nearest existing ancestor is a directory in
// which a file can be created. flagName names where dir came from in the error ("--out", or the
// default report root). Without this a command would run every seed and only then fail to write.
func checkOutputDir(flagName, dir string) error {
	for p := filepath.Clean(dir); ; {
		info, err := os.Stat(p)
		switch {
		case err == nil && !info.IsDir():
			if p == filepath.Clean(dir) {
				return badInput("%s %s: is a file, not a directory", flagName, dir)
			}
			return badInput("%s %s: %s is a file, not a directory", flagName, dir, p)
		case err == nil:
			probe, err := os.CreateTemp(p, ".stateflush-write-check-*")
			if err != nil {
				return badInput("%s %s: cannot write in %s: %v", flagName, dir, p, errors.Unwrap(err))
			}
			probe.Close()
			os.Remove(probe.Name())
			return nil
		case !errors.Is(err, fs.ErrNotExist):
			return badInput("%s %s: %v", flagName, dir, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}

// checkReportDir checks the directory a command will write its report to: --out when given,
// otherwise the default root of reports in the working directory.
func checkReportDir(out string) error {
	if out != "" {
		return checkOutputDir("--out", out)
	}
	return checkOutputDir("report directory", outputRoot)
}
