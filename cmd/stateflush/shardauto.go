package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/stateflush/stateflush/harness"
)

// The environment --shard auto reads. Each batch system numbers the tasks of one job its own way:
//
//	Slurm job array   SLURM_ARRAY_TASK_ID, with SLURM_ARRAY_TASK_MIN and _MAX (or _COUNT for an
//	                  array numbered from 0); the shard is ID-MIN of MAX-MIN+1
//	Kubernetes        JOB_COMPLETION_INDEX (an Indexed Job), with the count from --shard-count or
//	                  STATEFLUSH_SHARD_COUNT (the Job's completions: Kubernetes does not export it)
//	CI matrix         STATEFLUSH_SHARD_INDEX and STATEFLUSH_SHARD_COUNT, set from the matrix
const (
	envSlurmID    = "SLURM_ARRAY_TASK_ID"
	envSlurmMin   = "SLURM_ARRAY_TASK_MIN"
	envSlurmMax   = "SLURM_ARRAY_TASK_MAX"
	envSlurmCount = "SLURM_ARRAY_TASK_COUNT"
	envSlurmStep  = "SLURM_ARRAY_TASK_STEP"
	envK8sIndex   = "JOB_COMPLETION_INDEX"
	envShardIndex = "STATEFLUSH_SHARD_INDEX"
	envShardCount = "STATEFLUSH_SHARD_COUNT"
)

// autoShard is the shard --shard auto found, and where it found it (for the summary).
type autoShard struct {
	shard  harness.Shard
	source string
}

// resolveAutoShard reads the shard of this task from the environment (getenv), for --shard auto.
// countFlag is --shard-count (0 when not given). Exactly one batch system's index must be set, and
// every count given must agree.
func resolveAutoShard(getenv func(string) string, countFlag int) (autoShard, error) {
	var systems []string
	for _, v := range []string{envSlurmID, envK8sIndex, envShardIndex} {
		if getenv(v) != "" {
			systems = append(systems, v)
		}
	}
	switch len(systems) {
	case 0:
		return autoShard{}, badInput("--shard auto: no shard index in the environment: set by a Slurm array (%s), a Kubernetes Indexed Job (%s, with --shard-count or %s) or a CI matrix (%s and %s)",
			envSlurmID, envK8sIndex, envShardCount, envShardIndex, envShardCount)
	case 1:
	default:
		return autoShard{}, badInput("--shard auto: %s are all set: which batch system runs this task is ambiguous (unset all but one, or give --shard i/n)", strings.Join(systems, " and "))
	}
	var a autoShard
	var err error
	switch systems[0] {
	case envSlurmID:
		a, err = slurmShard(getenv)
	case envK8sIndex:
		a, err = indexAndCount(getenv, envK8sIndex, countFlag, "the Indexed Job's completions")
	case envShardIndex:
		a, err = indexAndCount(getenv, envShardIndex, countFlag, "the matrix's size")
	}
	if err != nil {
		return autoShard{}, err
	}
	if countFlag != 0 && countFlag != a.shard.Count {
		return autoShard{}, badInput("--shard auto: --shard-count %d but %s gives %d shards", countFlag, a.source, a.shard.Count)
	}
	return a, nil
}

// slurmShard reads a Slurm array task's place in its array.
func slurmShard(getenv func(string) string) (autoShard, error) {
	id, err := envInt(getenv, envSlurmID)
	if err != nil {
		return autoShard{}, err
	}
	if step := getenv(envSlurmStep); step != "" && step != "1" {
		return autoShard{}, badInput("--shard auto: %s=%s: the array has a step, so its task IDs do not number shards 0..n-1 (submit --array=0-N)", envSlurmStep, step)
	}
	minSet, maxSet, countSet := getenv(envSlurmMin) != "", getenv(envSlurmMax) != "", getenv(envSlurmCount) != ""
	switch {
	case minSet && maxSet:
		lo, err1 := envInt(getenv, envSlurmMin)
		hi, err2 := envInt(getenv, envSlurmMax)
		if err := firstErr(err1, err2); err != nil {
			return autoShard{}, err
		}
		if hi < lo || id < lo || id > hi {
			return autoShard{}, badInput("--shard auto: %s=%d outside %s=%d..%s=%d", envSlurmID, id, envSlurmMin, lo, envSlurmMax, hi)
		}
		n := hi - lo + 1
		if countSet {
			count, err := envInt(getenv, envSlurmCount)
			if err != nil {
				return autoShard{}, err
			}
			if count != n {
				return autoShard{}, badInput("--shard auto: %s=%d but the array spans %d..%d (%d IDs): an array with gaps (--array=0,2,5) does not number shards; submit --array=%d-%d", envSlurmCount, count, lo, hi, n, lo, lo+count-1)
			}
		}
		return autoShard{harness.Shard{Index: id - lo, Count: n}, fmt.Sprintf("%s=%d of %s..%s=%d..%d", envSlurmID, id, envSlurmMin, envSlurmMax, lo, hi)}, nil
	case countSet:
		count, err := envInt(getenv, envSlurmCount)
		if err != nil {
			return autoShard{}, err
		}
		return checkedShard(id, count, fmt.Sprintf("%s=%d of %s=%d", envSlurmID, id, envSlurmCount, count))
	}
	return autoShard{}, badInput("--shard auto: %s is set but neither %s and %s nor %s: not the environment of a Slurm array task", envSlurmID, envSlurmMin, envSlurmMax, envSlurmCount)
}

// indexAndCount reads an index variable and the count from --shard-count or STATEFLUSH_SHARD_COUNT.
func indexAndCount(getenv func(string) string, indexVar string, countFlag int, countIs string) (autoShard, error) {
	i, err := envInt(getenv, indexVar)
	if err != nil {
		return autoShard{}, err
	}
	n, found := countFlag, countFlag != 0
	from := "--shard-count"
	if getenv(envShardCount) != "" {
		envN, err := envInt(getenv, envShardCount)
		if err != nil {
			return autoShard{}, err
		}
		if countFlag != 0 && countFlag != envN {
			return autoShard{}, badInput("--shard auto: --shard-count %d but %s=%d", countFlag, envShardCount, envN)
		}
		n, from, found = envN, envShardCount, true
	}
	if !found {
		return autoShard{}, badInput("--shard auto: %s=%d but no shard count: give --shard-count N or set %s (%s)", indexVar, i, envShardCount, countIs)
	}
	return checkedShard(i, n, fmt.Sprintf("%s=%d of %s=%d", indexVar, i, from, n))
}

func checkedShard(i, n int, source string) (autoShard, error) {
	if n < 1 || i < 0 || i >= n {
		return autoShard{}, badInput("--shard auto: %s: need 0 <= index < count", source)
	}
	return autoShard{harness.Shard{Index: i, Count: n}, source}, nil
}

// envInt reads a non-negative integer variable, naming it in the error.
func envInt(getenv func(string) string, name string) (int, error) {
	v := getenv(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badInput("--shard auto: %s=%q: want a non-negative integer", name, v)
	}
	return n, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
