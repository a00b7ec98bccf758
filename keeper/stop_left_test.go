package main

// --stop-left with real processes: the run of a keeper killed together with its guard, stopped on a worker's behalf.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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

// A worker that never read the run's state.json (its keeper died before writing it, or the worker did not wait) passes
// no kill mode: a run the keeper put in a cgroup is stopped by its cgroup, which a process that cleared its
// environment (and so its marker) cannot leave.
func TestStopLeftWithNoKillModeStopsARunInItsCgroup(t *testing.T) {
	if RunTreeFor("stop-left-probe-"+strconv.Itoa(os.Getpid()), "").Mode() != cgroupMode {
		t.Skip("no writable cgroup v2 here")
	}
	existingTree("stop-left-probe-"+strconv.Itoa(os.Getpid()), cgroupMode).Release()
	run := startGuardedRun(t, cgroupMode,
		daemonScript+"setsid env -i /bin/sleep 300 & echo $! > unmarked.partial && mv unmarked.partial unmarked; sleep 300")
	var unmarked int
	waitFor(t, "the process with no marker", func() bool {
		text, _ := os.ReadFile(filepath.Join(filepath.Dir(run.files.Dir), "unmarked"))
		unmarked, _ = strconv.Atoi(strings.TrimSpace(string(text)))
		return unmarked > 0
	})
	killKeeperAndGuard(t, run)
	os.Remove(run.files.State) // as if the keeper had died before recording its start

	expectEqual(t, stopLeftMain(run.files.Dir, ""), stopLeftRecorded)
	// Before: stopped by a process scan, which misses it, and recorded as stopped while it ran on.
	if alive(run.script) || alive(run.daemon) || alive(unmarked) {
		t.Fatal("a process of the run outlived --stop-left")
	}
}

// A run frozen by its keeper, which died, then resumed (`resume` removes the freeze request; no keeper thaws it): the
// stop thaws it first all the same, so that its processes see their SIGTERM and may shut down cleanly.
func TestStopLeftThawsARunItsDeadKeeperFroze(t *testing.T) {
	eachKillMode(t, func(t *testing.T, mode KillMode) {
		run := startGuardedRun(t, mode,
			daemonScript+`exec >/dev/null 2>&1; trap 'echo > termed; exit 0' TERM; while :; do sleep 0.1; done`)
		os.WriteFile(run.files.FreezeRequest, nil, 0o666)
		waitFor(t, "the run to be frozen", func() bool {
			var record FrozenRecord
			text, _ := os.ReadFile(run.files.Frozen)
			return json.Unmarshal(text, &record) == nil && record.Since != nil
		})
		killKeeperAndGuard(t, run)
		os.Remove(run.files.FreezeRequest)

		expectEqual(t, stopLeftMain(run.files.Dir, mode), stopLeftRecorded)
		// Before: left frozen, it never saw its SIGTERM and was SIGKILLed once the grace was over.
		if !exists(filepath.Join(filepath.Dir(run.files.Dir), "termed")) {
			t.Fatal("the run's script did not get its SIGTERM")
		}
	})
}

// A worker's Ctrl-C reaches its whole process group, --stop-left included, and systemd's stop of a worker's service
// sends SIGTERM to each of its processes: a stop under way goes on to its end record all the same.
func TestStopLeftIsNotStoppedHalfwayByTheWorkersSignals(t *testing.T) {
	run := startGuardedRun(t, processScanMode, daemonScript+`trap '' TERM; while :; do sleep 0.1; done`)
	killKeeperAndGuard(t, run)
	stop, err := os.StartProcess("/proc/self/exe", []string{"staged-keeper", stopLeftFlag, run.files.Dir, "process-scan"},
		&os.ProcAttr{Files: []*os.File{nil, os.Stderr, os.Stderr}})
	if err != nil {
		t.Fatal(err)
	}
	lock, _ := os.Open(filepath.Join(run.files.Dir, runLockName))
	defer lock.Close()
	// Its signals ignored first: a signal sent while its runtime still starts would end it, as it would any program.
	waitFor(t, "--stop-left to hold the run", func() bool {
		if !ignoresStopSignals(stop.Pid) {
			return false
		}
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			return err == syscall.EWOULDBLOCK
		}
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) // not taken yet: let it go at once
		return false
	})
	for _, signal := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		stop.Signal(signal)
	}
	state, _ := stop.Wait()
	// Before: killed by the SIGINT, the run's processes left running and no end recorded.
	expectEqual(t, state.String(), "exit status 0")
	expectEqual(t, readExit(t, run.files).End, RunEnd("abandoned"))
	if alive(run.script) || alive(run.daemon) {
		t.Fatal("a process of the run outlived --stop-left")
	}
}

// A run's directory removed while --stop-left waits for its guard, then made again for a new run of the same key (a
// batch id used again): the lock --stop-left then takes is the removed run's, and the new run is not its to stop.
func TestStopLeftLeavesANewRunInADirectoryMadeAgainAlone(t *testing.T) {
	run := startGuardedRun(t, processScanMode, daemonScript+"sleep 300")
	killKeeperAndGuard(t, run)
	// A long grace: --stop-left waits for the lock that long, so a slow machine does not make it give up first.
	parsed, _ := ReadSpec(run.files)
	parsed.KillGraceMs = 120_000
	WriteJSON(run.files.Spec, parsed)
	spec, _ := os.ReadFile(run.files.Spec)
	guardLock, _ := os.Open(filepath.Join(run.files.Dir, runLockName)) // as a guard still stopping the run
	syscall.Flock(int(guardLock.Fd()), syscall.LOCK_EX)
	result := make(chan int, 1)
	go func() { result <- stopLeftMain(run.files.Dir, processScanMode) }()
	lockPath := filepath.Join(run.files.Dir, runLockName)
	// The lock itself: its read of spec.json before it, also in the directory, once made this pass too soon.
	waitFor(t, "--stop-left to open the run's lock", func() bool { return openCount(lockPath) == 2 })

	os.Rename(run.files.Dir, run.files.Dir+".removed")
	os.Mkdir(run.files.Dir, 0o777)
	os.WriteFile(run.files.Spec, spec, 0o666) // the same run id: named by the run key and the directory
	newKeeperLock, _ := os.OpenFile(filepath.Join(run.files.Dir, runLockName), os.O_RDONLY|os.O_CREATE, 0o666)
	defer newKeeperLock.Close()
	syscall.Flock(int(newKeeperLock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	guardLock.Close() // the guard is done

	expectEqual(t, <-result, stopLeftGone)
	// Before: it stopped the new run's processes (they carry the same marker) and recorded it abandoned.
	if !alive(run.script) || !alive(run.daemon) || exists(run.files.Exit) {
		t.Fatal("--stop-left stopped the run that took the directory")
	}
}

func TestStopLeftOfARemovedRunDirectorySaysItIsGone(t *testing.T) {
	expectEqual(t, stopLeftMain(filepath.Join(t.TempDir(), "removed"), processScanMode), stopLeftGone)
}

// openCount: how many times this process has the file open.
func openCount(file string) int {
	entries, _ := os.ReadDir("/proc/self/fd")
	count := 0
	for _, entry := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + entry.Name()); err == nil && target == file {
			count++
		}
	}
	return count
}

// ignoresStopSignals: SIGHUP, SIGINT and SIGTERM are in the process's ignored set (SigIgn in /proc/<pid>/status).
func ignoresStopSignals(pid int) bool {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(status), "\n") {
		if mask, found := strings.CutPrefix(line, "SigIgn:\t"); found {
			ignored, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			want := uint64(1)<<(syscall.SIGHUP-1) | uint64(1)<<(syscall.SIGINT-1) | uint64(1)<<(syscall.SIGTERM-1)
			return err == nil && ignored&want == want
		}
	}
	return false
}

// A run whose keeper and guard died and whose spec.json is gone (a user's rm): its keeper kept its run id in
// state.json, which finds its processes; the run is stopped and its end recorded.
func TestStopLeftOfARunWithoutItsSpecStopsItByTheRunIdInItsState(t *testing.T) {
	eachKillMode(t, func(t *testing.T, mode KillMode) {
		run := startGuardedRun(t, mode, daemonScript+"sleep 300")
		killKeeperAndGuard(t, run)
		os.Remove(run.files.Spec)
		// Before: exit 5 (its processes cannot be found), and the run held as running until a user stopped them.
		expectEqual(t, stopLeftMain(run.files.Dir, mode), stopLeftRecorded)
		if alive(run.script) || alive(run.daemon) {
			t.Fatal("a process of the run outlived --stop-left")
		}
		expectEqual(t, readExit(t, run.files).End, RunEnd("abandoned"))
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(run.files.Dir), "run.log"))
		if !strings.Contains(string(log), "[staged] run stopped: its keeper died without recording an end; ") {
			t.Fatalf("the attempt log does not say why it ends: %q", log)
		}
	})
}

// The same with a state.json that keeps no run id (a keeper of staged before 2026-12-08): its processes cannot be
// found, and --stop-left says so with its own exit code, records no end, and leaves them be (nobody may take them for
// stopped).
func TestStopLeftOfARunWithoutItsSpecNorItsRunIdSaysItCannotStopIt(t *testing.T) {
	run := startGuardedRun(t, processScanMode, daemonScript+"sleep 300")
	killKeeperAndGuard(t, run)
	os.Remove(run.files.Spec)
	started, _ := readRecord[RunStarted](run.files.State)
	started.RunID, started.KillGraceMs, started.LogFile = "", 0, ""
	WriteJSON(run.files.State, started)
	// Before: exit 1 (a failure like any other, "no end recorded")
	expectEqual(t, stopLeftMain(run.files.Dir, processScanMode), stopLeftNoSpec)
	if exists(run.files.Exit) {
		t.Fatal("an end was recorded for a run nothing stopped")
	}
	if !alive(run.script) || !alive(run.daemon) {
		t.Fatal("a process of the run is gone")
	}
	syscall.Kill(run.script, syscall.SIGKILL)
	syscall.Kill(run.daemon, syscall.SIGKILL)
}
