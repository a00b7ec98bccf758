/**
 * Creates Temporal's two PostgreSQL databases and brings their schemas to the server's version with
 * temporal-sql-tool, as temporalio/admin-tools does: the versioned schemas are embedded in the tool.
 */
import { appendFileSync } from 'node:fs';
import { execa } from 'execa';
import { logTail } from './postgres.js';

const SCHEMAS = [
  { database: 'temporal', schemaName: 'postgresql/v12/temporal' },
  { database: 'temporal_visibility', schemaName: 'postgresql/v12/visibility' },
] as const;

interface SchemaTarget {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** Idempotent: the tool keeps a database that exists and leaves a schema at the current version as it is. */
export async function setUpSchemas(sqlTool: string, target: SchemaTarget, logFile: string): Promise<void> {
  for (const { database, schemaName } of SCHEMAS) {
    // The tool reads its connection from SQL_*: the password stays out of `ps`.
    const env = {
      SQL_PLUGIN: 'postgres12',
      SQL_HOST: target.host,
      SQL_PORT: String(target.port),
      SQL_USER: target.user,
      SQL_PASSWORD: target.password,
      SQL_DATABASE: database,
    };
    const steps = [['create-database'], ['setup-schema', '-v', '0.0'], ['update-schema', '--schema-name', schemaName]];
    for (const step of steps) {
      const result = await execa(sqlTool, step, { env, reject: false, all: true });
      appendFileSync(logFile, `$ temporal-sql-tool ${step.join(' ')}  # ${database}\n${String(result.all)}\n`);
      if (result.exitCode !== 0) {
        throw new Error(`temporal-sql-tool ${step.join(' ')} failed for ${database}:\n${await logTail(logFile)}`);
      }
    }
  }
}
