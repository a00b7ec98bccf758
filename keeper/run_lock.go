package main

// One keeper per run: a keeper takes an exclusive lock on `keeper.lock` in its run directory before anything else, and
// holds it for its whole life, shared with its guard. A launch sent again after its launcher died (launcher.go), when
// the first keeper did start, so finds the run taken and exits at once, touching nothing.

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

const runLockName = "keeper.lock"

// errRunTaken: another keeper holds the run, or held it: its start or its end is recorded.
var errRunTaken = errors.New("the run has a keeper already")

// takeRun locks the run for this keeper (close-on-exec: no script inherits it) and checks that no keeper before it
// started the run. The lock is released when the keeper and its guard are both gone, however they end.
func takeRun(files RunFiles) (*os.File, error) {
	lock, err := os.OpenFile(filepath.Join(files.Dir, runLockName), os.O_RDONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errRunTaken
		}
		return nil, err
	}
	// A keeper that ended (or was killed, its guard gone too) let the lock go: its records say the run is not new.
	if exists(files.State) || exists(files.Exit) {
		lock.Close()
		return nil, errRunTaken
	}
	return lock, nil
}
