package main

// A process told apart from any later one that reuses its pid: its start time in clock ticks since boot
// (`/proc/<pid>/stat`, field 22) and the boot's id, as src/keeper/process-identity.ts computes it, so that a worker
// recognises the keeper from its record in state.json.

import (
	"os"
	"strconv"
	"strings"
)

// statFields are the fields of /proc/<pid>/stat from its state on (field 3); nil when there is no such process.
func statFields(pid int) []string {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	text := string(stat)
	return strings.Split(text[min(len(text), strings.LastIndex(text, ")")+2):], " ")
}

// ProcessIdentityOf says who pid is now; nil when no process has it.
func ProcessIdentityOf(pid int) *ProcessIdentity {
	fields := statFields(pid)
	if len(fields) < 20 {
		return nil
	}
	bootID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return nil
	}
	startTicks, _ := strconv.ParseInt(fields[19], 10, 64)
	return &ProcessIdentity{Pid: pid, StartTicks: startTicks, BootID: strings.TrimSpace(string(bootID))}
}

// identitiesOf says who each of pids is now, leaving out those that are gone; nil when none is left.
func identitiesOf(pids []int) []ProcessIdentity {
	var identities []ProcessIdentity
	for _, pid := range pids {
		if identity := ProcessIdentityOf(pid); identity != nil {
			identities = append(identities, *identity)
		}
	}
	return identities
}
