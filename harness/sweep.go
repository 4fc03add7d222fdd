package harness

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Shard selects part of a sweep: seed number k (counting from 0 within the sweep) belongs to shard
// k mod Count. A batch system (a Kubernetes Indexed Job, a CI matrix, a Slurm array) runs shard
// 0/n .. n-1/n on separate machines and MergeSweeps combines their outputs.
type Shard struct {
	Index, Count int
}

// AllSeeds is the shard that holds every seed.
var AllSeeds = Shard{Index: 0, Count: 1}

// ParseShard reads "i/n" with 0 <= i < n.
func ParseShard(s string) (Shard, error) {
	idx, count, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want the form i/n, e.g. 0/4", s)
	}
	i, err1 := strconv.Atoi(idx)
	n, err2 := strconv.Atoi(count)
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: i and n must be integers", s)
	}
	if n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: need 0 <= i < n and n >= 1", s)
	}
	return Shard{Index: i, Count: n}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Seeds lists the seeds of this shard among first, first+1, ..., first+count-1, in order.
func (s Shard) Seeds(first uint64, count int) []uint64 {
	var seeds []uint64
	for k := 0; k < count; k++ {
		if k%s.Count == s.Index {
			seeds = append(seeds, first+uint64(k))
		}
	}
	return seeds
}

// ParallelSeeds runs run(seed) for every seed on the given number of workers (one simulator per
// goroutine; each run is independent and deterministic) and calls emit with the results in seed-list
// order, as soon as every earlier result is in, so that output is the same for any number of workers.
// emit runs on the calling goroutine. stop, when it returns true after an emit, ends the sweep early
// (results already running are discarded).
func ParallelSeeds[R any](seeds []uint64, workers int, run func(seed uint64) R, emit func(R), stop func() bool) {
	ParallelSeedsUntil(nil, seeds, workers, run, emit, stop)
}

// ParallelSeedsUntil is ParallelSeeds that also ends when done is closed (an interrupted sweep): no
// seed is dispatched after that, no result is emitted after that, and it returns at once without
// waiting for the seeds in progress, whose results are dropped (their workers return when their
// run ends). It reports whether done ended it. A nil done never closes.
func ParallelSeedsUntil[R any](done <-chan struct{}, seeds []uint64, workers int, run func(seed uint64) R, emit func(R), stop func() bool) (interrupted bool) {
	workers = max(1, min(workers, len(seeds)))
	type result struct {
		index  int
		result R
	}
	jobs := make(chan int)
	results := make(chan result, workers)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				select {
				case results <- result{i, run(seeds[i])}:
				case <-quit:
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range seeds {
			select {
			case jobs <- i:
			case <-quit:
				return
			}
		}
	}()
	pending := map[int]R{}
	next := 0
	stopped := false
	for next < len(seeds) && !stopped && !interrupted {
		select {
		case <-done:
			interrupted = true
			continue
		case d := <-results:
			pending[d.index] = d.result
		}
		for !stopped && !interrupted {
			r, ok := pending[next]
			if !ok {
				break
			}
			// An interruption that came in while results were pending wins over emitting them: a
			// sweep told to stop writes nothing more.
			select {
			case <-done:
				interrupted = true
				continue
			default:
			}
			delete(pending, next)
			next++
			emit(r)
			stopped = stop != nil && stop()
		}
	}
	// Workers blocked on handing in a result that is no longer wanted see quit and return.
	close(quit)
	if !interrupted {
		wg.Wait()
	}
	return interrupted
}

// Tally counts verdicts.
type Tally struct {
	Seeds, Pass, Violation, Unknown, DataLoss, Crash int
	// ByCheck counts, per check, the seeds on which it found a violation.
	ByCheck map[string]int
}

// Add counts one result.
func (t *Tally) Add(r SeedResult) {
	t.Seeds++
	switch r.Verdict {
	case VerdictPass:
		t.Pass++
	case VerdictViolation:
		t.Violation++
	case VerdictUnknown:
		t.Unknown++
	case VerdictDataLoss:
		t.DataLoss++
	case VerdictCrash:
		t.Crash++
	}
	for _, c := range r.CaughtBy {
		if t.ByCheck == nil {
			t.ByCheck = map[string]int{}
		}
		t.ByCheck[c]++
	}
}

func (t Tally) String() string {
	s := fmt.Sprintf("%d seeds: %d pass, %d violation, %d unknown", t.Seeds, t.Pass, t.Violation, t.Unknown)
	if t.Crash > 0 {
		s += fmt.Sprintf(", %d crash", t.Crash)
	}
	if t.DataLoss > 0 {
		s += fmt.Sprintf(", %d data loss beyond redundancy (expected by the scenario)", t.DataLoss)
	}
	return s
}
