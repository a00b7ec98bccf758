package main

import "syscall"

// Signal names as Node gives them (os.constants.signals on Linux): exit.json's `signal`, and `--warn-signal`.
var signalNames = []struct {
	name   string
	number syscall.Signal
}{
	{"SIGHUP", 1}, {"SIGINT", 2}, {"SIGQUIT", 3}, {"SIGILL", 4}, {"SIGTRAP", 5}, {"SIGABRT", 6}, {"SIGIOT", 6},
	{"SIGBUS", 7}, {"SIGFPE", 8}, {"SIGKILL", 9}, {"SIGUSR1", 10}, {"SIGSEGV", 11}, {"SIGUSR2", 12},
	{"SIGPIPE", 13}, {"SIGALRM", 14}, {"SIGTERM", 15}, {"SIGSTKFLT", 16}, {"SIGCHLD", 17}, {"SIGCONT", 18},
	{"SIGSTOP", 19}, {"SIGTSTP", 20}, {"SIGTTIN", 21}, {"SIGTTOU", 22}, {"SIGURG", 23}, {"SIGXCPU", 24},
	{"SIGXFSZ", 25}, {"SIGVTALRM", 26}, {"SIGPROF", 27}, {"SIGWINCH", 28}, {"SIGIO", 29}, {"SIGPOLL", 29},
	{"SIGPWR", 30}, {"SIGSYS", 31},
}

// signalName is the name Node gives a signal (its first name, where it has two); "" for one it does not name.
func signalName(number syscall.Signal) string {
	for _, entry := range signalNames {
		if entry.number == number {
			return entry.name
		}
	}
	return ""
}

func signalNumber(name string) (syscall.Signal, bool) {
	for _, entry := range signalNames {
		if entry.name == name {
			return entry.number, true
		}
	}
	return 0, false
}
