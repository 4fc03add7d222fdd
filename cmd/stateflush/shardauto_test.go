package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/harness"
)

func envOf(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// TestShardAutoReadsEachBatchSystem: the variables of a Slurm array, a Kubernetes Indexed Job and
// a CI matrix give the shard; missing, malformed or inconsistent ones are errors naming them.
func TestShardAutoReadsEachBatchSystem(t *testing.T) {
	for _, c := range []struct {
		env       map[string]string
		count     int
		want      harness.Shard
		wantError string
	}{
		{env: map[string]string{envSlurmID: "2", envSlurmMin: "0", envSlurmMax: "3", envSlurmCount: "4"}, want: harness.Shard{Index: 2, Count: 4}},
		{env: map[string]string{envSlurmID: "7", envSlurmMin: "5", envSlurmMax: "8"}, want: harness.Shard{Index: 2, Count: 4}},
		{env: map[string]string{envSlurmID: "3", envSlurmCount: "4"}, want: harness.Shard{Index: 3, Count: 4}},
		{env: map[string]string{envSlurmID: "1", envSlurmMin: "0", envSlurmMax: "3", envSlurmStep: "1"}, count: 4, want: harness.Shard{Index: 1, Count: 4}},
		{env: map[string]string{envK8sIndex: "0"}, count: 3, want: harness.Shard{Index: 0, Count: 3}},
		{env: map[string]string{envK8sIndex: "2", envShardCount: "3"}, want: harness.Shard{Index: 2, Count: 3}},
		{env: map[string]string{envShardIndex: "4", envShardCount: "5"}, want: harness.Shard{Index: 4, Count: 5}},

		{env: map[string]string{}, wantError: "no shard index in the environment"},
		{env: map[string]string{envSlurmID: "1", envK8sIndex: "1"}, wantError: "SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX are all set"},
		{env: map[string]string{envSlurmID: "1"}, wantError: "neither SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_MAX nor SLURM_ARRAY_TASK_COUNT"},
		{env: map[string]string{envSlurmID: "x", envSlurmCount: "4"}, wantError: `SLURM_ARRAY_TASK_ID="x": want a non-negative integer`},
		{env: map[string]string{envSlurmID: "4", envSlurmCount: "4"}, wantError: "need 0 <= index < count"},
		{env: map[string]string{envSlurmID: "5", envSlurmMin: "0", envSlurmMax: "5", envSlurmCount: "3"}, wantError: "an array with gaps"},
		{env: map[string]string{envSlurmID: "9", envSlurmMin: "0", envSlurmMax: "5"}, wantError: "outside"},
		{env: map[string]string{envSlurmID: "2", envSlurmMin: "0", envSlurmMax: "6", envSlurmStep: "2"}, wantError: "the array has a step"},
		{env: map[string]string{envSlurmID: "2", envSlurmMin: "0", envSlurmMax: "3"}, count: 5, wantError: "--shard-count 5 but SLURM_ARRAY_TASK_ID=2"},
		{env: map[string]string{envK8sIndex: "1"}, wantError: "JOB_COMPLETION_INDEX=1 but no shard count: give --shard-count N or set STATEFLUSH_SHARD_COUNT"},
		{env: map[string]string{envK8sIndex: "3"}, count: 3, wantError: "JOB_COMPLETION_INDEX=3 of --shard-count=3: need 0 <= index < count"},
		{env: map[string]string{envK8sIndex: "1", envShardCount: "4"}, count: 3, wantError: "--shard-count 3 but STATEFLUSH_SHARD_COUNT=4"},
		{env: map[string]string{envK8sIndex: "-1", envShardCount: "4"}, wantError: `JOB_COMPLETION_INDEX="-1"`},
		{env: map[string]string{envShardIndex: "0"}, wantError: "STATEFLUSH_SHARD_INDEX=0 but no shard count"},
		{env: map[string]string{envShardIndex: "0", envShardCount: "zero"}, wantError: `STATEFLUSH_SHARD_COUNT="zero"`},
		{env: map[string]string{envShardIndex: "0", envShardCount: "0"}, wantError: "need 0 <= index < count"},
		{env: map[string]string{envShardIndex: "1", envK8sIndex: "1", envShardCount: "2"}, wantError: "are all set"},
	} {
		got, err := resolveAutoShard(envOf(c.env), c.count)
		switch {
		case c.wantError != "":
			if err == nil || !strings.Contains(err.Error(), c.wantError) || exitCodeOf(err) != exitUsage {
				t.Errorf("%v (--shard-count %d): want a usage error naming %q, got %v (%+v)", c.env, c.count, c.wantError, err, got)
			}
		case err != nil || got.shard != c.want:
			t.Errorf("%v (--shard-count %d): got %+v, %v; want %s", c.env, c.count, got, err, c.want)
		}
	}
}

// TestShardAutoSweepsTheShardItNames: a sweep with --shard auto is the sweep with the shard the
// environment names, and says where it found it.
func TestShardAutoSweepsTheShardItNames(t *testing.T) {
	dir := t.TempDir()
	explicit, auto := filepath.Join(dir, "explicit.jsonl"), filepath.Join(dir, "auto.jsonl")
	base := []string{"sweep", "--scenario", "small", "--seeds", "6", "--quiet"}
	wantCode(t, cli(t, append(base, "--shard", "1/3", "--out", explicit)...), exitPass)
	var r result
	var stdout, stderr strings.Builder
	s := &streams{stdout: &stdout, stderr: &stderr, getenv: envOf(map[string]string{envSlurmID: "11", envSlurmMin: "10", envSlurmMax: "12", envSlurmCount: "3"})}
	r.code = runWith(s, append(base, "--shard", "auto", "--out", auto))
	r.stdout, r.stderr = stdout.String(), stderr.String()
	wantCode(t, r, exitPass, "sweep", "--shard", "auto")
	if !strings.Contains(r.stdout, "shard 1/3 (2 seeds) from SLURM_ARRAY_TASK_ID=11 of SLURM_ARRAY_TASK_MIN..SLURM_ARRAY_TASK_MAX=10..12") {
		t.Errorf("the summary does not say where the shard came from:\n%s", r)
	}
	if readFile(t, auto) != readFile(t, explicit) {
		t.Error("--shard auto swept another shard than the one the environment names")
	}
	// Outside a batch system it is an error.
	stdout.Reset()
	stderr.Reset()
	s = &streams{stdout: &stdout, stderr: &stderr, getenv: envOf(nil)}
	if code := runWith(s, append(base, "--shard", "auto")); code != exitUsage || !strings.Contains(stderr.String(), "no shard index in the environment") {
		t.Errorf("--shard auto outside a batch system: exit %d, %s", code, stderr.String())
	}
}
