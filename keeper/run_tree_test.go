package main

// The process-scan way of finding and stopping a run's processes (where no cgroup can be made): real process
// trees, in new sessions and double-forked, all carrying the run's marker.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTree starts a main process with a child in a new session and a double-forked one; their pids, main first.
func startTree(t *testing.T, runID, setup string) []int {
	t.Helper()
	dir := t.TempDir()
	script := strings.Join([]string{
		setup,
		`setsid sh -c 'echo $$ > "$D/setsid"; exec sleep 300' &`,
		`sh -c '(sh -c "echo \$\$ > \"\$D/double\"; exec sleep 300" &)'`,
		`echo $$ > "$D/main"`,
		"exec sleep 300",
	}, "\n")
	main := exec.Command("/bin/sh", "-c", script)
	main.Env = []string{"PATH=" + os.Getenv("PATH"), "D=" + dir, runMarker + "=" + runID}
	main.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := main.Start(); err != nil {
		t.Fatal(err)
	}
	go main.Wait()
	pidIn := func(name string) int {
		text, _ := os.ReadFile(filepath.Join(dir, name))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(text)))
		return pid
	}
	for deadline := time.Now().Add(20 * time.Second); pidIn("setsid") == 0 || pidIn("double") == 0 || pidIn("main") == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the tree did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pids := []int{pidIn("main"), pidIn("setsid"), pidIn("double")}
	t.Cleanup(func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return pids
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil && processState(pid) != "Z"
}

func TestProcessScanFindsEveryMarkedProcessWhereverItWentAndStopsThemAll(t *testing.T) {
	runID := fmt.Sprintf("go-scan-%d-%d", os.Getpid(), time.Now().UnixNano())
	mine := startTree(t, runID, `trap "" TERM`)
	other := startTree(t, runID+"0", "")
	tree := RunTreeFor(runID, processScanMode)
	expectEqual(t, tree.Mode(), processScanMode)
	file, args := tree.Wrap("/bin/sh", []string{"-c", "exit 0"})
	expectEqual(t, words(file, args), "/bin/sh [-c exit 0]")

	members := tree.Members()
	slices.Sort(members)
	slices.Sort(mine)
	expectEqual(t, words(members), words(mine))

	stoppingAt := time.Now()
	tree.Stop(500 * time.Millisecond) // its main process ignores SIGTERM: SIGKILLed after the grace
	if time.Since(stoppingAt) < 500*time.Millisecond {
		t.Fatal("stopped before the grace was over")
	}
	expectEqual(t, len(tree.Members()), 0)
	for _, pid := range other {
		if !alive(pid) {
			t.Fatalf("another run's process %d stopped", pid)
		}
	}
}

func TestAForcedProcessScanIsReadFromTheEnvironment(t *testing.T) {
	expectEqual(t, forcedKillMode([]string{"A=1", "STAGED_KILL_MODE=process-scan"}), processScanMode)
	expectEqual(t, forcedKillMode([]string{"STAGED_KILL_MODE=cgroup"}), KillMode(""))
	expectEqual(t, words(withMarker([]string{"A=1", runMarker + "=old"}, "new")), "[A=1 "+runMarker+"=new]")
}

// A process is in the middle of an exec for a moment: its old program gone, its environment not yet written into the
// new one, so that /proc/<pid>/environ reads empty. A scan then must not miss it: a guard's stop that missed a setsid
// daemon starting `sleep` took the run for stopped and left the daemon running (guard_test, about 1 in 500 under load).
func TestProcessScanFindsAProcessInTheMiddleOfAnExec(t *testing.T) {
	runID := fmt.Sprintf("go-exec-%d-%d", os.Getpid(), time.Now().UnixNano())
	// One process, one pid, executing itself again and again.
	execing := exec.Command("/bin/sh", "-c", `exec /bin/sh -c "$0" "$0"`, `exec /bin/sh -c "$0" "$0"`)
	execing.Env = []string{"PATH=" + os.Getenv("PATH"), runMarker + "=" + runID}
	if err := execing.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		execing.Process.Kill()
		execing.Wait()
	})
	tree := RunTreeFor(runID, processScanMode)
	scans, missed := 0, 0
	for start := time.Now(); time.Since(start) < time.Second; scans++ {
		if !slices.Equal(tree.Members(), []int{execing.Process.Pid}) {
			missed++
		}
	}
	if missed > 0 {
		t.Fatalf("%d of %d scans missed the process while it executed itself again and again", missed, scans)
	}
	t.Logf("%d scans found it", scans)
}

// A stop's first scan finds the processes there at its start; one forked during the grace (here by the main process's
// SIGTERM trap) must get its SIGTERM too, from a later scan, not only the SIGKILL once the grace is over.
func TestAProcessForkedDuringTheGraceGetsItsSigtermToo(t *testing.T) {
	runID := fmt.Sprintf("go-late-%d-%d", os.Getpid(), time.Now().UnixNano())
	dir := t.TempDir()
	// The main process outlives its SIGTERM; the child it forks then says how that child ended (143: SIGTERM).
	script := strings.Join([]string{
		`trap 'sleep 300 & wait $!; echo $? > "$D/late"' TERM`,
		`echo $$ > "$D/main"`,
		"while :; do sleep 0.05; done",
	}, "\n")
	main := exec.Command("/bin/sh", "-c", script)
	main.Env = []string{"PATH=" + os.Getenv("PATH"), "D=" + dir, runMarker + "=" + runID}
	main.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := main.Start(); err != nil {
		t.Fatal(err)
	}
	go main.Wait()
	tree := RunTreeFor(runID, processScanMode)
	t.Cleanup(func() { tree.Stop(0) })
	for deadline := time.Now().Add(20 * time.Second); !exists(filepath.Join(dir, "main")); {
		if time.Now().After(deadline) {
			t.Fatal("the main process did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}

	tree.Stop(2 * time.Second)
	expectEqual(t, len(tree.Members()), 0)
	late, _ := os.ReadFile(filepath.Join(dir, "late"))
	expectEqual(t, strings.TrimSpace(string(late)), "143")
}

// startWithPid starts an unmarked `sleep 300` with exactly pid (free now), through ns_last_pid; it skips the test
// where that cannot be written, and tries again while other processes of the machine take the pid first.
func startWithPid(t *testing.T, pid int) *exec.Cmd {
	t.Helper()
	for try := 0; try < 200; try++ {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0o644); err != nil {
			t.Skipf("cannot choose a new process's pid here (%v)", err)
		}
		stranger := exec.Command("sleep", "300")
		stranger.Env = []string{"PATH=" + os.Getenv("PATH")}
		if err := stranger.Start(); err != nil {
			t.Fatal(err)
		}
		if stranger.Process.Pid == pid {
			t.Cleanup(func() {
				stranger.Process.Kill()
				stranger.Wait()
			})
			return stranger
		}
		stranger.Process.Kill()
		stranger.Wait()
	}
	t.Skipf("pid %d was taken by another process 200 times", pid)
	return nil
}

// A scan finds a run's process; it ends and its pid goes to a process of someone else's before the signal is sent.
// The signal must not reach that stranger.
func TestASignalForARunsProcessNeverReachesAProcessThatTookItsPidSince(t *testing.T) {
	runID := fmt.Sprintf("go-reuse-%d-%d", os.Getpid(), time.Now().UnixNano())
	member := exec.Command("sleep", "300")
	member.Env = []string{"PATH=" + os.Getenv("PATH"), runMarker + "=" + runID}
	if err := member.Start(); err != nil {
		t.Fatal(err)
	}
	tree := RunTreeFor(runID, processScanMode).(markedTree)
	var scanned []int
	for deadline := time.Now().Add(goneWithin); len(scanned) == 0; scanned = tree.Members() {
		if time.Now().After(deadline) {
			t.Fatal("the scan did not find the run's process")
		}
	}
	expectEqual(t, fmt.Sprint(scanned), fmt.Sprint([]int{member.Process.Pid}))
	member.Process.Kill()
	member.Wait()
	stranger := startWithPid(t, scanned[0])

	tree.signal(scanned[0], syscall.SIGKILL)
	// Then a SIGTERM of the test's: the stranger ends by the SIGKILL if it was sent one before.
	stranger.Process.Signal(syscall.SIGTERM)
	stranger.Wait()
	status := stranger.ProcessState.Sys().(syscall.WaitStatus)
	expectEqual(t, status.Signal(), syscall.SIGTERM)
}
