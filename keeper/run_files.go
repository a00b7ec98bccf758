package main

// A run's directory on its machine: how the worker and the run's keeper talk (src/keeper/run-files.ts). The keeper
// writes `state.json`, `progress.json`, `frozen.json` and, last, `exit.json`; the worker writes `spec.json`, renews
// `lease` and writes or removes `freeze`.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
)

// RunSpec is what the keeper runs and how; written once by the worker before the keeper starts.
type RunSpec struct {
	RunID         string   `json:"runId"`
	File          string   `json:"file"`
	Args          []string `json:"args"`
	Cwd           string   `json:"cwd"`
	LogFile       string   `json:"logFile"`
	LogLimitBytes float64  `json:"logLimitBytes"`
	// TimeoutMs: past this, the run is stopped as timed out; nil: no limit.
	TimeoutMs      *float64    `json:"timeoutMs"`
	KillGraceMs    float64     `json:"killGraceMs"`
	LeaseTimeoutMs float64     `json:"leaseTimeoutMs"`
	Warning        *RunWarning `json:"warning,omitempty"`
}

type KillMode string

const (
	cgroupMode      KillMode = "cgroup"
	processScanMode KillMode = "process-scan"
)

type ProcessIdentity struct {
	Pid        int    `json:"pid"`
	StartTicks int64  `json:"startTicks"`
	BootID     string `json:"bootId"`
}

type RunStarted struct {
	KeeperPid int              `json:"keeperPid"`
	Keeper    *ProcessIdentity `json:"keeper,omitempty"`
	Pid       int              `json:"pid"`
	StartedAt int64            `json:"startedAt"`
	KillMode  KillMode         `json:"killMode"`
	// RunID, KillGraceMs and LogFile: what a stop of the run reads in its spec, kept here should the spec go (absent
	// in runs started by staged before 2026-12-08).
	RunID       string  `json:"runId,omitempty"`
	KillGraceMs float64 `json:"killGraceMs,omitempty"`
	LogFile     string  `json:"logFile,omitempty"`
}

// RunEnd: why a run ended (its main process exited, or the keeper stopped it, and why).
type RunEnd string

type RunExit struct {
	End      RunEnd   `json:"end"`
	ExitCode *int     `json:"exitCode"`
	Signal   *string  `json:"signal"`
	EndedAt  int64    `json:"endedAt"`
	Tail     []string `json:"tail"`
	Error    string   `json:"error,omitempty"`
	// Survivors: the run's processes still there when its stop gave up, 5 s after their SIGKILL (one in
	// uninterruptible sleep, say), each told apart from a later process with its pid; absent when none was left.
	Survivors []ProcessIdentity `json:"survivors,omitempty"`
}

type RunProgress struct {
	Progress   *Progress `json:"progress"`
	ProgressAt int64     `json:"progressAt"`
	// FrozenMs is the time the run was frozen up to ProgressAt (`pause <batchId> <exp>`).
	FrozenMs      int64         `json:"frozenMs"`
	FirstProgress *ProgressMark `json:"firstProgress,omitempty"`
}

type RunFiles struct {
	Dir, Spec, State, Progress, Exit, Lease, StopReason, LeftMark, KeeperLog, FreezeRequest, Frozen string
}

func NewRunFiles(dir string) RunFiles {
	in := func(name string) string { return filepath.Join(dir, name) }
	return RunFiles{
		Dir: dir, Spec: in("spec.json"), State: in("state.json"), Progress: in("progress.json"), Exit: in("exit.json"),
		Lease: in("lease"), StopReason: in("stop"), LeftMark: in("left"), KeeperLog: in("keeper.log"),
		FreezeRequest: in("freeze"), Frozen: in("frozen.json"),
	}
}

// partialWrites counts writes started by this process, to name each one's partial file.
var partialWrites atomic.Int64

// WriteJSON replaces file whole: a name of its own per write, so two writes of one file at once never share a
// partial file, and a reader never sees half of one.
func WriteJSON(file string, value any) error {
	var text bytes.Buffer
	encoder := json.NewEncoder(&text)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(value); err != nil {
		return err
	}
	partial := fmt.Sprintf("%s.%d-%d.partial", file, os.Getpid(), partialWrites.Add(1))
	if err := os.WriteFile(partial, bytes.TrimSuffix(text.Bytes(), []byte("\n")), 0o666); err != nil {
		return err
	}
	return os.Rename(partial, file)
}

func ReadSpec(files RunFiles) (*RunSpec, error) {
	text, err := os.ReadFile(files.Spec)
	if err != nil {
		return nil, err
	}
	var spec RunSpec
	if err := json.Unmarshal(text, &spec); err != nil {
		return nil, fmt.Errorf("%s: %w", files.Spec, err)
	}
	return &spec, nil
}

// SpecForStop is what a stop of the run reads in its spec: the spec, or, while it is unreadable (unreadable says why),
// what its keeper kept of it in state.json; nil when neither is there (the run id, which names its processes, is in
// them).
func SpecForStop(files RunFiles) (spec *RunSpec, unreadable error) {
	spec, unreadable = ReadSpec(files)
	if unreadable == nil {
		return spec, nil
	}
	var started RunStarted
	text, err := os.ReadFile(files.State)
	if err != nil || json.Unmarshal(text, &started) != nil || started.RunID == "" {
		return nil, unreadable
	}
	return &RunSpec{RunID: started.RunID, KillGraceMs: started.KillGraceMs, LogFile: started.LogFile}, unreadable
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// mtimeMs is a file's modification time in milliseconds, with its fraction (Node's stat mtimeMs); nil when absent.
func mtimeMs(path string) *float64 {
	info, err := os.Stat(path)
	if err != nil {
		return nil
	}
	ms := float64(info.ModTime().UnixNano()) / 1e6
	return &ms
}

func nowMs() int64 { return wallNow().UnixMilli() }
