package main

// A run whose keeper a worker found gone without an end record (`staged-keeper --stop-left <run dir> <kill mode>`):
// the worker asks this binary to stop what the keeper left, as the run's guard would, so that one stop (thaw, SIGTERM
// to each member as it appears, SIGKILL, survivors recorded, signals through pidfds) serves both. It first takes the
// run's lock: while a keeper or its guard holds it, they record the run's end themselves, and nothing is done here.
// The kill mode is the one in the keeper's state.json; "" where there is none (existingTree then finds the run's).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

const stopLeftFlag = "--stop-left"

// The exit codes of --stop-left.
const (
	stopLeftRecorded = 0 // the run's end is recorded (here, or before by its keeper or guard)
	stopLeftFailed   = 1
	stopLeftHeld     = 3 // a keeper or its guard still holds the run
	// stopLeftGone: the run's directory is gone, or was made again for a new run while this waited for the lock.
	stopLeftGone = 4
	// stopLeftNoSpec: the run's spec is unreadable, and its state.json does not keep its run id, so what it left
	// cannot be found (its run id names it): not stopped.
	stopLeftNoSpec = 5
)

// stopLeftLockMargin: a guard stopping the run holds its lock through the kill grace and killWait; a lock held longer is
// a live keeper's.
const stopLeftLockMargin = 2 * time.Second

// stopLeftCommand is the process `staged-keeper --stop-left` runs; its exit code is stopLeftMain's.
func stopLeftCommand(runDir string, mode KillMode) int {
	// A worker's Ctrl-C (its process group) and a service manager's SIGTERM to each of its processes are not for this
	// stop: ended halfway, it would leave the run's processes running with no end recorded. It starts no process.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	return stopLeftMain(runDir, mode)
}

func stopLeftMain(runDir string, mode KillMode) int {
	files := NewRunFiles(runDir)
	grace := time.Duration(0)
	if spec, _ := SpecForStop(files); spec != nil {
		grace = time.Duration(spec.KillGraceMs * float64(time.Millisecond))
	}
	lock, err := waitForRunLock(files, grace+killWait+stopLeftLockMargin)
	if err == errRunTaken {
		return stopLeftHeld
	}
	if err == errRunGone {
		return stopLeftGone
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "staged keeper: cannot lock the run in %s: %v\n", runDir, err)
		return stopLeftFailed
	}
	defer lock.Close()
	if err := stopAbandonedRun(files, mode, "the worker that found it gone"); err != nil {
		fmt.Fprintf(os.Stderr, "its spec.json is unreadable (%v): what it left cannot be found to stop it\n", err)
		return stopLeftNoSpec
	}
	if !exists(files.Exit) {
		fmt.Fprintf(os.Stderr, "staged keeper: no end recorded for the run in %s (see its keeper.log)\n", runDir)
		return stopLeftFailed
	}
	return stopLeftRecorded
}

// errRunGone: the run's directory is gone, or is a new run's.
var errRunGone = errors.New("the run's directory is gone")

// waitForRunLock takes the run's lock once its keeper and guard have let it go, or gives errRunTaken after within.
func waitForRunLock(files RunFiles, within time.Duration) (*os.File, error) {
	path := filepath.Join(files.Dir, runLockName)
	lock, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o666)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errRunGone
	}
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(within)
	for {
		err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// The lock of a directory removed meanwhile: the one at its path now (a run of the same key) is not this.
			if !stillAt(lock, path) {
				lock.Close()
				return nil, errRunGone
			}
			return lock, nil
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			lock.Close()
			if err == syscall.EWOULDBLOCK {
				return nil, errRunTaken
			}
			return nil, err
		}
		time.Sleep(pollEvery)
	}
}

func stillAt(file *os.File, path string) bool {
	opened, err := file.Stat()
	if err != nil {
		return false
	}
	now, err := os.Stat(path)
	return err == nil && os.SameFile(opened, now)
}
