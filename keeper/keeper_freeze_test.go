package main

// A real keeper freezes and thaws its run as its directory asks (`pause`/`resume <batchId> <exp>`).

import (
	"encoding/json"
	"os"
	"testing"
)

func readRecord[T any](file string) (T, bool) {
	var record T
	text, err := os.ReadFile(file)
	return record, err == nil && json.Unmarshal(text, &record) == nil
}

// A script that prints no more after its thaw: its ETA counts its frozen time as running until progress.json has it.
func TestAThawedRunsProgressRecordCountsItsFrozenTimeAtOnce(t *testing.T) {
	run := startGuardedRun(t, "", daemonScript+`echo "PROGRESS 50%"; exec sleep 300`)
	waitFor(t, "the run's progress record", func() bool { _, found := readRecord[RunProgress](run.files.Progress); return found })
	os.WriteFile(run.files.FreezeRequest, nil, 0o666)
	waitFor(t, "the run to be frozen for a second", func() bool {
		record, _ := readRecord[FrozenRecord](run.files.Frozen)
		return record.Since != nil && nowMs()-*record.Since >= 1_000
	})
	os.Remove(run.files.FreezeRequest)
	var thawed FrozenRecord
	waitFor(t, "the run to be thawed", func() bool {
		record, found := readRecord[FrozenRecord](run.files.Frozen)
		thawed = record
		return found && record.Since == nil && record.EndedSpansMs > 0
	})
	progress, _ := readRecord[RunProgress](run.files.Progress)
	// Before: 0, as of the record written before the freeze, until the script printed again.
	expectEqual(t, progress.FrozenMs, thawed.EndedSpansMs)
	if progress.FirstProgress == nil || *progress.FirstProgress.FrozenMs != 0 {
		t.Fatalf("the first mark %+v, want it frozen 0 ms before", progress.FirstProgress)
	}
}
