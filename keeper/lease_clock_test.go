package main

// The lease's age in awake time: the arithmetic alone (the keeper's system tests run it in a real keeper).

import "testing"

const hour = 3_600_000

func observe(t *testing.T, clock *LeaseClock, renewedAt, wallNow, awakeNow float64) LeaseAge {
	t.Helper()
	age := clock.Observe(&renewedAt, wallNow, awakeNow)
	if age == nil {
		t.Fatal("no age for a lease")
	}
	return *age
}

func TestALeaseAgesWithAwakeTimeOnly(t *testing.T) {
	var clock LeaseClock
	age := observe(t, &clock, 1_000, 1_500, 10)
	expectEqual(t, [2]float64{age.AwakeMs, age.WallMs}, [2]float64{500, 500})
	age = observe(t, &clock, 1_000, 3_500, 2_010)
	expectEqual(t, [2]float64{age.AwakeMs, age.WallMs}, [2]float64{2_500, 2_500})
	// Suspended for an hour: the wall clock moved on, the monotonic clock did not.
	age = observe(t, &clock, 1_000, 3_600+hour, 2_110)
	expectEqual(t, [2]float64{age.AwakeMs, age.WallMs}, [2]float64{2_600, hour + 2_600})
}

func TestAnUnrenewedLeaseAgesWithAwakeTimeAndARenewalMakesItYoungAgain(t *testing.T) {
	var clock LeaseClock
	observe(t, &clock, 0, 0, 0)
	expectEqual(t, observe(t, &clock, 0, 9_000, 9_000).AwakeMs, 9_000)
	expectEqual(t, observe(t, &clock, 8_500, 9_000, 9_000).AwakeMs, 500)
	expectEqual(t, observe(t, &clock, 8_500, 12_000, 12_000).AwakeMs, 3_500)
}

func TestAStampWrittenAfterASleepForAContactMadeBeforeItIsNotAgedByTheSleep(t *testing.T) {
	var clock LeaseClock
	observe(t, &clock, 10_000, 10_200, 200)
	// Contact at 11 000 just before an hour of sleep; the worker wrote the stamp on waking.
	expectEqual(t, observe(t, &clock, 11_000, 11_500+hour, 1_400).AwakeMs, 400)
}

func TestNoLeaseNoAge(t *testing.T) {
	var clock LeaseClock
	if clock.Observe(nil, 5_000, 5_000) != nil {
		t.Fatal("an age for no lease: the keeper would stop its run for a lease it never had")
	}
}

func TestAClockSetBackDoesNotMakeALeaseOlderThanItsAwakeAge(t *testing.T) {
	var clock LeaseClock
	observe(t, &clock, 10_000, 10_000, 0)
	age := observe(t, &clock, 10_000, 4_000, 1_000)
	expectEqual(t, [2]float64{age.AwakeMs, age.WallMs}, [2]float64{1_000, 0})
}
