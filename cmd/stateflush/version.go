package main

import (
	"fmt"
	"runtime/debug"
)

// buildVersion describes the build in one line from the module's build information: the module
// version ("(devel)" for a build from a checkout), the VCS revision and whether the checkout had
// local changes. A binary built without build information (rare: e.g. some test binaries) says so.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "stateflush (no build information in this binary)"
	}
	return describeBuild(info)
}

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

// describeBuild is buildVersion's text for given build information, separate so that a test can
// give it a revision and a modified flag.
func describeBuild(info *debug.BuildInfo) string {
	f := factsOf(info)
	text := fmt.Sprintf("stateflush %s", f.version)
	switch {
	case f.revision == "":
		text += ", no VCS revision recorded"
	default:
		text += ", revision " + f.revision
		if f.vcsTime != "" {
			text += " (" + f.vcsTime + ")"
		}
		if f.modified {
			text += ", with local modifications"
		}
	}
	return text + ", " + f.goVersion
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
