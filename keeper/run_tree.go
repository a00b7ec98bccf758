package main

// Every process a run started, wherever it went: a Linux cgroup (v2) per run where the machine allows it, else
// every process carrying the run's marker in its environment (found in /proc). Either catches children in new
// sessions and double-forked daemons, which a process group misses.

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runMarker: every experiment process and its descendants carry this variable, with the run's id.
const runMarker = "STAGED_RUN_ID"

const (
	pollEvery = 50 * time.Millisecond
	killWait  = 5 * time.Second
	// freezeWait: a freeze takes effect within this; past it, the keeper says so and tries again on its next check.
	freezeWait = 2 * time.Second
)

type RunTree interface {
	Mode() KillMode
	// Wrap gives the command that starts file args inside the tree.
	Wrap(file string, args []string) (string, []string)
	// CgroupDir is the run's own cgroup, which a process may be cloned straight into; "" for a process scan.
	CgroupDir() string
	Members() []int
	// Stop sends SIGTERM to every member, SIGKILL after grace to what is left; returns when none is left (nil), or
	// gives up killWait after the SIGKILL and returns the members still there (one in uninterruptible sleep, say).
	Stop(grace time.Duration) []int
	// Freeze stops every member where it is; true once all are frozen.
	Freeze() (bool, error)
	// Thaw lets frozen members run on.
	Thaw()
	Release()
}

// cgroup2Mount is the cgroup v2 hierarchy's mount point, when there is one.
func cgroup2Mount() string {
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		before, after, found := strings.Cut(line, " - ")
		if found && strings.HasPrefix(after, "cgroup2 ") {
			if fields := strings.Split(before, " "); len(fields) > 4 {
				return fields[4]
			}
		}
	}
	return ""
}

var notInCgroupName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// cgroupDirOf is where runID's cgroup is, under the cgroup v2 mount.
func cgroupDirOf(mount, runID string) string {
	return filepath.Join(mount, "staged", notInCgroupName.ReplaceAllString(runID, "_"))
}

// makeCgroup makes a cgroup of its own for a run; "" where this machine does not let us make one.
func makeCgroup(runID string) string {
	mount := cgroup2Mount()
	if mount == "" {
		return ""
	}
	dir := cgroupDirOf(mount, runID)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		syscall.Rmdir(dir)
		return ""
	}
	// Kernels before 5.14 cannot kill a cgroup at once.
	if _, err := os.ReadFile(filepath.Join(dir, "cgroup.kill")); errors.Is(err, fs.ErrNotExist) {
		syscall.Rmdir(dir)
		return ""
	}
	return dir
}

// signalIf sends number to pid if isMember says it is still the run's, asked after a pidfd for pid is opened
// (os.FindProcess opens one when built by Go 1.23+ on Linux 5.3+): the signal then reaches the very process that was
// checked, never one that took its pid since the scan. Without pidfds only the moment between check and kill is open.
// False when nothing was sent.
func signalIf(pid int, number syscall.Signal, isMember func(pid int) bool) bool {
	process, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	defer process.Release()
	return isMember(pid) && process.Signal(number) == nil // an error: gone already
}

// processState is a process's state letter in /proc (R, S, T stopped, Z zombie…); "" once it is gone.
func processState(pid int) string {
	stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return stateIn(string(stat))
}

func stateIn(stat string) string {
	end := strings.LastIndex(stat, ")")
	if end < 0 || end+3 > len(stat) {
		return ""
	}
	return stat[end+2 : end+3]
}

func untilEmpty(tree RunTree, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if len(tree.Members()) == 0 {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
}

type cgroupTree struct{ dir string }

func (tree cgroupTree) Mode() KillMode { return cgroupMode }

func (tree cgroupTree) CgroupDir() string { return tree.dir }

func (tree cgroupTree) Wrap(file string, args []string) (string, []string) {
	// The shell joins the cgroup before it becomes the script: nothing runs outside it.
	wrapped := []string{"-c", `echo $$ > "$0" && exec "$@"`, filepath.Join(tree.dir, "cgroup.procs"), file}
	return "/bin/sh", append(wrapped, args...)
}

func (tree cgroupTree) Members() []int {
	text, _ := os.ReadFile(filepath.Join(tree.dir, "cgroup.procs"))
	var pids []int
	for _, line := range strings.Split(string(text), "\n") {
		if pid, err := strconv.Atoi(line); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (tree cgroupTree) signal(pid int, number syscall.Signal) bool {
	return signalIf(pid, number, func(pid int) bool { return slices.Contains(tree.Members(), pid) })
}

func (tree cgroupTree) Stop(grace time.Duration) []int {
	for _, pid := range tree.Members() {
		tree.signal(pid, syscall.SIGTERM)
	}
	if untilEmpty(tree, grace) {
		return nil
	}
	os.WriteFile(filepath.Join(tree.dir, "cgroup.kill"), []byte("1"), 0o644)
	if untilEmpty(tree, killWait) {
		return nil
	}
	return tree.Members()
}

var frozenEvent = regexp.MustCompile(`(?m)^frozen 1$`)

func (tree cgroupTree) Freeze() (bool, error) {
	if err := os.WriteFile(filepath.Join(tree.dir, "cgroup.freeze"), []byte("1"), 0o644); err != nil {
		return false, err
	}
	deadline := time.Now().Add(freezeWait)
	for {
		events, _ := os.ReadFile(filepath.Join(tree.dir, "cgroup.events"))
		if frozenEvent.Match(events) {
			return true, nil
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
		time.Sleep(pollEvery)
	}
}

func (tree cgroupTree) Thaw() {
	os.WriteFile(filepath.Join(tree.dir, "cgroup.freeze"), []byte("0"), 0o644)
}

func (tree cgroupTree) Release() { syscall.Rmdir(tree.dir) }

type markedTree struct{ marker string }

func (tree markedTree) Mode() KillMode { return processScanMode }

func (tree markedTree) CgroupDir() string { return "" }

func (tree markedTree) Wrap(file string, args []string) (string, []string) { return file, args }

func (tree markedTree) Members() []int {
	entries, _ := os.ReadDir("/proc")
	var found []int
	deadline := time.Now().Add(execWait)
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil || pid < 0 {
			continue
		}
		if tree.marks(pid, deadline) {
			found = append(found, pid)
		}
	}
	return found
}

// execWait: how long a scan waits at most for processes in the middle of an exec to show their environment, should
// one not go on (its program read from a file system that does not answer); well under freezeWait, which takes two.
const execWait = time.Second

// environmentWork: how much CPU time a process whose arguments show may take until its environment shows too (one
// executing itself again and again reads so for a few milliseconds of it at a time).
const environmentWork = 50 * time.Millisecond

// pfKthread: a kernel thread, in the flags of /proc/<pid>/stat; it has no environment, and never will.
const pfKthread = 0x00200000

// pfExiting: a process exiting, in the same flags; its environment is gone with its memory, and does not come back.
const pfExiting = 0x00000004

// marks says whether pid is a live process carrying the marker. A process in the middle of an exec has an
// environment that reads empty (the kernel writes it into the new program last, after its arguments): one that is
// neither a zombie, nor exiting, nor a kernel thread is read again until its environment shows, or until the
// deadline. One whose arguments are there and whose environment stays empty while it works a while on the CPU, or
// while it does not run, has an empty one (a launcher's, pid 1's in a container). Its own CPU time, not the wall clock, says when it has had
// its chance: on a busy machine a process may wait long for a CPU in the middle of its exec.
func (tree markedTree) marks(pid int, deadline time.Time) bool {
	proc := "/proc/" + strconv.Itoa(pid)
	workAtArguments := time.Duration(-1)
	for {
		environ, err := os.ReadFile(proc + "/environ")
		if err != nil {
			return false
		}
		if len(environ) > 0 {
			return hasVariable(environ, tree.marker) && processState(pid) != "Z"
		}
		fields := statFields(pid)
		if len(fields) < 7 || fields[0] == "Z" || fields[0] == "X" || !time.Now().Before(deadline) {
			return false
		}
		if flags, _ := strconv.ParseUint(fields[6], 10, 64); flags&(pfKthread|pfExiting) != 0 {
			return false
		}
		if arguments, _ := os.ReadFile(proc + "/cmdline"); len(arguments) == 0 {
			workAtArguments = -1 // before the arguments of an exec (perhaps another one than at the last look)
		} else if work := cpuTimeOf(pid, fields); workAtArguments < 0 {
			workAtArguments = work
		} else if running := fields[0] == "R" || fields[0] == "D"; !running || work-workAtArguments > environmentWork {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// cpuTimeOf: the CPU time pid has had, from /proc/<pid>/schedstat (nanoseconds), or else from its user and system
// times in fields (clock ticks).
func cpuTimeOf(pid int, fields []string) time.Duration {
	if schedstat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/schedstat"); err == nil {
		if onCPU, err := strconv.ParseInt(strings.Fields(string(schedstat) + " x")[0], 10, 64); err == nil {
			return time.Duration(onCPU)
		}
	}
	if len(fields) < 13 {
		return 0
	}
	user, _ := strconv.ParseInt(fields[11], 10, 64)
	system, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(user+system) * time.Second / clockTicksPerSecond
}

// clockTicksPerSecond: the unit of the times in /proc/<pid>/stat, the same on every Linux (USER_HZ).
const clockTicksPerSecond = 100

// processStart tells a process from a later one given its pid: its pid and start time (process_identity.go).
type processStart struct {
	pid        int
	startTicks string
}

func startOf(pid int) processStart {
	fields := statFields(pid)
	if len(fields) < 20 {
		return processStart{pid: pid}
	}
	return processStart{pid: pid, startTicks: fields[19]}
}

func hasVariable(environ []byte, variable string) bool {
	for _, entry := range strings.Split(string(environ), "\x00") {
		if entry == variable {
			return true
		}
	}
	return false
}

// signal: a member is the run's while it carries the marker, looked at now (one in the middle of an exec, whose
// environment reads empty for a moment, is signalled by a later scan).
func (tree markedTree) signal(pid int, number syscall.Signal) bool {
	return signalIf(pid, number, func(pid int) bool { return tree.marks(pid, time.Now()) })
}

func (tree markedTree) Stop(grace time.Duration) []int {
	// Each scan of the grace sends SIGTERM to the members it has not sent one yet: a child forked during the grace
	// gets its chance to shut down cleanly too, not only the SIGKILL once the grace is over.
	termed := map[processStart]bool{}
	graceEnd := time.Now().Add(grace)
	for {
		members := tree.Members()
		if len(members) == 0 {
			return nil
		}
		for _, pid := range members {
			if start := startOf(pid); !termed[start] && tree.signal(pid, syscall.SIGTERM) {
				termed[start] = true
			}
		}
		left := time.Until(graceEnd)
		if left <= 0 {
			break
		}
		time.Sleep(min(pollEvery, left))
	}
	deadline := time.Now().Add(killWait)
	for {
		for _, pid := range tree.Members() {
			tree.signal(pid, syscall.SIGKILL) // again: a dying parent may fork once more
		}
		if untilEmpty(tree, 200*time.Millisecond) {
			return nil
		}
		if !time.Now().Before(deadline) {
			return tree.Members()
		}
	}
}

func (tree markedTree) Freeze() (bool, error) {
	// Again until a scan finds every member stopped: one may have forked between the scan and its SIGSTOP.
	deadline := time.Now().Add(freezeWait)
	for {
		var running []int
		for _, pid := range tree.Members() {
			if processState(pid) != "T" {
				running = append(running, pid)
			}
		}
		if len(running) == 0 {
			return true, nil
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
		for _, pid := range running {
			tree.signal(pid, syscall.SIGSTOP)
		}
		time.Sleep(pollEvery / 5)
	}
}

func (tree markedTree) Thaw() {
	for _, pid := range tree.Members() {
		tree.signal(pid, syscall.SIGCONT)
	}
}

func (tree markedTree) Release() {}

// RunTreeFor gives the run's tree: a cgroup unless the machine cannot make one or forceMode says process-scan.
func RunTreeFor(runID string, forceMode KillMode) RunTree {
	if forceMode != processScanMode {
		if dir := makeCgroup(runID); dir != "" {
			return cgroupTree{dir: dir}
		}
	}
	return markedTree{marker: runMarker + "=" + runID}
}
