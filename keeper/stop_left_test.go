package main

// --stop-left with real processes: the run of a keeper killed together with its guard, stopped on a worker's behalf.

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// killKeeperAndGuard leaves the run with no keeper and no guard: the keeper is stopped first, so it starts no new one.
func killKeeperAndGuard(t *testing.T, run *guardedRun) {
	t.Helper()
	var guard int
	waitFor(t, "the run's guard", func() bool { guard = guardOf(run.keeper.Pid); return guard != 0 })
	run.keeper.Signal(syscall.SIGSTOP)
	syscall.Kill(guard, syscall.SIGKILL)
	run.keeper.Signal(syscall.SIGKILL)
	waitFor(t, "the keeper and its guard to be gone", func() bool { return !alive(run.keeper.Pid) && !alive(guard) })
}

func TestARunLeftWithNoKeeperNorGuardIsStoppedAndRecordedByStopLeft(t *testing.T) {
	eachKillMode(t, func(t *testing.T, mode KillMode) {
		run := startGuardedRun(t, mode, daemonScript+"sleep 300")
		killKeeperAndGuard(t, run)
		if !alive(run.script) || !alive(run.daemon) || exists(run.files.Exit) {
			t.Fatal("the run ended before --stop-left: nothing is left to test")
		}
		expectEqual(t, stopLeftMain(run.files.Dir, mode), stopLeftRecorded)
		if alive(run.script) || alive(run.daemon) {
			t.Fatal("a process of the run outlived --stop-left")
		}
		exit := readExit(t, run.files)
		expectEqual(t, exit.End, RunEnd("abandoned"))
		if !strings.Contains(exit.Error, "the worker that found it gone stopped the run (") {
			t.Fatalf("the end record says %q", exit.Error)
		}
		// Asked again (a second worker, say): the end stays as recorded.
		expectEqual(t, stopLeftMain(run.files.Dir, mode), stopLeftRecorded)
		expectEqual(t, readExit(t, run.files).EndedAt, exit.EndedAt)
	})
}

func TestStopLeftTouchesNothingWhileTheRunsKeeperHoldsIt(t *testing.T) {
	run := startGuardedRun(t, "", daemonScript+"sleep 300")
	started := time.Now()
	expectEqual(t, stopLeftMain(run.files.Dir, ""), stopLeftHeld)
	// It waited for a guard's whole stop (kill grace 1 s, killWait, the margin) before saying the run is held.
	if took := time.Since(started); took < time.Second+killWait {
		t.Fatalf("gave up on the lock after %v", took)
	}
	if !alive(run.script) || !alive(run.daemon) || exists(run.files.Exit) {
		t.Fatal("--stop-left stopped a run its keeper still holds")
	}
}
