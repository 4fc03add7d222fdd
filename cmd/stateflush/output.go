package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// partialSuffix names the file a command writes until its output is complete: FILE.partial, beside
// FILE, so that FILE itself (an older output, or nothing) stays as it was until the new one is whole
// and a rename replaces it in one step.
const partialSuffix = ".partial"

// lockSuffix names the lock file that keeps a second writer off the same output.
const lockSuffix = ".lock"

// outputFile is the file --out names, written as FILE.partial under FILE.lock and renamed to FILE
// by commit.
type outputFile struct {
	*bufio.Writer
	path, partial string
	file          *os.File
	lock          *outputLock
	done          bool
}

// errOutputLocked is the error of a second writer of one output.
var errOutputLocked = errors.New("locked")

// createOutput takes FILE's lock and starts FILE.partial. A second writer of the same FILE is
// refused, naming the lock file, until the first one ends.
func createOutput(path string) (*outputFile, error) {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return nil, badInput("--out %s: is a directory", path)
	}
	lock, err := lockOutput(path + lockSuffix)
	if errors.Is(err, errOutputLocked) {
		return nil, badInput("--out %s: another stateflush is writing it (lock file %s%s is held; it is released when that command ends)", path, path, lockSuffix)
	}
	if err != nil {
		return nil, asBadInput(fmt.Errorf("--out %s: %w", path, err))
	}
	partial := path + partialSuffix
	f, err := os.Create(partial)
	if err != nil {
		lock.release()
		return nil, asBadInput(fmt.Errorf("--out: %w", err))
	}
	return &outputFile{Writer: bufio.NewWriter(f), path: path, partial: partial, file: f, lock: lock}, nil
}

// sync flushes the buffer and makes the bytes durable, naming the file in any error.
func (o *outputFile) sync() error {
	if err := o.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", o.partial, err)
	}
	if err := o.file.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", o.partial, err)
	}
	return nil
}

// commit ends a complete output: FILE.partial replaces FILE, and the lock is released.
func (o *outputFile) commit() error {
	o.done = true
	defer o.lock.release()
	err := o.sync()
	if cerr := o.file.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %w", o.partial, cerr)
	}
	if err != nil {
		return err
	}
	if err := os.Rename(o.partial, o.path); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// keepPartial ends an incomplete output (an interrupted sweep): the whole lines written so far stay
// in FILE.partial, FILE is left as it was, and the lock is released.
func (o *outputFile) keepPartial() error {
	o.done = true
	defer o.lock.release()
	err := o.sync()
	if cerr := o.file.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %w", o.partial, cerr)
	}
	return err
}

// abandon ends an output on an error path: FILE.partial is removed (a no-op after commit or
// keepPartial).
func (o *outputFile) abandon() {
	if o.done {
		return
	}
	o.done = true
	o.file.Close()
	os.Remove(o.partial)
	o.lock.release()
}

var _ io.Writer = (*outputFile)(nil)
