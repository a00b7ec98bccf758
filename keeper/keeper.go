package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	tailLines       = 20
	checkEvery      = 250 * time.Millisecond
	progressEveryMs = 1_000
	// drainWait: after the main process exits, output still in the pipes gets this long to arrive.
	drainWait = 2 * time.Second
	// stopAgainAfterMs: beyond the kill grace, how long a stopped run's main process may live before it is stopped
	// again.
	stopAgainAfterMs = 1_000
)

var unexplainedSigterm = fmt.Sprintf(
	"its keeper was sent SIGTERM, and no worker asked for a stop within %ss", jsNumber(sigtermExplainedWithinMs/1000.0))

type stopping struct {
	end      RunEnd
	at       int64
	done     chan struct{}
	repeated bool
	// survivors: what the stop could not end (pids); read once done is closed.
	survivors []int
}

// runOutput is what the run printed: its log and the progress read from it, fed from both pipes.
type runOutput struct {
	mu            sync.Mutex
	log           *AttemptLog
	reader        ProgressReader
	changed       bool
	firstProgress *ProgressMark
	closed        bool
}

func (output *runOutput) take(chunk []byte) {
	output.mu.Lock()
	defer output.mu.Unlock()
	if output.closed {
		return
	}
	if output.reader.Feed(chunk) {
		output.changed = true
	}
	if progress := output.reader.Progress(); output.firstProgress == nil && progress != nil {
		output.firstProgress = &ProgressMark{Percent: progress.Percent, At: nowMs()}
	}
	output.log.Write(chunk)
}

// record is progress.json's content; nil before any progress. frozenMs: the run's frozen time up to now.
func (output *runOutput) record(now, frozenMs int64) *RunProgress {
	progress := output.reader.Progress()
	if progress == nil {
		return nil
	}
	// Stamped at its first record, at most a check after it came: a status tells the frozen time since it.
	if mark := output.firstProgress; mark != nil && mark.FrozenMs == nil {
		mark.FrozenMs = &frozenMs
	}
	return &RunProgress{Progress: progress, ProgressAt: now, FrozenMs: frozenMs, FirstProgress: output.firstProgress}
}

type keeper struct {
	files  RunFiles
	spec   *RunSpec
	tree   RunTree
	output *runOutput
	// progressWrite keeps progress.json's writes in the order of their times (and so of their frozen times).
	progressWrite sync.Mutex

	mu              sync.Mutex
	stopping        *stopping
	frozenTime      FrozenTime
	freezeConfirmed bool
	// freezeWork is held while a freeze or thaw is under way: one at a time, and a stop waits for it.
	freezeWork sync.Mutex
}

func keep(files RunFiles, environment []string) error {
	// First of all: a second keeper of the run (a launch sent again) must not touch it.
	lock, err := takeRun(files)
	if errors.Is(err, errRunTaken) {
		fmt.Fprintf(os.Stderr, "staged keeper: %s: %v; this one exits\n", files.Dir, err)
		return nil
	}
	if err != nil {
		return err
	}
	defer lock.Close()
	// Listened to before anything starts: a stop asked for in the first milliseconds must not be lost.
	stopAsked := make(chan RunEnd, 16)
	sigterms := make(chan os.Signal, 16)
	signal.Notify(sigterms, syscall.SIGTERM)
	go func() {
		for range sigterms {
			go followSigterm(files, nowMs(), stopAsked)
		}
	}()
	spec, err := ReadSpec(files)
	if err != nil {
		return err
	}
	tree := RunTreeFor(spec.RunID, forcedKillMode(environment))
	log, err := NewAttemptLog(spec.LogFile, int64(spec.LogLimitBytes))
	if err != nil {
		return err
	}
	output := &runOutput{log: log}
	// Before the script: from its first instant, no process of the run outlives this keeper unnoticed.
	guard := guardRun(files, tree.Mode(), environment, lock)
	defer guard.release()
	// Read before the spawn: a script that ends at once must not end before the start recorded for it.
	startedAt := nowMs()
	child, pipes, err := spawnInTree(tree, spec.File, spec.Args, spec.Cwd, withMarker(environment, spec.RunID))
	if err != nil {
		log.Close()
		exit := RunExit{End: "spawn-failed", EndedAt: nowMs(), Tail: []string{}, Error: err.Error()}
		if err := WriteJSON(files.Exit, exit); err != nil {
			return err
		}
		tree.Release()
		return nil
	}
	exited := make(chan *os.ProcessState, 1)
	go func() {
		state, _ := child.Wait()
		exited <- state
	}()
	outputDone := make(chan struct{}, len(pipes))
	for _, pipe := range pipes {
		go readOutput(pipe, output, outputDone)
	}
	started := RunStarted{
		KeeperPid: os.Getpid(), Keeper: ProcessIdentityOf(os.Getpid()), Pid: child.Pid, StartedAt: startedAt,
		KillMode: tree.Mode(), RunID: spec.RunID, KillGraceMs: spec.KillGraceMs, LogFile: spec.LogFile,
	}
	if err := WriteJSON(files.State, started); err != nil {
		return err
	}
	k := &keeper{files: files, spec: spec, tree: tree, output: output, freezeConfirmed: true}
	// Written at once: it tells a worker that this keeper can freeze its run (a keeper before it cannot).
	k.recordFrozen(k.frozenTime.Record())

	ticker := time.NewTicker(checkEvery)
	awakeOrigin := time.Now() // its monotonic reading stops while the machine sleeps
	var lease LeaseClock
	var lastProgressWrite int64
	warned := false
	var state *os.ProcessState
watch:
	for {
		select {
		case state = <-exited:
			break watch
		case end := <-stopAsked:
			k.mu.Lock()
			k.stop(end)
			k.mu.Unlock()
		case <-ticker.C:
			now := nowMs()
			k.mu.Lock()
			if IsTimedOut(&k.frozenTime, startedAt, now, spec.TimeoutMs) {
				k.stop("timeout")
			}
			if !warned && k.stopping == nil && IsWarningDue(&k.frozenTime, startedAt, now, spec.TimeoutMs, spec.Warning) {
				warned = true
				sent := "sent"
				if !SendWarning(child.Pid, spec.Warning) {
					sent = "could not send"
				}
				go note(files, fmt.Sprintf("%s %s: %ss before its --timeout", sent, spec.Warning.Signal,
					jsNumber(spec.Warning.BeforeMs/1000)))
			}
			// A stop that came before the script had joined its cgroup found nothing to kill: stop it again, at once.
			if s := k.stopping; s != nil && !s.repeated && float64(now-s.at) > spec.KillGraceMs+stopAgainAfterMs {
				s.repeated = true
				go tree.Stop(0)
			}
			idle := k.stopping == nil
			k.mu.Unlock()
			if idle && k.freezeWork.TryLock() {
				go func() {
					defer k.freezeWork.Unlock()
					k.followFreezeRequest(exists(files.FreezeRequest))
				}()
			}
			age := lease.Observe(mtimeMs(files.Lease), float64(nowMs()), float64(time.Since(awakeOrigin))/1e6)
			k.mu.Lock()
			if age != nil && age.AwakeMs > spec.LeaseTimeoutMs && k.stopping == nil {
				k.stop("abandoned")
				go note(files, "stopping the run: "+leaseExpiry(age, spec.LeaseTimeoutMs))
			}
			k.mu.Unlock()
			output.mu.Lock()
			due := output.changed && output.reader.Progress() != nil && now-lastProgressWrite >= progressEveryMs
			if due {
				output.changed = false
				lastProgressWrite = now
			}
			output.mu.Unlock()
			if due {
				k.recordProgress()
			}
		}
	}
	ticker.Stop()
	// The run ends with its main process: whatever it left behind goes too, and may not hold the output open.
	k.mu.Lock()
	end := RunEnd("exited")
	if k.stopping != nil {
		end = k.stopping.end
	}
	k.stop(end)
	stopped := k.stopping
	k.mu.Unlock()
	<-stopped.done
	drained := time.NewTimer(drainWait)
drain:
	for range pipes {
		select {
		case <-outputDone:
		case <-drained.C:
			break drain
		}
	}
	for _, pipe := range pipes {
		pipe.Close()
	}
	output.mu.Lock()
	output.closed = true
	output.mu.Unlock()
	log.Close()
	if err := k.recordProgress(); err != nil {
		return err
	}
	exit := RunExit{End: stopped.end, EndedAt: nowMs(), Tail: log.LastLines(tailLines), Survivors: identitiesOf(stopped.survivors)}
	exit.ExitCode, exit.Signal = howItEnded(state)
	if len(stopped.survivors) > 0 {
		note(files, "the run's stop gave up: "+survived(stopped.survivors))
	}
	if stopped.end == "terminated" {
		exit.Error = unexplainedSigterm
	}
	if err := WriteJSON(files.Exit, exit); err != nil {
		return err
	}
	tree.Release()
	os.Remove(files.Lease)
	return nil
}

// followSigterm acts on one SIGTERM once its worker's word says what it means.
func followSigterm(files RunFiles, receivedAt int64, stopAsked chan<- RunEnd) {
	meaning := MeaningOfSigterm(files, receivedAt, sigtermExplainedWithinMs)
	if meaning == meaningLeft {
		note(files, "SIGTERM ignored: its worker let go of the run for adoption at the same time; it goes on")
		return
	}
	if meaning == meaningTerminated {
		note(files, "stopping the run: "+unexplainedSigterm)
	}
	stopAsked <- RunEnd(meaning)
}

// stop begins the run's stop, once (k.mu held): a frozen run is thawed first, so that its processes see SIGTERM.
func (k *keeper) stop(end RunEnd) {
	if k.stopping != nil {
		return
	}
	s := &stopping{end: end, at: nowMs(), done: make(chan struct{})}
	k.stopping = s
	go func() {
		defer close(s.done)
		k.thawBeforeStop()
		s.survivors = k.tree.Stop(time.Duration(k.spec.KillGraceMs * float64(time.Millisecond)))
	}()
}

func (k *keeper) thawBeforeStop() {
	k.freezeWork.Lock()
	defer k.freezeWork.Unlock()
	k.mu.Lock()
	frozen := k.frozenTime.Frozen()
	k.mu.Unlock()
	if !frozen {
		return
	}
	k.tree.Thaw()
	k.mu.Lock()
	k.frozenTime.Thaw(nowMs())
	record := k.frozenTime.Record()
	k.mu.Unlock()
	k.recordFrozen(record)
}

// followFreezeRequest freezes or thaws the run as its directory asks (k.freezeWork held).
func (k *keeper) followFreezeRequest(wanted bool) {
	k.mu.Lock()
	idle, frozen, confirmed := k.stopping == nil, k.frozenTime.Frozen(), k.freezeConfirmed
	k.mu.Unlock()
	if !idle {
		return
	}
	if wanted && (!frozen || !confirmed) {
		since := nowMs()
		confirmed, err := k.tree.Freeze()
		confirmed = confirmed && err == nil
		k.mu.Lock()
		k.freezeConfirmed = confirmed
		if k.frozenTime.Frozen() {
			k.mu.Unlock()
			return
		}
		k.frozenTime.Freeze(since)
		record := k.frozenTime.Record()
		k.mu.Unlock()
		k.recordFrozen(record)
		how := "SIGSTOP to each process"
		if k.tree.Mode() == cgroupMode {
			how = "cgroup.freeze"
		}
		unconfirmed := ""
		if !confirmed {
			unconfirmed = "; some processes not yet stopped"
		}
		note(k.files, fmt.Sprintf("froze the run (%s)%s", how, unconfirmed))
	} else if !wanted && frozen {
		k.tree.Thaw()
		k.mu.Lock()
		now := nowMs()
		frozenMs := now - *k.frozenTime.Record().Since
		k.frozenTime.Thaw(now)
		k.freezeConfirmed = true
		record := k.frozenTime.Record()
		k.mu.Unlock()
		// Before the thaw's record: a view that reads the run thawed reads its progress without the frozen time.
		k.recordProgress()
		k.recordFrozen(record)
		note(k.files, fmt.Sprintf("thawed the run after %ss frozen", jsNumber(float64(frozenMs)/1000)))
	}
}

// recordProgress writes progress.json as of now, its frozen time up to now; nothing before any progress.
func (k *keeper) recordProgress() error {
	k.progressWrite.Lock()
	defer k.progressWrite.Unlock()
	now := nowMs()
	k.mu.Lock()
	frozenMs := k.frozenTime.FrozenMs(now)
	k.mu.Unlock()
	k.output.mu.Lock()
	progress := k.output.record(now, frozenMs)
	k.output.mu.Unlock()
	if progress == nil {
		return nil
	}
	return WriteJSON(k.files.Progress, progress)
}

func (k *keeper) recordFrozen(record FrozenRecord) {
	WriteJSON(k.files.Frozen, record) // a failed write: the next freeze or thaw writes it again
}

// spawn starts file args in a session of its own, its output (stdout and stderr alike, as `2>&1` does) into one pipe
// whose read end it returns: one pipe keeps the order the script wrote in, which two read apart lose when the reader
// lags behind (a last stderr line landing before the stdout still in its pipe).
// spawnInTree starts the script inside its tree. Into a cgroup it is cloned straight in (clone3, Linux 5.7+): a shell
// that joins the cgroup first costs an exec and a migration (about 10 ms); the shell remains where clone3 cannot.
func spawnInTree(tree RunTree, file string, args []string, dir string, environment []string) (*os.Process, []*os.File, error) {
	if cgroupDir := tree.CgroupDir(); cgroupDir != "" {
		cgroup, err := syscall.Open(cgroupDir, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == nil {
			child, pipes, err := spawn(file, args, dir, environment, cgroup)
			syscall.Close(cgroup)
			if err == nil {
				return child, pipes, nil
			}
		}
	}
	wrappedFile, wrappedArgs := tree.Wrap(file, args)
	return spawn(wrappedFile, wrappedArgs, dir, environment, noCgroup)
}

// noCgroup: spawn leaves the child in the keeper's own cgroup.
const noCgroup = -1

func spawn(file string, args []string, dir string, environment []string, cgroup int) (*os.Process, []*os.File, error) {
	path := file
	if !strings.Contains(file, "/") {
		found, err := exec.LookPath(file)
		if err != nil {
			return nil, nil, spawnError(file, err)
		}
		path = found
	}
	outRead, outWrite, err := os.Pipe()
	if err != nil {
		return nil, nil, spawnError(file, err)
	}
	devNull, err := os.Open(os.DevNull)
	if err == nil {
		defer devNull.Close()
	}
	child, err := os.StartProcess(path, append([]string{file}, args...), &os.ProcAttr{
		Dir:   dir,
		Env:   environment,
		Files: []*os.File{devNull, outWrite, outWrite},
		Sys:   &syscall.SysProcAttr{Setsid: true, UseCgroupFD: cgroup != noCgroup, CgroupFD: cgroup},
	})
	outWrite.Close()
	if err != nil {
		outRead.Close()
		return nil, nil, spawnError(file, err)
	}
	return child, []*os.File{outRead}, nil
}

// spawnError says why a script could not start as Node says it (`spawn <file> ENOENT`).
func spawnError(file string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := errnoNames[errno]; name != "" {
			return fmt.Errorf("spawn %s %s", file, name)
		}
	}
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("spawn %s ENOENT", file)
	}
	return fmt.Errorf("spawn %s: %w", file, err)
}

var errnoNames = map[syscall.Errno]string{
	syscall.ENOENT: "ENOENT", syscall.EACCES: "EACCES", syscall.ENOTDIR: "ENOTDIR", syscall.EPERM: "EPERM",
	syscall.ENOEXEC: "ENOEXEC", syscall.E2BIG: "E2BIG", syscall.ENOMEM: "ENOMEM", syscall.EAGAIN: "EAGAIN",
	syscall.EMFILE: "EMFILE", syscall.ELOOP: "ELOOP", syscall.ENAMETOOLONG: "ENAMETOOLONG",
}

func readOutput(pipe *os.File, output *runOutput, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	chunk := make([]byte, 64*1024)
	for {
		n, err := pipe.Read(chunk)
		if n > 0 {
			output.take(chunk[:n])
		}
		if err != nil {
			return
		}
	}
}

// howItEnded: the main process's exit code, or the signal that ended it, by Node's name.
func howItEnded(state *os.ProcessState) (*int, *string) {
	if state == nil {
		return nil, nil
	}
	status, ok := state.Sys().(syscall.WaitStatus)
	if !ok {
		return nil, nil
	}
	if status.Signaled() {
		name := signalName(status.Signal())
		if name == "" {
			name = fmt.Sprintf("SIG%d", int(status.Signal()))
		}
		return nil, &name
	}
	code := status.ExitStatus()
	return &code, nil
}

func forcedKillMode(environment []string) KillMode {
	for _, variable := range environment {
		if variable == "STAGED_KILL_MODE=process-scan" {
			return processScanMode
		}
	}
	return ""
}

// withMarker is the run's environment: the keeper's own, and the run's marker, which its every process carries.
func withMarker(environment []string, runID string) []string {
	marked := make([]string, 0, len(environment)+1)
	for _, variable := range environment {
		if !strings.HasPrefix(variable, runMarker+"=") {
			marked = append(marked, variable)
		}
	}
	return append(marked, runMarker+"="+runID)
}

func leaseExpiry(age *LeaseAge, windowMs float64) string {
	renewedAt := time.UnixMilli(int64(age.RenewedAt)).UTC().Format("2006-01-02T15:04:05.000Z")
	return fmt.Sprintf("its lease was last renewed as of %s, %ss of awake time ago (wall clock: %ss), past the "+
		"adoption window of %ss: no worker here holds it, and another copy may start elsewhere",
		renewedAt, jsNumber(age.AwakeMs/1000), jsNumber(age.WallMs/1000), jsNumber(windowMs/1000))
}

// note appends a line to the run's keeper.log: why the keeper did what it did.
func note(files RunFiles, message string) {
	log, err := os.OpenFile(files.KeeperLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		return
	}
	defer log.Close()
	at := wallNow().UTC().Format("2006-01-02T15:04:05.000Z")
	log.WriteString("staged keeper " + at + ": " + message + "\n")
}

// jsNumber writes a number as JavaScript does in a template string (`${4.5}` is 4.5, `${4}` is 4).
func jsNumber(value float64) string {
	return strconv.FormatFloat(value, 'f', -1, 64)
}
