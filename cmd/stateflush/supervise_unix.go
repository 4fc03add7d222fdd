//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// The Go runtime ends a process that hits a fatal error (out of memory, a stack overflow, a
// concurrent map write, a panic on a goroutine that nobody recovers) with exit code 2, which is
// the code of usage errors here, and no code of the process runs after it. So the command runs
// itself as a child, with the runtime's crash output going to a file as well as to stderr, and the
// parent, which does nothing else, turns a crash of the child into exit code 5 (exitCrash).

// envSupervised, in the child's environment, names the descriptor of its crash output file.
const envSupervised = "STATEFLUSH_SUPERVISED"

// crashFD is the child's descriptor of the crash output file (the first of cmd.ExtraFiles).
const crashFD = 3

// supervise runs the command as a child and returns its exit code, or exitCrash when the Go
// runtime ended it. ok is false in the child itself, and when no child can be started (then the
// command runs in this process, without the crash code).
func supervise() (code int, ok bool) {
	if os.Getenv(envSupervised) != "" {
		os.Unsetenv(envSupervised) // for the commands this one starts
		crash := os.NewFile(crashFD, "crash output")
		syscall.CloseOnExec(crashFD)
		if crash != nil {
			_ = debug.SetCrashOutput(crash, debug.CrashOptions{})
			crash.Close()
		}
		return 0, false
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, false
	}
	crash, err := os.CreateTemp("", "stateflush-crash-*")
	if err != nil {
		return 0, false
	}
	defer os.Remove(crash.Name())
	defer crash.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{crash}
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", envSupervised, crashFD))
	// SIGINT and SIGTERM go to the child (which saves its work and exits 130); a signal the
	// terminal sends to both reaches the child twice, which it takes as one.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		return 0, false
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-signals:
			_ = cmd.Process.Signal(sig)
			continue
		case err = <-done:
		}
		break
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintf(os.Stderr, "stateflush: waiting for the command: %v\n", err)
		return exitInternal, true
	}
	if info, serr := crash.Stat(); serr == nil && info.Size() > 0 {
		fmt.Fprintf(os.Stderr, "stateflush: the Go runtime ended the command (the fatal error or panic above): exit %d\n", exitCrash)
		return exitCrash, true
	}
	if status, isWait := cmd.ProcessState.Sys().(syscall.WaitStatus); isWait && status.Signaled() {
		return 128 + int(status.Signal()), true
	}
	return cmd.ProcessState.ExitCode(), true
}
