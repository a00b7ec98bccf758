package main

// The age of a run's lease, counted in time this machine was awake since the keeper last saw it renewed.
// The worker stamps the lease with the wall-clock time of its last contact with the server; the keeper reads
// the stamp's age on the wall clock once, when it sees a new stamp, and from then on adds only awake time
// (Go's monotonic clock, CLOCK_MONOTONIC, which stops while the machine is suspended). A laptop that sleeps past
// the adoption window therefore wakes with its runs' leases as old as they were when it went to sleep.

type LeaseAge struct {
	// AwakeMs is the awake time since the stamp, as the keeper counts it.
	AwakeMs float64
	// WallMs is what the wall clock says, for the record of why a run was stopped.
	WallMs    float64
	RenewedAt float64
}

type seenLease struct {
	renewedAt, ageWhenSeen, seenAtAwake float64
}

type LeaseClock struct {
	seen *seenLease
}

// Observe takes in the lease's stamp (wall ms; nil: no lease) read at wallNow and awakeNow (monotonic ms), and
// returns its age.
func (clock *LeaseClock) Observe(renewedAt *float64, wallNow, awakeNow float64) *LeaseAge {
	if renewedAt == nil {
		return nil
	}
	wallAge := max(0, wallNow-*renewedAt)
	if clock.seen == nil || clock.seen.renewedAt != *renewedAt {
		// A new stamp is younger than the last one by the wall time between them: a stamp written late (after a
		// sleep) for a contact made before it is not aged by the sleep.
		ageWhenSeen := wallAge
		if clock.seen != nil {
			fromLast := clock.ageAt(awakeNow) - (*renewedAt - clock.seen.renewedAt)
			ageWhenSeen = max(0, min(wallAge, fromLast))
		}
		clock.seen = &seenLease{renewedAt: *renewedAt, ageWhenSeen: ageWhenSeen, seenAtAwake: awakeNow}
	}
	return &LeaseAge{AwakeMs: clock.ageAt(awakeNow), WallMs: wallAge, RenewedAt: *renewedAt}
}

func (clock *LeaseClock) ageAt(awakeNow float64) float64 {
	return clock.seen.ageWhenSeen + max(0, awakeNow-clock.seen.seenAtAwake)
}
