package main

// The built binary given a command's flag with the wrong number of arguments: a one-line usage error, exit code 2,
// never a keeper started for a run directory named after the flag.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestWrongArgumentCountsAreUsageErrors(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "staged-keeper")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	runDir := filepath.Join(dir, "run")
	if err := os.Mkdir(runDir, 0o777); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args  []string
		usage string
	}{
		{[]string{"--stop-left", runDir}, "staged-keeper --stop-left <run directory> <kill mode>"},
		{[]string{"--stop-left"}, "staged-keeper --stop-left <run directory> <kill mode>"},
		{[]string{"--stop-left", runDir, "", "extra"}, "staged-keeper --stop-left <run directory> <kill mode>"},
		{[]string{"--guard", runDir}, "staged-keeper --guard <run directory> <kill mode>"},
		{[]string{"--guard", runDir, "", "extra"}, "staged-keeper --guard <run directory> <kill mode>"},
		{[]string{"--launcher", runDir}, "staged-keeper --launcher"},
	}
	// The right count still reaches the command: a launcher exits 0 once its worker closes its stdin.
	launcher := exec.Command(binary, "--launcher")
	launcher.Stdin = strings.NewReader("")
	if out, err := launcher.CombinedOutput(); err != nil {
		t.Fatalf("--launcher: %v (%q)", err, out)
	}
	for _, c := range cases {
		cmd := exec.Command(binary, c.args...)
		cmd.Dir = dir // a keeper started by mistake would look for its run directory ("--stop-left") here
		var stderr strings.Builder
		cmd.Stderr = &stderr
		cmd.Stdin = strings.NewReader("")
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%q: want exit code 2, got %v (stderr %q)", c.args, err, stderr.String())
			continue
		}
		want := "staged keeper: wrong arguments for " + c.args[0] + " (" + strconv.Itoa(len(c.args)-1) + " given); usage: " +
			c.usage + "\n"
		if stderr.String() != want {
			t.Errorf("%q: stderr %q, want %q", c.args, stderr.String(), want)
		}
		for _, name := range []string{"state.json", "exit.json", "keeper.lock"} {
			if _, err := os.Stat(filepath.Join(runDir, name)); err == nil {
				t.Errorf("%q: %s written in the run directory", c.args, name)
			}
		}
	}
}
