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

// DescribeBuild is BuildVersion's text for given build information.
func DescribeBuild(info *debug.BuildInfo) string {
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
