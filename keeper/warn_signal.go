package main

import "syscall"

// `--signal-before`: a run is warned (SIGUSR1 by default) once, that long before its `--timeout` stops it, so it
// can save a checkpoint and exit REQUEUE_EXIT_CODE. Counted in time not frozen, as the timeout is.

// RunWarning is the warning as a run's spec carries it.
type RunWarning struct {
	Signal string `json:"signal"`
	// BeforeMs is how much of the timeout is left when the signal is sent.
	BeforeMs float64 `json:"beforeMs"`
}

// IsWarningDue: true once the run has run unfrozen for its timeout less BeforeMs.
func IsWarningDue(clock *FrozenTime, startedAt, now int64, timeoutMs *float64, warning *RunWarning) bool {
	if timeoutMs == nil || warning == nil || clock.Frozen() {
		return false
	}
	return float64(clock.RunningMs(startedAt, now)) >= max(0, *timeoutMs-warning.BeforeMs)
}

// SendWarning sends the warning to the run's main process; false when it is gone or the signal is unknown here.
func SendWarning(pid int, warning *RunWarning) bool {
	number, known := signalNumber(warning.Signal)
	return known && syscall.Kill(pid, number) == nil
}
