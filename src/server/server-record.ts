/** `.staged/server.json`: where the dev server staged started listens, so that links to its Web UI are right. */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stagedHome } from '../paths.js';

interface ServerRecord {
  /** host:port of its gRPC frontend, as clients dial it. */
  address: string;
  uiPort: number;
  metricsPort: number;
}

function serverRecordFile(workDir: string): string {
  return path.join(stagedHome(workDir), 'server.json');
}

export function writeServerRecord(workDir: string, record: ServerRecord): void {
  mkdirSync(stagedHome(workDir), { recursive: true });
  writeFileSync(serverRecordFile(workDir), `${JSON.stringify(record, null, 2)}\n`);
}

export function readServerRecord(workDir: string): ServerRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(serverRecordFile(workDir), 'utf8')) as Partial<ServerRecord>;
    if (typeof record.address !== 'string' || typeof record.uiPort !== 'number') return undefined;
    return record as ServerRecord;
  } catch {
    return undefined;
  }
}

/** Forgets the record: the server it named was never this directory's. */
export function removeServerRecord(workDir: string): void {
  rmSync(serverRecordFile(workDir), { force: true });
}
