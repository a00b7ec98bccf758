package main

// The launcher: one long-lived process per worker, this binary started with `--launcher`, that starts the worker's
// keepers. Node forks its whole process (~150 MB) for each process it starts; this small one costs the worker only a
// line written and a line read per run.
//
// It reads one launch request a line on stdin and starts `staged-keeper <run dir>` as the worker did: in a session of
// its own, in the given directory, with the given environment, stdin /dev/null, stdout and stderr appended to
// keeper.log. It answers each request with the keeper's pid, or why none started, on stdout, and reaps the keepers
// it started. When its stdin closes (its worker gone) it exits and leaves the keepers running: reparented, as a dead
// worker's were. A launch in flight when a launcher dies is sent again to the next one; the run's lock
// (run_lock.go) makes a second keeper of a run exit at once.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

const (
	launcherFlag = "--launcher"
	// launcherName is the launcher's process name (comm) for ps; its argv[0] stays the keeper's path, which it starts.
	launcherName = "staged-launcher"
)

// LaunchRequest asks for one run's keeper (src/machine/keeper-launch.ts).
type LaunchRequest struct {
	ID        int64             `json:"id"`
	RunDir    string            `json:"runDir"`
	Cwd       string            `json:"cwd"`
	Env       map[string]string `json:"env"`
	KeeperLog string            `json:"keeperLog"`
}

// LaunchReply answers one request: the keeper's pid, or the error that kept it from starting.
type LaunchReply struct {
	ID    int64  `json:"id"`
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

func launcherMain(keeperPath string) {
	os.WriteFile("/proc/self/comm", []byte(launcherName), 0)
	// Only its stdin's end stops a launcher: a terminal's ^C or hang-up is for the worker, not for it.
	ignoreTerminalSignals()
	if err := launch(keeperPath, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "staged launcher: %v\n", err)
		os.Exit(1)
	}
}

// launch answers the requests on in until it closes; the keepers started go on.
func launch(keeperPath string, in io.Reader, out io.Writer) error {
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devNull.Close()
	requests := bufio.NewReaderSize(in, 64*1024)
	var replies sync.Mutex
	var answering sync.WaitGroup
	// Answers still on their way when the input ends are given: the keepers they name run.
	defer answering.Wait()
	for {
		line, err := requests.ReadBytes('\n')
		if len(line) > 0 {
			reply, keeper := startKeeper(keeperPath, line, devNull)
			answering.Add(1)
			go func() {
				defer answering.Done()
				if keeper != nil {
					waitForCommandLine(keeper.Pid)
				}
				text, _ := json.Marshal(reply)
				replies.Lock()
				defer replies.Unlock()
				out.Write(append(text, '\n')) // fails only once the worker is gone: its keepers run on
			}()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// waitForCommandLine returns once pid's command line reads as the keeper's: for a moment after its exec it reads
// empty, and a worker that looked then would take the keeper for gone (keeperAlive in src/machine/keeper-launch.ts).
func waitForCommandLine(pid int) {
	cmdline := fmt.Sprintf("/proc/%d/cmdline", pid)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		if text, err := os.ReadFile(cmdline); err != nil || len(text) > 0 {
			return
		}
	}
}

func startKeeper(keeperPath string, line []byte, devNull *os.File) (LaunchReply, *os.Process) {
	var request LaunchRequest
	if err := json.Unmarshal(line, &request); err != nil {
		return LaunchReply{Error: fmt.Sprintf("unreadable launch request: %v", err)}, nil
	}
	reply := LaunchReply{ID: request.ID}
	log, err := os.OpenFile(request.KeeperLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		reply.Error = err.Error()
		return reply, nil
	}
	defer log.Close()
	env := make([]string, 0, len(request.Env))
	for name, value := range request.Env {
		env = append(env, name+"="+value)
	}
	keeper, err := os.StartProcess(keeperPath, []string{keeperPath, request.RunDir}, &os.ProcAttr{
		Dir:   request.Cwd,
		Env:   env,
		Files: []*os.File{devNull, log, log},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		reply.Error = fmt.Sprintf("could not start the keeper of %s (%s): %v", request.RunDir, keeperPath, err)
		return reply, nil
	}
	reply.Pid = keeper.Pid
	go keeper.Wait() // reaped here while this launcher lives; by init once it is gone
	return reply, keeper
}
