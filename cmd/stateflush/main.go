package main

import (
	"os"
	"runtime/debug"
)

// batchGCPercent is the garbage collector's target when the user sets no GOGC. Simulations allocate
// many short-lived values and each run's heap is small, so collecting less often is much faster:
// measured on 2 cores, a 600-seed sweep of the default scenario ran at 97 seeds/s with the default
// (100) and 167 seeds/s with 400, most of the difference being the collector's system time.
const batchGCPercent = 400

func main() {
	if code, ok := supervise(); ok {
		os.Exit(code)
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(batchGCPercent)
	}
	crashForTest(os.Getenv(envCrashTest))
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// envCrashTest makes the command crash the way only the Go runtime can end it, so that a test can
// see the exit code of a crash: "panic" (on a goroutine nobody recovers) or "stack-overflow" (a
// fatal error, which no recover catches).
const envCrashTest = "STATEFLUSH_CRASH_TEST"

func crashForTest(how string) {
	switch how {
	case "panic":
		// The main goroutine waits for ever: the panic must end the process. (Waiting on a channel
		// the panicking goroutine closes in a defer let main run on and exit 0 first, now and then.)
		go func() { panic("crash requested by " + envCrashTest) }()
		select {}
	case "stack-overflow":
		debug.SetMaxStack(1 << 20)
		recurse(0)
	}
}

func recurse(n int) int {
	var pad [64]byte
	pad[n%64] = byte(n)
	return recurse(n+1) + int(pad[0])
}
