//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// outputLock is an exclusive flock(2) on a lock file. The kernel drops it when the process ends,
// however it ends, so a killed sweep leaves no lock that a later one must clear by hand.
type outputLock struct {
	file *os.File
}

// lockOutput takes the lock at path without waiting; errOutputLocked when another process holds it.
func lockOutput(path string) (*outputLock, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, errOutputLocked
			}
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		// The holder removes the lock file before it unlocks; a lock taken on a file that was
		// removed meanwhile guards nothing, so take the one now at path.
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return &outputLock{file: f}, nil
		}
		f.Close()
	}
}

// release removes the lock file, then unlocks it (in this order: see lockOutput).
func (l *outputLock) release() {
	if l == nil || l.file == nil {
		return
	}
	os.Remove(l.file.Name())
	l.file.Close()
	l.file = nil
}
