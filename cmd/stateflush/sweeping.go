package main

import (
	"fmt"
	"time"

	"github.com/stateflush/stateflush/harness"
)

// seedRun is one seed's result in a sweep.
type seedRun struct {
	result harness.SeedResult
	// replay is the command that reruns the seed.
	replay string
	// outcome is kept for violations only when the sweep asks for it (to shrink or report them);
	// keeping every outcome would hold every trace in memory.
	outcome *harness.Outcome
	err     error
}

// sweepSpec says which seeds of which scenario a sweep runs.
type sweepSpec struct {
	scenario harness.Scenario
	seeds    []uint64
	workers  int
	// budget is the linearizability check's wall-clock budget per seed.
	budget time.Duration
	// keepViolations keeps the outcome of every seed whose verdict is a violation.
	keepViolations bool
}

// runSeeds runs the seeds on spec.workers goroutines (one simulator each) and calls emit with the
// results in seed order, so that output does not depend on the worker count. It stops at the first
// seed that cannot run, or the first error of emit, and returns that error; and when done closes
// (an interruption: see harness.ParallelSeedsUntil), reporting it. A nil done never closes.
func runSeeds(done <-chan struct{}, spec sweepSpec, bar *progress, emit func(seedRun) error) (interrupted bool, err error) {
	var stopErr error
	interrupted = harness.ParallelSeedsUntil(done, spec.seeds, spec.workers,
		func(seed uint64) (r seedRun) {
			// A panic on a worker goroutine would end the process before run could recover it.
			defer func() {
				if p := recover(); p != nil {
					r.err = fmt.Errorf("seed %d: %w", seed, panicError(p))
				}
			}()
			o, err := harness.Run(spec.scenario, seed, harness.Options{CheckBudget: spec.budget})
			if err != nil {
				r.err = fmt.Errorf("seed %d: %w", seed, err)
				return r
			}
			r.result, r.replay = o.SeedResult(), o.ReplayCommand("")
			if spec.keepViolations && o.Final.Found() {
				r.outcome = o
			}
			return r
		},
		func(r seedRun) {
			if r.err != nil {
				stopErr = r.err
				return
			}
			bar.seedDone(failed(r.result.Verdict))
			stopErr = emit(r)
		},
		func() bool { return stopErr != nil })
	return interrupted, stopErr
}

// seedsPerSecond is a throughput figure for humans (never written into sweep results, which stay
// free of wall-clock values).
func seedsPerSecond(seeds int, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(seeds) / elapsed.Seconds()
}

// workersText is "1 worker" or "n workers".
func workersText(n int) string {
	if n == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", n)
}
