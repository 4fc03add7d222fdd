package main

import (
	"fmt"

	"github.com/stateflush/stateflush/harness"
)

// buildVersion describes the build in one line (harness.BuildVersion, which trace headers record
// too).
func buildVersion() string { return harness.BuildVersion() }

// describeBuild is buildVersion's text for given build information.
var describeBuild = harness.DescribeBuild

// lineVersion is the version every sweep line records (harness.LineVersion).
func lineVersion() string { return harness.LineVersion() }

// shortVersion is lineVersion's text for given build information.
var shortVersion = harness.ShortBuild

var versionHelpText = help{
	usage:    "stateflush version",
	about:    "Prints the module version and the VCS revision this binary was built from, and whether the\ncheckout had local modifications (the same as stateflush --version).",
	examples: "  stateflush version\n  stateflush --version\n",
}

// runVersion is `stateflush version`.
func runVersion(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush version")
	positional, err := parseFlags(s, fs, versionHelpText, args)
	if err != nil {
		return 0, err
	}
	if err := noPositional(fs, positional); err != nil {
		return 0, err
	}
	fmt.Fprintln(s.stdout, buildVersion())
	return exitPass, nil
}
