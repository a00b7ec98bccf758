package main

// What a SIGTERM to a keeper means, decided from what its worker wrote in the run's directory:
//   - a stop reason (`stop`): the worker asked (cancel, or `--on-shutdown stop`);
//   - a fresh "left for adoption" mark (`left`): the worker is shutting down and leaves the run to be adopted,
//     and the same SIGTERM reached the keeper too: the run goes on;
//   - neither within a short wait: nobody asked (`kill <keeper pid>`): the run is stopped as a failed attempt.
// The worker writes its word the moment it is stopped itself, so the wait only covers a SIGTERM sent to both.

import (
	"os"
	"strings"
	"time"
)

// sigtermExplainedWithinMs: how long a SIGTERM waits for its worker's word before it counts as nobody's.
const sigtermExplainedWithinMs = 5_000

// leftMarkFreshMs: a "left" mark older than this before the SIGTERM belongs to an earlier shutdown.
const leftMarkFreshMs = 10_000

type SigtermMeaning string

const (
	meaningCancelled  SigtermMeaning = "cancelled"
	meaningShutdown   SigtermMeaning = "shutdown"
	meaningLeft       SigtermMeaning = "left"
	meaningTerminated SigtermMeaning = "terminated"
)

func MeaningOfSigterm(files RunFiles, receivedAt int64, waitMs int64) SigtermMeaning {
	for deadline := receivedAt + waitMs; ; time.Sleep(100 * time.Millisecond) {
		if reason, err := os.ReadFile(files.StopReason); err == nil {
			if strings.TrimSpace(string(reason)) == "shutdown" {
				return meaningShutdown
			}
			return meaningCancelled
		}
		if leftAt := mtimeMs(files.LeftMark); leftAt != nil && *leftAt >= float64(receivedAt-leftMarkFreshMs) {
			return meaningLeft
		}
		if nowMs() >= deadline {
			return meaningTerminated
		}
	}
}
