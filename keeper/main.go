// The keeper of one run: a small process, detached from the worker, that starts the experiment, owns its output
// (the log file, with its size policy) and its whole process tree, and records how it ended. It outlives the
// worker, so a worker restarted on this machine adopts the run instead of starting it again; it stops the run
// itself on timeout, on request (SIGTERM), or when no worker has renewed its lease within the adoption window,
// counted in time the machine was awake (see docs/reliability.md). It freezes the run's tree while its directory
// holds a `freeze` request, and its timeout counts only the time the run was not frozen.
//
// A guard process (guard.go) stops the run if the keeper dies without recording its end. A worker starts its keepers
// through a launcher (launcher.go), this binary too.
//
// Usage: staged-keeper <run directory>   (the experiment's environment is the keeper's own)
// or:    staged-keeper --launcher        (launch requests on stdin, one JSON line each; pids on stdout)
// or:    staged-keeper --stop-left <run directory> <kill mode>   (stop_left.go)
// (and, started by a keeper: staged-keeper --guard <run directory> <kill mode>, guard.go)
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// A command of this binary other than keeping a run: its flag, how many arguments follow it, and its usage.
type command struct {
	arguments int
	usage     string
}

// commands: a flag with the wrong number of arguments is a usage error, never a keeper for a run directory named
// after the flag.
var commands = map[string]command{
	guardFlag:    {2, "staged-keeper --guard <run directory> <kill mode>"},
	stopLeftFlag: {2, "staged-keeper --stop-left <run directory> <kill mode>"},
	launcherFlag: {0, "staged-keeper --launcher"},
}

// usageError is the line said (exit code 2) when args (os.Args) name a command with the wrong number of arguments; ""
// when they do not.
func usageError(args []string) string {
	if len(args) < 2 {
		return ""
	}
	command, isCommand := commands[args[1]]
	if !isCommand || len(args)-2 == command.arguments {
		return ""
	}
	return fmt.Sprintf("staged keeper: wrong arguments for %s (%d given); usage: %s", args[1], len(args)-2, command.usage)
}

func main() {
	if message := usageError(os.Args); message != "" {
		fmt.Fprintln(os.Stderr, message)
		os.Exit(2)
	}
	if len(os.Args) == 4 && os.Args[1] == guardFlag {
		guardMain(os.Args[2], KillMode(os.Args[3]))
		return
	}
	if len(os.Args) == 4 && os.Args[1] == stopLeftFlag {
		os.Exit(stopLeftCommand(os.Args[2], KillMode(os.Args[3])))
	}
	if len(os.Args) == 2 && os.Args[1] == launcherFlag {
		launcherMain(os.Args[0])
		return
	}
	// A keeper ignores the terminal's signals: it is stopped only through its run directory and SIGTERM.
	ignoreTerminalSignals()
	if len(os.Args) < 2 || os.Args[1] == "" {
		fmt.Fprintln(os.Stderr, "staged keeper: usage: staged-keeper <run directory>")
		os.Exit(1)
	}
	if err := keep(NewRunFiles(os.Args[1]), os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "staged keeper: %v\n", err)
		os.Exit(1)
	}
}

// ignoreTerminalSignals takes SIGINT and SIGHUP and does nothing with them. Not signal.Ignore: a signal ignored
// stays ignored in the script the keeper starts, and a script must get its terminal's signals as usual.
func ignoreTerminalSignals() {
	terminal := make(chan os.Signal, 4)
	signal.Notify(terminal, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		for range terminal {
		}
	}()
}
