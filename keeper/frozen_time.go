package main

// How long a run has been frozen (`pause <batchId> <exp>`): the spans that ended and the one going on. Its
// `--timeout` counts only the time it was not frozen. Pure: the keeper passes in its clock.

// FrozenRecord is the keeper's record of a run's freeze (`frozen.json`).
type FrozenRecord struct {
	// Since is when the current freeze began; nil while the run is not frozen.
	Since *int64 `json:"since"`
	// EndedSpansMs is the time frozen in spans that have ended.
	EndedSpansMs int64 `json:"endedSpansMs"`
}

type FrozenTime struct {
	since        *int64
	endedSpansMs int64
}

func (clock *FrozenTime) Frozen() bool { return clock.since != nil }

func (clock *FrozenTime) Freeze(now int64) {
	if clock.since == nil {
		clock.since = &now
	}
}

func (clock *FrozenTime) Thaw(now int64) {
	if clock.since == nil {
		return
	}
	clock.endedSpansMs += max(0, now-*clock.since)
	clock.since = nil
}

// FrozenMs is the frozen time up to now, the current span included.
func (clock *FrozenTime) FrozenMs(now int64) int64 {
	if clock.since == nil {
		return clock.endedSpansMs
	}
	return clock.endedSpansMs + max(0, now-*clock.since)
}

// RunningMs is the time the run has run unfrozen since startedAt.
func (clock *FrozenTime) RunningMs(startedAt, now int64) int64 {
	return max(0, now-startedAt-clock.FrozenMs(now))
}

func (clock *FrozenTime) Record() FrozenRecord {
	record := FrozenRecord{EndedSpansMs: clock.endedSpansMs}
	if clock.since != nil {
		since := *clock.since
		record.Since = &since
	}
	return record
}

// IsTimedOut: run longer than timeoutMs in time not frozen (nil: no limit).
func IsTimedOut(clock *FrozenTime, startedAt, now int64, timeoutMs *float64) bool {
	return timeoutMs != nil && float64(clock.RunningMs(startedAt, now)) > *timeoutMs
}
