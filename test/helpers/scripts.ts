/** Experiment scripts for tests; each records its own start/end times and pid in a shared journal. */
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `staged-${prefix}-`));
}

/** A fresh experiments directory and the journal its test scripts write to. */
export async function tempExperimentsDir(prefix: string): Promise<{ dir: string; journal: string }> {
  const dir = await tempDir(prefix);
  return { dir, journal: path.join(dir, '_journal') };
}

export interface ScriptOptions {
  /** Summary line of the leading comment, which decides priority. */
  title?: string;
  /** Shell commands between the journal's start and end lines. */
  body?: string;
}

/** Writes `<dir>/<name>.sh`; it appends `start|end <name> <epoch ns> <pid> <attempt>` to `<journal>`. */
export async function writeScript(
  dir: string,
  name: string,
  journal: string,
  options: ScriptOptions = {},
): Promise<string> {
  const file = path.join(dir, `${name}.sh`);
  const script = [
    '#!/bin/sh',
    `# ${options.title ?? `${name} test experiment`}`,
    '',
    `echo "start $STAGED_EXPERIMENT $(date +%s%N) $$ $STAGED_ATTEMPT" >> "${journal}"`,
    options.body ?? 'sleep 0.2',
    'status=$?',
    `echo "end $STAGED_EXPERIMENT $(date +%s%N) $$ $STAGED_ATTEMPT" >> "${journal}"`,
    'exit $status',
    '',
  ].join('\n');
  await writeFile(file, script);
  await chmod(file, 0o755);
  return file;
}

export interface JournalEntry {
  event: 'start' | 'end';
  name: string;
  atMs: number;
  pid: number;
  attempt: number;
}

export async function readJournal(journal: string): Promise<JournalEntry[]> {
  const text = await readFile(journal, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [event, name, ns, pid, attempt] = line.split(' ');
      return {
        event: event as 'start' | 'end',
        name,
        atMs: Number(BigInt(ns) / 1_000_000n),
        pid: Number(pid),
        attempt: Number(attempt),
      };
    });
}

/** Most processes alive at one moment, from the processes' own start/end times. */
export function maxOverlap(entries: JournalEntry[]): number {
  const ordered = [...entries].sort((a, b) => a.atMs - b.atMs || (a.event === 'end' ? -1 : 1));
  let running = 0;
  let peak = 0;
  for (const entry of ordered) {
    running += entry.event === 'start' ? 1 : -1;
    peak = Math.max(peak, running);
  }
  return peak;
}
