package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionFlagAndSubcommandPrintTheBuild(t *testing.T) {
	want := buildVersion()
	if !strings.HasPrefix(want, "stateflush ") {
		t.Fatalf("buildVersion() = %q, want it to start with the program's name", want)
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		r := cli(t, args...)
		wantCode(t, r, exitPass, args...)
		if strings.TrimSpace(r.stdout) != want {
			t.Errorf("stateflush %s printed %q, want %q", strings.Join(args, " "), r.stdout, want)
		}
	}
	r := cli(t, "version", "extra")
	wantCode(t, r, exitUsage, "version", "extra")
}

func TestDescribeBuildNamesRevisionAndModifications(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Path: "github.com/stateflush/stateflush", Version: "v1.2.3"}}
	if got := describeBuild(info); got != "stateflush v1.2.3, no VCS revision recorded, go1.99" {
		t.Errorf("without VCS settings: %q", got)
	}
	info.Settings = []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}
	if got := describeBuild(info); got != "stateflush v1.2.3, revision abc123 (2026-01-02T03:04:05Z), with local modifications, go1.99" {
		t.Errorf("modified checkout: %q", got)
	}
	info.Settings[2].Value = "false"
	if got := describeBuild(info); strings.Contains(got, "modifications") || !strings.Contains(got, "revision abc123") {
		t.Errorf("clean checkout: %q", got)
	}
}

func TestShortVersionIsTheSameBuildFacts(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.2.3"}}
	if got := shortVersion(info); got != "v1.2.3 go1.99" {
		t.Errorf("without VCS settings: %q", got)
	}
	info.Settings = []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}
	if got := shortVersion(info); got != "v1.2.3 abc123+modified go1.99" {
		t.Errorf("modified checkout: %q", got)
	}
	info.Settings[1].Value = "false"
	if got := shortVersion(info); got != "v1.2.3 abc123 go1.99" {
		t.Errorf("clean checkout: %q", got)
	}
}
