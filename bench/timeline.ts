/** Benchmark experiments that time themselves, and what their journal says: makespan, overlap, refill gaps. */
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export async function makeExperiments(name: string, count: number, seconds: number) {
  const dir = await mkdtemp(path.join(tmpdir(), `staged-bench-${name}-`));
  const journal = path.join(dir, '_journal');
  const work = seconds > 0 ? `sleep ${seconds}\n` : '';
  const stamp = (event: string) => `echo "${event} $STAGED_EXPERIMENT $(date +%s%N)" >> "${journal}"\n`;
  for (let i = 1; i <= count; i++) {
    const file = path.join(dir, `exp${i}_bench.sh`);
    await writeFile(file, `#!/bin/sh\n${stamp('start')}${work}${stamp('end')}`);
    await chmod(file, 0o755);
  }
  return { dir, journal };
}

export interface Timeline {
  starts: number[];
  ends: number[];
  makespanMs: number;
  maxOverlap: number;
}

export async function readTimeline(journal: string): Promise<Timeline> {
  const lines = (await readFile(journal, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => line.split(' '));
  const at = (event: string) =>
    lines
      .filter(([kind]) => kind === event)
      .map(([, , ns]) => Number(BigInt(ns) / 1000n) / 1000)
      .sort((a, b) => a - b);
  const starts = at('start');
  const ends = at('end');
  const events = [...starts.map((t) => [t, 1]), ...ends.map((t) => [t, -1])].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let running = 0;
  let maxOverlap = 0;
  for (const [, change] of events) maxOverlap = Math.max(maxOverlap, (running += change));
  return { starts, ends, makespanMs: Math.round(ends.at(-1)! - starts[0]), maxOverlap };
}

/** The k-th process to end frees the slot that the (concurrency + k)-th process to start takes. */
export function refillGaps(timeline: Timeline, concurrency: number): number[] {
  const gaps: number[] = [];
  for (let k = 0; k + concurrency < timeline.starts.length; k++)
    gaps.push(timeline.starts[k + concurrency] - timeline.ends[k]);
  return gaps;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
}

/** Resolves once `count` experiments have stamped their end: how a peer without a client API says it is done. */
export async function waitForEnds(journal: string, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(journal, 'utf8').catch(() => '');
    const ends = text.split('\n').filter((line) => line.startsWith('end ')).length;
    if (ends >= count) return;
    if (Date.now() > deadline) throw new Error(`${ends} of ${count} experiments ended in ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
