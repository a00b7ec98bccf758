//go:build wallclockjump

package main

// A keeper whose wall clock jumps as a sleeping machine's does on waking, for the sleep test
// (test/keeper/keeper-sleep.system.test.ts builds it with `-tags wallclockjump`): its wall clock is the machine's
// plus the seconds written in the file STAGED_KEEPER_WALL_OFFSET_FILE names ("+7200"), read at each use. Its
// monotonic clock, by which the lease ages, is the machine's own. Never in a built staged.

import (
	"os"
	"strconv"
	"strings"
	"time"
)

func wallNow() time.Time {
	now := time.Now().Round(0) // the wall reading alone: the offset must not move the monotonic one
	text, err := os.ReadFile(os.Getenv("STAGED_KEEPER_WALL_OFFSET_FILE"))
	if err != nil {
		return now
	}
	seconds, err := strconv.ParseFloat(strings.TrimPrefix(strings.TrimSpace(string(text)), "+"), 64)
	if err != nil {
		return now
	}
	return now.Add(time.Duration(seconds * float64(time.Second)))
}
