package main

// How the keeper starts a script inside its tree: straight into the run's cgroup where the machine has one.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAScriptIsClonedStraightIntoItsRunsCgroupWithNoShellBetween(t *testing.T) {
	tree := RunTreeFor("spawn-test-"+strconv.Itoa(os.Getpid()), "")
	if tree.Mode() != cgroupMode {
		t.Skip("no writable cgroup v2 here: the process scan has no cgroup to clone into")
	}
	defer tree.Release()
	child, pipes, err := spawnInTree(tree, "/bin/sleep", []string{"30"}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pipe := range pipes {
		defer pipe.Close()
	}
	defer tree.Stop(time.Second)

	expectEqual(t, fmt.Sprint(tree.Members()), fmt.Sprint([]int{child.Pid}))
	expectEqual(t, commandLineOf(t, child.Pid), "/bin/sleep 30")
	cgroupLine, _ := os.ReadFile("/proc/" + strconv.Itoa(child.Pid) + "/cgroup")
	if !strings.Contains(string(cgroupLine), "/staged/"+filepath.Base(tree.CgroupDir())) {
		t.Fatalf("the script is in %q, not in its run's cgroup %s", cgroupLine, tree.CgroupDir())
	}
}

// commandLineOf waits for the exec to have set the process's arguments: its cmdline reads empty for a moment.
func commandLineOf(t *testing.T, pid int) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if len(cmdline) > 0 || time.Now().After(deadline) {
			return strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")
		}
	}
}

func TestAScriptsOutputKeepsTheOrderItWasWrittenInAcrossStdoutAndStderr(t *testing.T) {
	script := "printf 'out 1\\n'; printf 'err 2\\n' >&2; printf 'out 3\\n'; printf 'err 4\\n' >&2"
	child, pipes, err := spawn("/bin/sh", []string{"-c", script}, t.TempDir(), nil, noCgroup)
	if err != nil {
		t.Fatal(err)
	}
	// Read only once the script has exited, as a reader that lags behind would: each pipe holds all it was given.
	if _, err := child.Wait(); err != nil {
		t.Fatal(err)
	}
	var output strings.Builder
	for _, pipe := range pipes {
		all, _ := io.ReadAll(pipe)
		output.Write(all)
		pipe.Close()
	}
	expectEqual(t, output.String(), "out 1\nerr 2\nout 3\nerr 4\n")
}
