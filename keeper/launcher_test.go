package main

// The launcher as a worker runs it: a real process fed requests on its stdin. Its "keeper" here is a shell script that
// records where and how it was started, then sleeps; the run lock is tested with real keepers (this test binary's
// `--keep`), two of them on one run directory.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeKeeper records its cwd, one variable of its environment and its session, writes to stdout and stderr, then
// becomes a sleep (same pid) that the test ends.
const fakeKeeper = `#!/bin/sh
pwd > "$1/cwd"
echo "$LAUNCH_TEST_VARIABLE" > "$1/variable"
echo "keeper out $1"
echo "keeper err" >&2
exec sleep 300
`

type runningLauncher struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	replies *bufio.Reader
	exited  chan error
}

func startLauncher(t *testing.T, keeperPath string) *runningLauncher {
	t.Helper()
	cmd := exec.Command(os.Args[0], launcherFlag, keeperPath)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "LAUNCHER_ONLY=its own")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	launcher := &runningLauncher{cmd: cmd, stdin: stdin, replies: bufio.NewReader(stdout), exited: make(chan error, 1)}
	go func() { launcher.exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return launcher
}

func (launcher *runningLauncher) launch(t *testing.T, request LaunchRequest) LaunchReply {
	t.Helper()
	text, _ := json.Marshal(request)
	if _, err := launcher.stdin.Write(append(text, '\n')); err != nil {
		t.Fatal(err)
	}
	line, err := launcher.replies.ReadBytes('\n')
	if err != nil {
		t.Fatalf("no reply from the launcher: %v", err)
	}
	var reply LaunchReply
	if err := json.Unmarshal(line, &reply); err != nil {
		t.Fatalf("reply %q: %v", line, err)
	}
	return reply
}

func writeFakeKeeper(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake-keeper")
	if err := os.WriteFile(path, []byte(fakeKeeper), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func readTrimmed(path string) string {
	text, _ := os.ReadFile(path)
	return strings.TrimSpace(string(text))
}

func TestALaunchStartsTheKeeperInItsOwnSessionWithTheGivenDirectoryEnvironmentAndLog(t *testing.T) {
	launcher := startLauncher(t, writeFakeKeeper(t))
	runDir, cwd := t.TempDir(), t.TempDir()
	keeperLog := filepath.Join(runDir, "keeper.log")
	os.WriteFile(keeperLog, []byte("before\n"), 0o666)

	reply := launcher.launch(t, LaunchRequest{
		ID: 7, RunDir: runDir, Cwd: cwd, KeeperLog: keeperLog,
		Env: map[string]string{"LAUNCH_TEST_VARIABLE": "from the request", "PATH": os.Getenv("PATH")},
	})
	if reply.Error != "" || reply.Pid == 0 {
		t.Fatalf("reply %+v", reply)
	}
	defer syscall.Kill(reply.Pid, syscall.SIGKILL)
	expectEqual(t, reply.ID, int64(7))
	waitFor(t, "the keeper to have written its log", func() bool {
		return strings.Count(readTrimmed(keeperLog), "\n") == 2 && readTrimmed(filepath.Join(runDir, "variable")) != ""
	})
	expectEqual(t, readTrimmed(filepath.Join(runDir, "cwd")), cwd)
	expectEqual(t, readTrimmed(filepath.Join(runDir, "variable")), "from the request")
	expectEqual(t, readTrimmed(keeperLog), "before\nkeeper out "+runDir+"\nkeeper err")
	expectEqual(t, statFields(reply.Pid)[3], strconv.Itoa(reply.Pid)) // its own session
	stdin, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/0", reply.Pid))
	expectEqual(t, stdin, os.DevNull)
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", reply.Pid))
	expectEqual(t, strings.Contains(string(environ), "LAUNCHER_ONLY"), false) // the request's, not the launcher's

	// A keeper that cannot start is an answer, not the launcher's end.
	failed := launcher.launch(t, LaunchRequest{ID: 8, RunDir: runDir, Cwd: filepath.Join(cwd, "absent"),
		KeeperLog: keeperLog})
	expectEqual(t, failed.ID, int64(8))
	if failed.Pid != 0 || !strings.Contains(failed.Error, "could not start the keeper") {
		t.Fatalf("reply %+v", failed)
	}
}

func TestALauncherIgnoresTheTerminalAndExitsOnEndOfInputLeavingItsKeepersRunning(t *testing.T) {
	launcher := startLauncher(t, writeFakeKeeper(t))
	var keepers []int
	for id := range 3 {
		runDir := t.TempDir()
		reply := launcher.launch(t, LaunchRequest{ID: int64(id), RunDir: runDir, Cwd: runDir,
			KeeperLog: filepath.Join(runDir, "keeper.log")})
		if reply.Pid == 0 {
			t.Fatalf("reply %+v", reply)
		}
		defer syscall.Kill(reply.Pid, syscall.SIGKILL)
		keepers = append(keepers, reply.Pid)
		// The terminal's signals reach it when its worker's terminal sends them: it goes on answering.
		launcher.cmd.Process.Signal([]syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGINT}[id])
	}
	expectEqual(t, readTrimmed(fmt.Sprintf("/proc/%d/comm", launcher.cmd.Process.Pid)), launcherName)

	launcher.stdin.Close()
	select {
	case err := <-launcher.exited:
		if err != nil {
			t.Fatalf("the launcher ended with %v", err)
		}
	case <-time.After(goneWithin):
		t.Fatal("the launcher is still running after its stdin closed")
	}
	for _, pid := range keepers {
		if !alive(pid) {
			t.Fatalf("keeper %d ended with its launcher", pid)
		}
	}
}

// startKeeperOf starts this test binary as a keeper (`--keep`) of files and reaps it; its exit reaches the channel.
func startKeeperOf(t *testing.T, files RunFiles) (*os.Process, chan *os.ProcessState) {
	t.Helper()
	keeper, err := os.StartProcess("/proc/self/exe", []string{"keeper", keepFlag, files.Dir}, &os.ProcAttr{
		Env: withoutMarker(os.Environ()), Files: []*os.File{nil, os.Stderr, os.Stderr},
		Sys: &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan *os.ProcessState, 1)
	go func() {
		state, _ := keeper.Wait()
		ended <- state
	}()
	t.Cleanup(func() { keeper.Kill() })
	return keeper, ended
}

func exitsAtOnce(t *testing.T, ended chan *os.ProcessState, what string) {
	t.Helper()
	select {
	case state := <-ended:
		if !state.Success() {
			t.Fatalf("%s ended with %v", what, state)
		}
	case <-time.After(goneWithin):
		t.Fatalf("%s still runs", what)
	}
}

func TestASecondKeeperOfARunExitsAtOnceTouchingNothing(t *testing.T) {
	counted := `echo started >> starts; sleep 300`
	run := startGuardedRun(t, processScanMode, daemonScript+counted)
	starts := filepath.Join(filepath.Dir(run.files.Dir), "starts")
	waitFor(t, "the script to count its start", func() bool { return readTrimmed(starts) == "started" })
	state := readTrimmed(run.files.State)

	// A launch sent again while the first keeper runs.
	_, ended := startKeeperOf(t, run.files)
	exitsAtOnce(t, ended, "a second keeper of a running run")
	expectEqual(t, readTrimmed(run.files.State), state)
	if exists(run.files.Exit) || !alive(run.keeper.Pid) || !alive(run.script) {
		t.Fatal("the second keeper changed the run")
	}

	// The first keeper killed: its guard stops the run and records it; a keeper started after that exits too.
	run.keeper.Signal(syscall.SIGKILL)
	exit := readExit(t, run.files)
	waitFor(t, "the guard to be gone", func() bool { return !alive(run.script) && !alive(run.daemon) })
	_, ended = startKeeperOf(t, run.files)
	exitsAtOnce(t, ended, "a keeper of an ended run")
	after := readExit(t, run.files)
	expectEqual(t, fmt.Sprint(after.End, after.EndedAt, after.Error), fmt.Sprint(exit.End, exit.EndedAt, exit.Error))
	expectEqual(t, readTrimmed(starts), "started")
}
