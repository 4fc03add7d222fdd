package main

import (
	"fmt"
	"runtime/debug"

	"github.com/stateflush/stateflush/harness"
)

// buildVersion describes the build in one line (harness.BuildVersion, which trace headers record
// too).
func buildVersion() string { return harness.BuildVersion() }

// describeBuild is buildVersion's text for given build information.
var describeBuild = harness.DescribeBuild

// buildFacts are what the build information says about the build.
type buildFacts struct {
	version, revision, vcsTime, goVersion string
	modified                              bool
}

func factsOf(info *debug.BuildInfo) buildFacts {
	f := buildFacts{version: info.Main.Version, goVersion: info.GoVersion}
	if f.version == "" {
		f.version = "(unknown version)"
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			f.revision = s.Value
		case "vcs.modified":
			f.modified = s.Value == "true"
		case "vcs.time":
			f.vcsTime = s.Value
		}
	}
	return f
}

// lineVersion is the version every sweep line records, from the same build information as
// --version, kept short: the module version, the revision and a +modified mark, and the Go
// version (another compiler may schedule nothing differently, but a sweep is one build's).
func lineVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "no-build-info"
	}
	return shortVersion(info)
}

func shortVersion(info *debug.BuildInfo) string {
	f := factsOf(info)
	text := f.version
	if f.revision != "" {
		text += " " + f.revision
		if f.modified {
			text += "+modified"
		}
	}
	return text + " " + f.goVersion
}

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
