//go:build !unix

package main

import (
	"errors"
	"os"
)

// outputLock is a lock file created exclusively, where flock(2) does not exist. Unlike flock, it
// outlives a process that is killed outright: the error then names the file to remove.
type outputLock struct {
	path string
}

func lockOutput(path string) (*outputLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil, errOutputLocked
	}
	if err != nil {
		return nil, err
	}
	f.Close()
	return &outputLock{path: path}, nil
}

func (l *outputLock) release() {
	if l == nil || l.path == "" {
		return
	}
	os.Remove(l.path)
	l.path = ""
}
