package harness

import (
	"fmt"
	"runtime/debug"
)

// BuildVersion describes the running build in one line from the module's build information: the
// module version ("(devel)" for a build from a checkout), the VCS revision and whether the checkout
// had local changes. Trace headers record it (Outcome.TraceHeader), so that a replay whose hash
// differs can say which build recorded the trace. A binary built without build information says so.
func BuildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "stateflush (no build information in this binary)"
	}
	return DescribeBuild(info)
}

// LineVersion is the version every sweep line records, from the same build information as
// BuildVersion, kept short: the module version, the revision and a +modified mark, and the Go
// version (another compiler may schedule nothing differently, but a sweep is one build's).
func LineVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "no-build-info"
	}
	return ShortBuild(info)
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

// DescribeBuild is BuildVersion's text for given build information.
func DescribeBuild(info *debug.BuildInfo) string {
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

// ShortBuild is LineVersion's text for given build information.
func ShortBuild(info *debug.BuildInfo) string {
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
