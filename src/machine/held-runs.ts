/**
 * The runs some activity of this worker holds, by run key: not orphans. Counted, not a set: a run the server gave up
 * on can be adopted again here while the activity that held it still lets go of it, and that one's end must not
 * make the run look unheld while the other holds it.
 */
export class HeldRuns {
  private readonly holders = new Map<string, number>();

  add(runKey: string): void {
    this.holders.set(runKey, (this.holders.get(runKey) ?? 0) + 1);
  }

  delete(runKey: string): void {
    const left = (this.holders.get(runKey) ?? 1) - 1;
    if (left > 0) this.holders.set(runKey, left);
    else this.holders.delete(runKey);
  }

  has(runKey: string): boolean {
    return this.holders.has(runKey);
  }
}
