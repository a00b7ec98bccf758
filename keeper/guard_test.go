package main

// The guard with real processes: this test binary plays the keeper (`--keep <run dir>`) and, started by it, the guard
// (`--guard`, as the built keeper does), so the test can SIGKILL either one.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const keepFlag = "--keep"

func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == guardFlag {
		guardMain(os.Args[2], KillMode(os.Args[3]))
		os.Exit(0)
	}
	if len(os.Args) == 4 && os.Args[1] == stopLeftFlag {
		os.Exit(stopLeftCommand(os.Args[2], KillMode(os.Args[3])))
	}
	if len(os.Args) == 3 && os.Args[1] == launcherFlag { // the launcher, starting os.Args[2] as its keeper
		launcherMain(os.Args[2])
		os.Exit(0)
	}
	if len(os.Args) == 3 && os.Args[1] == keepFlag {
		if err := keep(NewRunFiles(os.Args[2]), os.Environ()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// goneWithin: a stopped run's processes are gone within its kill grace (1 s) and this margin for a loaded machine.
const goneWithin = 10 * time.Second

type guardedRun struct {
	files  RunFiles
	keeper *os.Process
	// script and daemon: the run's main process and a child of it in a session of its own.
	script, daemon int
}

func startGuardedRun(t *testing.T, killMode KillMode, script string) *guardedRun {
	t.Helper()
	dir := t.TempDir()
	files := NewRunFiles(filepath.Join(dir, "run"))
	if err := os.Mkdir(files.Dir, 0o777); err != nil {
		t.Fatal(err)
	}
	spec := RunSpec{
		RunID: fmt.Sprintf("guard-test-%d-%d", os.Getpid(), time.Now().UnixNano()), File: "/bin/sh",
		Args: []string{"-c", script}, Cwd: dir, LogFile: filepath.Join(dir, "run.log"), LogLimitBytes: 1 << 20,
		KillGraceMs: 1_000, LeaseTimeoutMs: 600_000,
	}
	text, _ := json.Marshal(spec)
	os.WriteFile(files.Spec, text, 0o666)
	os.WriteFile(files.Lease, nil, 0o666)
	environment := withoutMarker(os.Environ())
	if killMode == processScanMode {
		environment = append(environment, "STAGED_KILL_MODE=process-scan")
	}
	keeper, err := os.StartProcess("/proc/self/exe", []string{"keeper", keepFlag, files.Dir}, &os.ProcAttr{
		Env: environment, Files: []*os.File{nil, os.Stderr, os.Stderr}, Sys: &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	go keeper.Wait() // reaped at once: a dead keeper must not linger as a zombie of the test
	run := &guardedRun{files: files, keeper: keeper}
	t.Cleanup(func() {
		keeper.Kill()
		existingTree(spec.RunID, cgroupMode).Stop(0)
		existingTree(spec.RunID, processScanMode).Stop(0)
		existingTree(spec.RunID, cgroupMode).Release()
	})
	waitFor(t, "the run's main process and its daemon", func() bool {
		var started RunStarted
		text, _ := os.ReadFile(files.State)
		daemon, _ := os.ReadFile(filepath.Join(dir, "daemon"))
		if json.Unmarshal(text, &started) != nil || len(daemon) == 0 {
			return false
		}
		run.script = started.Pid
		run.daemon, _ = strconv.Atoi(strings.TrimSpace(string(daemon)))
		return run.daemon > 0
	})
	return run
}

// daemonScript leaves a child in a session of its own (which no process group kill reaches).
const daemonScript = `setsid sleep 300 & echo $! > daemon.partial && mv daemon.partial daemon; `

func waitFor(t *testing.T, what string, condition func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(goneWithin); !condition(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", goneWithin, what)
		}
	}
	return time.Since(start)
}

// guardOf is the live guard process whose parent is keeperPid; 0 while there is none.
func guardOf(keeperPid int) int {
	entries, _ := os.ReadDir("/proc")
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + entry.Name() + "/comm")
		fields := statFields(pid)
		if strings.TrimSpace(string(comm)) == guardName && len(fields) > 1 && fields[1] == strconv.Itoa(keeperPid) &&
			alive(pid) {
			return pid
		}
	}
	return 0
}

func readExit(t *testing.T, files RunFiles) RunExit {
	t.Helper()
	var exit RunExit
	waitFor(t, "the run's end record", func() bool {
		text, err := os.ReadFile(files.Exit)
		return err == nil && json.Unmarshal(text, &exit) == nil
	})
	return exit
}

func eachKillMode(t *testing.T, test func(t *testing.T, mode KillMode)) {
	for _, mode := range []KillMode{cgroupMode, processScanMode} {
		t.Run(string(mode), func(t *testing.T) {
			if mode == cgroupMode && RunTreeFor("guard-probe-"+strconv.Itoa(os.Getpid()), "").Mode() != cgroupMode {
				t.Skip("no writable cgroup v2 here")
			}
			existingTree("guard-probe-"+strconv.Itoa(os.Getpid()), cgroupMode).Release()
			test(t, mode)
		})
	}
}

func TestAKeeperKilledLeavesNoProcessOfItsRunAndItsGuardRecordsWhy(t *testing.T) {
	eachKillMode(t, func(t *testing.T, mode KillMode) {
		run := startGuardedRun(t, mode, daemonScript+"sleep 300")
		waitFor(t, "the run's guard", func() bool { return guardOf(run.keeper.Pid) != 0 })
		run.keeper.Signal(syscall.SIGKILL)
		took := waitFor(t, "the script and its daemon to be gone", func() bool {
			return !alive(run.script) && !alive(run.daemon)
		})
		t.Logf("%s: script and daemon gone %v after the keeper's SIGKILL", mode, took.Round(time.Millisecond))
		exit := readExit(t, run.files)
		expectEqual(t, exit.End, RunEnd("abandoned"))
		// The script and its daemon at least (its last sleep may not have started yet).
		if !regexp.MustCompile(`its guard stopped the run \([23] processes left\)$`).MatchString(exit.Error) {
			t.Fatalf("the end record says %q", exit.Error)
		}
		output, _ := os.ReadFile(filepath.Join(filepath.Dir(run.files.Dir), "run.log"))
		if !strings.HasSuffix(string(output), "\n[staged] run stopped: "+exit.Error+"\n") {
			t.Fatalf("the attempt log ends with %q, not with why the run stopped", output)
		}
	})
}

func TestAGuardKilledAloneChangesNothingAndAnotherTakesItsPlace(t *testing.T) {
	eachKillMode(t, func(t *testing.T, mode KillMode) {
		run := startGuardedRun(t, mode, daemonScript+"sleep 300")
		var first int
		waitFor(t, "the run's guard", func() bool { first = guardOf(run.keeper.Pid); return first != 0 })
		syscall.Kill(first, syscall.SIGKILL)
		waitFor(t, "a new guard", func() bool {
			second := guardOf(run.keeper.Pid)
			return second != 0 && second != first
		})
		if !alive(run.script) || !alive(run.daemon) || exists(run.files.Exit) {
			t.Fatal("the run was stopped when its guard alone was killed")
		}
		// The new guard holds the fence too.
		run.keeper.Signal(syscall.SIGKILL)
		waitFor(t, "the script and its daemon to be gone", func() bool {
			return !alive(run.script) && !alive(run.daemon)
		})
		expectEqual(t, readExit(t, run.files).End, RunEnd("abandoned"))
	})
}

func TestARunThatEndsKeepsItsKeepersEndRecordAndItsGuardGoes(t *testing.T) {
	run := startGuardedRun(t, "", "echo 1 > daemon; while [ ! -e end ]; do sleep 0.05; done; exit 3")
	var guard int
	waitFor(t, "the run's guard", func() bool { guard = guardOf(run.keeper.Pid); return guard != 0 })
	os.WriteFile(filepath.Join(filepath.Dir(run.files.Dir), "end"), nil, 0o666)
	exit := readExit(t, run.files)
	expectEqual(t, exit.End, RunEnd("exited"))
	expectEqual(t, *exit.ExitCode, 3)
	waitFor(t, "the keeper and its guard to be gone", func() bool { return !alive(run.keeper.Pid) && !alive(guard) })
	after, _ := os.ReadFile(run.files.Exit)
	if !strings.Contains(string(after), `"end":"exited"`) {
		t.Fatalf("the end record was changed after the keeper's exit: %s", after)
	}
}

// freezerV1 is the cgroup v1 freezer's mount, where a frozen process outlives SIGKILL (uninterruptible, state D)
// until it is thawed; the cgroup v2 freezer lets SIGKILL through.
const freezerV1 = "/sys/fs/cgroup/freezer"

// freezeForGood puts pid in a frozen cgroup v1 freezer of its own until the test ends: it then outlives its SIGKILL.
func freezeForGood(t *testing.T, pid int) {
	t.Helper()
	dir := filepath.Join(freezerV1, fmt.Sprintf("staged-test-%d-%d", os.Getpid(), pid))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("no cgroup v1 freezer to keep a process from its SIGKILL (%v)", err)
	}
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0o644)
		for deadline := time.Now().Add(goneWithin); syscall.Rmdir(dir) != nil && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	})
	os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
	os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("FROZEN"), 0o644)
	waitFor(t, "the process to be frozen", func() bool { return processState(pid) == "D" })
}

// A stop that cannot end every process of its run says so: here the run's daemon is frozen by a cgroup v1 freezer
// (as a process in uninterruptible sleep on a hung mount would be), and the end record names it.
func TestAGuardThatCannotStopEveryProcessRecordsWhichSurvived(t *testing.T) {
	eachKillMode(t, func(t *testing.T, mode KillMode) {
		run := startGuardedRun(t, mode, daemonScript+"sleep 300")
		freezeForGood(t, run.daemon)
		waitFor(t, "the run's guard", func() bool { return guardOf(run.keeper.Pid) != 0 })
		run.keeper.Signal(syscall.SIGKILL)
		waitFor(t, "the script to be gone", func() bool { return !alive(run.script) })
		var exit RunExit
		// The stop waits 5 s after its SIGKILL before it gives up; a margin for a loaded machine.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if text, err := os.ReadFile(run.files.Exit); err == nil && json.Unmarshal(text, &exit) == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no end record 30 s after the keeper's SIGKILL")
			}
		}
		expectEqual(t, exit.End, RunEnd("abandoned"))
		expectEqual(t, fmt.Sprint(survivorPids(exit)), fmt.Sprint([]int{run.daemon}))
		want := regexp.MustCompile(`its guard tried to stop the run \([23] processes left\): 1 process still there 5s ` +
			`after its SIGKILL \(pids ` + strconv.Itoa(run.daemon) + `\)$`)
		if !want.MatchString(exit.Error) {
			t.Fatalf("the end record says %q", exit.Error)
		}
		if !alive(run.daemon) {
			t.Fatal("the frozen daemon is gone: nothing survived the stop")
		}
	})
}

// The keeper's own stop (here of what its script left when it exited) records what it could not end the same way.
func TestAKeeperThatCannotStopEveryProcessRecordsWhichSurvived(t *testing.T) {
	eachKillMode(t, func(t *testing.T, mode KillMode) {
		run := startGuardedRun(t, mode, daemonScript+"while [ ! -e end ]; do sleep 0.05; done")
		freezeForGood(t, run.daemon)
		os.WriteFile(filepath.Join(filepath.Dir(run.files.Dir), "end"), nil, 0o666)
		var exit RunExit
		// The stop waits 5 s after its SIGKILL before it gives up; a margin for a loaded machine.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if text, err := os.ReadFile(run.files.Exit); err == nil && json.Unmarshal(text, &exit) == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no end record 30 s after the script's end")
			}
		}
		expectEqual(t, exit.End, RunEnd("exited"))
		expectEqual(t, fmt.Sprint(survivorPids(exit)), fmt.Sprint([]int{run.daemon}))
		keeperLog, _ := os.ReadFile(run.files.KeeperLog)
		want := "the run's stop gave up: 1 process still there 5s after its SIGKILL (pids " + strconv.Itoa(run.daemon) + ")"
		if !strings.Contains(string(keeperLog), want) {
			t.Fatalf("keeper.log says %q", keeperLog)
		}
	})
}

func survivorPids(exit RunExit) []int {
	var pids []int
	for _, survivor := range exit.Survivors {
		pids = append(pids, survivor.Pid)
	}
	return pids
}
