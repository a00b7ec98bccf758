package main

// When the keeper warns a run before its --timeout: the arithmetic (keeper-warning.system.test.ts runs a real one).

import "testing"

var warning = &RunWarning{Signal: "SIGUSR1", BeforeMs: 15_000}

func TestDueOnceTheRunHasRunItsTimeoutLessTheWarningInTimeNotFrozen(t *testing.T) {
	var clock FrozenTime
	expectEqual(t, IsWarningDue(&clock, 0, 4_999, ms(20_000), warning), false)
	expectEqual(t, IsWarningDue(&clock, 0, 5_000, ms(20_000), warning), true)
	clock.Freeze(1_000)
	expectEqual(t, IsWarningDue(&clock, 0, 9_000, ms(20_000), warning), false) // frozen: it could not act on it
	clock.Thaw(9_000)
	expectEqual(t, IsWarningDue(&clock, 0, 12_999, ms(20_000), warning), false)
	expectEqual(t, IsWarningDue(&clock, 0, 13_000, ms(20_000), warning), true)
}

func TestNeverWithoutATimeoutOrAWarning(t *testing.T) {
	expectEqual(t, IsWarningDue(&FrozenTime{}, 0, 1e12, nil, warning), false)
	expectEqual(t, IsWarningDue(&FrozenTime{}, 0, 1e12, ms(20_000), nil), false)
}

func TestSignalsAreNamedAsNodeNamesThem(t *testing.T) {
	expectEqual(t, signalName(9), "SIGKILL")
	expectEqual(t, signalName(15), "SIGTERM")
	expectEqual(t, signalName(6), "SIGABRT")
	expectEqual(t, signalName(29), "SIGIO")
	number, known := signalNumber("SIGUSR2")
	expectEqual(t, number, 12)
	expectEqual(t, known, true)
	_, known = signalNumber("SIGNOPE")
	expectEqual(t, known, false)
}
