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

// describeBuild is buildVersion's text for given build information, separate so that a test can
// give it a revision and a modified flag.
func describeBuild(info *debug.BuildInfo) string {
	version := info.Main.Version
	if version == "" {
		version = "(unknown version)"
	}
	var revision, modified, vcsTime string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			vcsTime = s.Value
		}
	}
	text := fmt.Sprintf("stateflush %s", version)
	switch {
	case revision == "":
		text += ", no VCS revision recorded"
	default:
		text += ", revision " + revision
		if vcsTime != "" {
			text += " (" + vcsTime + ")"
		}
		if modified == "true" {
			text += ", with local modifications"
		}
	}
	return text + ", " + info.GoVersion
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
