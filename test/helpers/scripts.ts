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
  /** Adds the host name (`$(hostname)`) to each journal line: which machine ran it. */
  host?: boolean;
}

/**
 * Writes `<dir>/<name>.sh`; it appends `start|end <name> <epoch ns> <pid> <attempt> [<host>]` to `<journal>`.
 * A body may write other events in the same form with `journalLine(journal, event, host)`.
 */
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
    journalLine(journal, 'start', options.host),
    options.body ?? 'sleep 0.2',
    'status=$?',
    journalLine(journal, 'end', options.host),
    'exit $status',
    '',
  ].join('\n');
  await writeFile(file, script);
  await chmod(file, 0o755);
  return file;
}

/** The shell command that appends one journal line for the running script. */
export function journalLine(journal: string, event: JournalEntry['event'], host = false): string {
  const fields = `${event} $STAGED_EXPERIMENT $(date +%s%N) $$ $STAGED_ATTEMPT${host ? ' $(hostname)' : ''}`;
  return `echo "${fields}" >> "${journal}"`;
}

export interface JournalEntry {
  /** `stopped`: the script was stopped (a TERM trap of its own body), so it has no `end`. */
  event: 'start' | 'end' | 'stopped';
  name: string;
  atMs: number;
  pid: number;
  attempt: number;
  /** The script's host name, when its journal lines carry it. */
  host?: string;
}

export async function readJournal(journal: string): Promise<JournalEntry[]> {
  const text = await readFile(journal, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [event, name, ns, pid, attempt, host] = line.split(' ');
      return {
        event: event as JournalEntry['event'],
        name,
        atMs: Number(BigInt(ns) / 1_000_000n),
        pid: Number(pid),
        attempt: Number(attempt),
        ...(host ? { host } : {}),
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
