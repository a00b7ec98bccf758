package main

// A frozen run's timeout clock: the arithmetic alone (keeper-freeze.system.test.ts runs it in a real keeper).

import "testing"

func ms(value float64) *float64 { return &value }

func expectRecord(t *testing.T, clock *FrozenTime, since *int64, endedSpansMs int64) {
	t.Helper()
	record := clock.Record()
	if (record.Since == nil) != (since == nil) || (since != nil && *record.Since != *since) ||
		record.EndedSpansMs != endedSpansMs {
		t.Fatalf("record %+v, want since %v and %d ms", record, since, endedSpansMs)
	}
}

func expectEqual[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestARunNeverFrozenCountsAllItsTime(t *testing.T) {
	var clock FrozenTime
	expectEqual(t, clock.RunningMs(1_000, 5_000), 4_000)
	expectRecord(t, &clock, nil, 0)
	expectEqual(t, IsTimedOut(&clock, 1_000, 5_000, ms(4_000)), false)
	expectEqual(t, IsTimedOut(&clock, 1_000, 5_001, ms(4_000)), true)
	expectEqual(t, IsTimedOut(&clock, 1_000, 1e12, nil), false)
}

func TestFrozenTimeDoesNotCountTheSpanGoingOnIncludedAndSpansAddUp(t *testing.T) {
	var clock FrozenTime
	clock.Freeze(2_000)
	expectEqual(t, clock.Frozen(), true)
	expectEqual(t, clock.RunningMs(0, 8_000), 2_000)
	since := int64(2_000)
	expectRecord(t, &clock, &since, 0)
	clock.Thaw(8_000)
	expectEqual(t, clock.RunningMs(0, 9_000), 3_000)
	clock.Freeze(10_000)
	clock.Thaw(11_500)
	expectRecord(t, &clock, nil, 7_500)
	expectEqual(t, clock.RunningMs(0, 12_000), 4_500)
	// --timeout 4.5s: frozen for 7.5 s of 12 s, it has run 4.5 s.
	expectEqual(t, IsTimedOut(&clock, 0, 11_999, ms(4_500)), false)
	expectEqual(t, IsTimedOut(&clock, 0, 12_001, ms(4_500)), true)
}

func TestASecondFreezeKeepsTheFirstOnesStartAndAThawOfARunNotFrozenChangesNothing(t *testing.T) {
	var clock FrozenTime
	clock.Thaw(1_000)
	expectRecord(t, &clock, nil, 0)
	clock.Freeze(1_000)
	clock.Freeze(3_000)
	expectEqual(t, clock.FrozenMs(4_000), 3_000)
	// A clock stepped back never makes frozen time negative.
	clock.Thaw(500)
	expectEqual(t, clock.FrozenMs(600), 0)
}
