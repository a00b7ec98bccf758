package main

// The files a keeper writes, in the JSON the worker reads (src/keeper/run-files.ts), replaced whole.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// words writes values as fmt.Println does, one space between each.
func words(values ...any) string { return strings.TrimSuffix(fmt.Sprintln(values...), "\n") }

func written(t *testing.T, value any) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "record.json")
	if err := WriteJSON(file, value); err != nil {
		t.Fatal(err)
	}
	return string(readAll(t, file))
}

func TestRecordsAreWrittenInTheWorkersJSON(t *testing.T) {
	code, signal := 3, "SIGKILL"
	expectEqual(t, written(t, RunExit{End: "exited", ExitCode: &code, EndedAt: 1_700_000_000_000, Tail: []string{"a<b"}}),
		`{"end":"exited","exitCode":3,"signal":null,"endedAt":1700000000000,"tail":["a<b"]}`)
	expectEqual(t, written(t, RunExit{End: "timeout", Signal: &signal, EndedAt: 5, Tail: []string{}}),
		`{"end":"timeout","exitCode":null,"signal":"SIGKILL","endedAt":5,"tail":[]}`)
	expectEqual(t, written(t, RunExit{End: "terminated", EndedAt: 5, Tail: []string{}, Error: "why"}),
		`{"end":"terminated","exitCode":null,"signal":null,"endedAt":5,"tail":[],"error":"why"}`)
	identity := &ProcessIdentity{Pid: 7, StartTicks: 123, BootID: "b"}
	expectEqual(t, written(t, RunStarted{KeeperPid: 7, Keeper: identity, Pid: 8, StartedAt: 9, KillMode: cgroupMode}),
		`{"keeperPid":7,"keeper":{"pid":7,"startTicks":123,"bootId":"b"},"pid":8,"startedAt":9,"killMode":"cgroup"}`)
	expectEqual(t, written(t, RunStarted{KeeperPid: 7, Pid: 8, StartedAt: 9, KillMode: cgroupMode, RunID: "r.1",
		KillGraceMs: 1_500, LogFile: "/l"}),
		`{"keeperPid":7,"pid":8,"startedAt":9,"killMode":"cgroup","runId":"r.1","killGraceMs":1500,"logFile":"/l"}`)
	var clock FrozenTime
	expectEqual(t, written(t, clock.Record()), `{"since":null,"endedSpansMs":0}`)
	clock.Freeze(42)
	expectEqual(t, written(t, clock.Record()), `{"since":42,"endedSpansMs":0}`)
	done, total := 3.0, 10.0
	progress := RunProgress{Progress: &Progress{Percent: 30, Done: &done, Total: &total}, ProgressAt: 11}
	expectEqual(t, written(t, progress), `{"progress":{"percent":30,"done":3,"total":10},"progressAt":11,"frozenMs":0}`)
	frozenAtMark := int64(2)
	progress.FirstProgress = &ProgressMark{Percent: 10, At: 4, FrozenMs: &frozenAtMark}
	progress.FrozenMs = 5
	expectEqual(t, written(t, progress), `{"progress":{"percent":30,"done":3,"total":10},"progressAt":11,"frozenMs":5,`+
		`"firstProgress":{"percent":10,"at":4,"frozenMs":2}}`)
}

func TestASpecIsReadAsTheWorkerWritesIt(t *testing.T) {
	files := NewRunFiles(t.TempDir())
	spec := `{"runId":"r","file":"/bin/sh","args":["-c","x"],"cwd":"/tmp","logFile":"/tmp/l","logLimitBytes":1048576,` +
		`"timeoutMs":null,"killGraceMs":1000,"leaseTimeoutMs":60000,"quota":{"token":"t","quotas":[]},` +
		`"warning":{"signal":"SIGUSR1","beforeMs":2000}}`
	os.WriteFile(files.Spec, []byte(spec), 0o644)
	read, err := ReadSpec(files)
	if err != nil {
		t.Fatal(err)
	}
	expectEqual(t, words(read.RunID, read.Args, read.LogLimitBytes, read.TimeoutMs, read.KillGraceMs,
		read.LeaseTimeoutMs, *read.Warning), "r [-c x] 1.048576e+06 <nil> 1000 60000 {SIGUSR1 2000}")
}

func TestWritesOfOneFileThatOverlapEachLandWholeAndLeaveNoPartialFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "progress.json")
	big := func(version int) map[string]any {
		tail := make([]string, 5_000)
		for i := range tail {
			tail[i] = fmt.Sprintf("%d of %d", i, version)
		}
		return map[string]any{"version": version, "tail": tail}
	}
	var writers sync.WaitGroup
	for version := 0; version < 30; version++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			WriteJSON(file, big(version))
		}()
	}
	reading := make(chan struct{})
	go func() {
		writers.Wait()
		close(reading)
	}()
	for read := true; read; {
		select {
		case <-reading:
			read = false
		default:
		}
		text, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		var record struct{ Tail []string }
		if err := json.Unmarshal(text, &record); err != nil || len(record.Tail) != 5_000 {
			t.Fatalf("a half-written file read: %v", err)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, entry := range entries {
		if strings.HasSuffix(entry.Name(), ".partial") {
			t.Fatalf("left behind: %s", entry.Name())
		}
	}
}

func TestAKeepersIdentityIsItsStartTimeAndBoot(t *testing.T) {
	identity := ProcessIdentityOf(os.Getpid())
	stat := string(readAll(t, fmt.Sprintf("/proc/%d/stat", os.Getpid())))
	fields := strings.Fields(stat[strings.LastIndex(stat, ")")+1:])
	bootID := strings.TrimSpace(string(readAll(t, "/proc/sys/kernel/random/boot_id")))
	expectEqual(t, words(identity.Pid, identity.StartTicks, identity.BootID),
		words(os.Getpid(), fields[19], bootID))
	expectEqual(t, ProcessIdentityOf(-5) == nil, true)
}
