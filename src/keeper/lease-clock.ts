/**
 * The age of a run's lease, counted in time this machine was awake since the keeper last saw it renewed.
 * The worker stamps the lease with the wall-clock time of its last contact with the server; the keeper reads
 * the stamp's age on the wall clock once, when it sees a new stamp, and from then on adds only awake time
 * (CLOCK_MONOTONIC, which stops while the machine is suspended). A laptop that sleeps past the adoption
 * window therefore wakes with its runs' leases as old as they were when it went to sleep.
 */

export interface LeaseAge {
  /** Awake time since the stamp, as the keeper counts it. */
  awakeMs: number;
  /** What the wall clock says, for the record of why a run was stopped. */
  wallMs: number;
  renewedAt: number;
}

export class LeaseClock {
  private seen: { renewedAt: number; ageWhenSeen: number; seenAtAwake: number } | undefined;

  /**
   * Takes in the lease's stamp (wall ms; undefined: no lease) read at `wallNow`, `awakeNow`
   * (performance.now()), and returns its age.
   */
  observe(renewedAt: number | undefined, wallNow: number, awakeNow: number): LeaseAge | undefined {
    if (renewedAt === undefined) return undefined;
    const wallAge = Math.max(0, wallNow - renewedAt);
    if (this.seen?.renewedAt !== renewedAt) {
      // A new stamp is younger than the last one by the wall time between them: a stamp written late (after a
      // sleep) for a contact made before it is not aged by the sleep.
      const fromLast = this.seen && this.ageAt(awakeNow) - (renewedAt - this.seen.renewedAt);
      const ageWhenSeen = fromLast === undefined ? wallAge : Math.max(0, Math.min(wallAge, fromLast));
      this.seen = { renewedAt, ageWhenSeen, seenAtAwake: awakeNow };
    }
    return { awakeMs: this.ageAt(awakeNow), wallMs: wallAge, renewedAt };
  }

  private ageAt(awakeNow: number): number {
    return this.seen!.ageWhenSeen + Math.max(0, awakeNow - this.seen!.seenAtAwake);
  }
}
