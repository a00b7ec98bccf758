package main

// The guard of a run: a second small process, this binary started by the keeper with `--guard`, that stops the run's
// tree when its keeper dies without recording an end (SIGKILL, the OOM killer). Without it a keeper killed together
// with its worker left the script running in its cgroup with nothing on the machine to stop it, while the workflow
// started the experiment again elsewhere once the adoption window had passed: two copies of one experiment at once.
//
// The guard holds the read end of a pipe whose only write end the keeper holds (close-on-exec, so no script inherits
// it): end of file on it means the keeper's process is gone, however it went, with no pid to reuse and no thread of
// the keeper's to outlive. Then, unless `exit.json` is there, it stops the run as the keeper would have (thawed,
// SIGTERM, SIGKILL after the kill grace) and writes the fact: an `abandoned` end record saying its guard stopped it,
// which worker, adopter and orphan check already read as "no process left, run it again". The guard starts no
// process and does nothing else; the keeper starts a new one if it dies, so killing the guard alone changes nothing.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	guardFlag = "--guard"
	// guardName is the guard's process name (argv[0] and comm): not a keeper's, so nothing takes it for one.
	guardName = "staged-guard"
	// guardRestartAfter: a guard that died is started again after this.
	guardRestartAfter = 250 * time.Millisecond
	// guardYoung: a guard that died sooner than this after its start is started again later each time.
	guardYoung         = time.Second
	guardRestartAtMost = time.Minute
)

// guardExecutable is what a guard runs: this very binary, even when a rebuild has replaced its file since.
var guardExecutable = "/proc/self/exe"

// runGuard is the keeper's side of its run's guard: the guard process and the pipe end whose closing wakes it.
type runGuard struct {
	files       RunFiles
	mode        KillMode
	environment []string

	// runLock: the keeper's lock on the run (run_lock.go), held by each guard too, so that no keeper takes the run
	// while a guard stops what a killed keeper left.
	runLock *os.File

	mu      sync.Mutex
	link    *os.File
	process *os.Process
	ended   bool
}

// guardRun starts the run's guard and keeps one alive until release; a guard that cannot start is noted, and tried
// again.
func guardRun(files RunFiles, mode KillMode, environment []string, runLock *os.File) *runGuard {
	guard := &runGuard{files: files, mode: mode, environment: withoutMarker(environment), runLock: runLock}
	guard.mu.Lock()
	err := guard.startLocked()
	guard.mu.Unlock()
	if err != nil {
		note(files, fmt.Sprintf("could not start the run's guard (%v); trying again", err))
	}
	go guard.keepAlive(err == nil)
	return guard
}

func (guard *runGuard) startLocked() error {
	read, write, err := os.Pipe()
	if err != nil {
		return err
	}
	args := []string{guardName, guardFlag, guard.files.Dir, string(guard.mode)}
	process, err := os.StartProcess(guardExecutable, args,
		&os.ProcAttr{
			Env:   guard.environment,
			Files: []*os.File{read, os.Stdout, os.Stderr, guard.runLock}, // the lock: its fd 3
			// A session of its own: a signal to the keeper's process group does not reach it.
			Sys: &syscall.SysProcAttr{Setsid: true},
		})
	read.Close()
	if err != nil {
		write.Close()
		return err
	}
	guard.link, guard.process = write, process
	return nil
}

// keepAlive waits for each guard to end and, while the keeper runs, starts another: at once, or later and later
// (up to a minute) while guards fail to start or die young, so that a guard that cannot live never spins.
func (guard *runGuard) keepAlive(started bool) {
	delay := guardRestartAfter
	startedAt := time.Now()
	for {
		guard.mu.Lock()
		process := guard.process
		guard.mu.Unlock()
		if started {
			state, _ := process.Wait()
			guard.mu.Lock()
			if guard.ended {
				guard.mu.Unlock()
				return
			}
			guard.link.Close()
			guard.mu.Unlock()
			note(guard.files,
				fmt.Sprintf("the run's guard (pid %d) ended (%v); a new one is started", process.Pid, state))
		}
		if !started || time.Since(startedAt) < guardYoung {
			delay = min(2*delay, guardRestartAtMost)
		} else {
			delay = guardRestartAfter
		}
		time.Sleep(delay)
		guard.mu.Lock()
		if guard.ended {
			guard.mu.Unlock()
			return
		}
		err := guard.startLocked()
		guard.mu.Unlock()
		started, startedAt = err == nil, time.Now()
		if err != nil {
			note(guard.files, fmt.Sprintf("could not start the run's guard (%v); trying again", err))
		}
	}
}

// release lets the guard go once the run's end is recorded: it wakes, finds exit.json, and exits.
func (guard *runGuard) release() {
	guard.mu.Lock()
	defer guard.mu.Unlock()
	guard.ended = true
	if guard.link != nil {
		guard.link.Close()
	}
}

// withoutMarker: a guard must not carry the run's marker, or a process scan would count it among the run's processes.
func withoutMarker(environment []string) []string {
	kept := make([]string, 0, len(environment))
	for _, variable := range environment {
		if !strings.HasPrefix(variable, runMarker+"=") {
			kept = append(kept, variable)
		}
	}
	return kept
}

// guardMain is the guard process: it waits for its keeper to be gone, then stops what the keeper left.
func guardMain(runDir string, mode KillMode) {
	os.WriteFile("/proc/self/comm", []byte(guardName), 0) // ps and pkill see a guard, not "exe"
	// Only its keeper's end moves a guard: a SIGTERM meant for a service's processes is not for it.
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	waitForEndOfFile(os.Stdin)
	stopAbandonedRun(NewRunFiles(runDir), mode, "its guard") // its note in keeper.log says why it could not
}

func waitForEndOfFile(link *os.File) {
	buffer := make([]byte, 64)
	for {
		if _, err := link.Read(buffer); err != nil {
			return
		}
	}
}

// stopAbandonedRun stops the tree of a run whose keeper is gone, unless the keeper recorded an end, and records it;
// stopper says who stops it (its guard, or a worker that found the keeper gone: stop_left.go).
//
// A run whose spec is unreadable is stopped by what its keeper kept of it in state.json; with neither, it gives the
// spec's error: its run id, which names its processes, is in them.
func stopAbandonedRun(files RunFiles, mode KillMode, stopper string) error {
	if exists(files.Exit) {
		return nil
	}
	spec, unreadable := SpecForStop(files)
	if spec == nil {
		note(files, fmt.Sprintf("%s: the keeper died without recording an end, and the run's spec is unreadable (%v)",
			stopper, unreadable))
		return unreadable
	}
	if unreadable != nil {
		note(files, fmt.Sprintf("%s: the run's spec is unreadable (%v); its run id is read in its state.json",
			stopper, unreadable))
	}
	tree := existingTree(spec.RunID, mode)
	left := len(tree.Members())
	if exists(files.FreezeRequest) || frozenOnRecord(files) {
		tree.Thaw() // a frozen process would not see its SIGTERM
	}
	survivors := tree.Stop(time.Duration(spec.KillGraceMs * float64(time.Millisecond)))
	tree.Release()
	why := fmt.Sprintf("its keeper died without recording an end; %s stopped the run (%s left)", stopper,
		processes(left))
	if len(survivors) > 0 {
		why = fmt.Sprintf("its keeper died without recording an end; %s tried to stop the run (%s left): %s",
			stopper, processes(left), survived(survivors))
	}
	// Before the end record, which is written last.
	sayInAttemptLog(spec.LogFile, "run stopped: "+why)
	if !exists(files.Exit) { // a worker of staged before 2026-12-08 may have recorded it meanwhile
		WriteJSON(files.Exit,
			RunExit{End: "abandoned", EndedAt: nowMs(), Tail: []string{}, Error: why, Survivors: identitiesOf(survivors)})
	}
	note(files, why)
	return nil
}

// sayInAttemptLog ends the run's output with why it ends there: the attempt log is what the user keeps, the run's
// directory (keeper.log, exit.json) goes once its experiment has moved on.
func sayInAttemptLog(path string, line string) {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	defer file.Close()
	fmt.Fprintf(file, "\n[staged] %s\n", line)
}

// frozenOnRecord: the keeper's last record says it froze the run. A run resumed after its keeper died has no freeze
// request left, and no keeper to thaw it.
func frozenOnRecord(files RunFiles) bool {
	var record FrozenRecord
	text, err := os.ReadFile(files.Frozen)
	return err == nil && json.Unmarshal(text, &record) == nil && record.Since != nil
}

// existingTree is the tree the keeper made for runID, in its mode; nothing is created. No mode (a worker that did not
// read the keeper's state.json) is the cgroup's when the keeper made one: the keeper makes it before the script starts.
// No run id never names a cgroup: that one would hold every run's.
func existingTree(runID string, mode KillMode) RunTree {
	if (mode == cgroupMode || mode == "") && runID != "" {
		if mount := cgroup2Mount(); mount != "" && (mode == cgroupMode || isDir(cgroupDirOf(mount, runID))) {
			return cgroupTree{dir: cgroupDirOf(mount, runID)}
		}
	}
	return markedTree{marker: runMarker + "=" + runID}
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// survived says which processes outlived a stop.
func survived(pids []int) string {
	return fmt.Sprintf("%s still there %v after its SIGKILL (pids %s)", processes(len(pids)), killWait,
		strings.Trim(fmt.Sprint(pids), "[]"))
}

func processes(count int) string {
	if count == 1 {
		return "1 process"
	}
	return fmt.Sprintf("%d processes", count)
}
