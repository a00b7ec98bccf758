/** The dev server's arguments: a file DB gets staged's SQLite settings, the in-memory one none. */
import { DEV_SERVER_SQLITE_PRAGMAS, devServerArgs } from '../../src/server/dev-server.js';

const ports = { port: 7233, uiPort: 8233, metricsPort: 9090 };

/** The values of every `flag <value>` pair in `args`. */
function valuesOf(args: string[], flag: string): string[] {
  return args.flatMap((arg, index) => (arg === flag ? [args[index + 1]] : []));
}

test('a server on a file runs it in WAL mode with every commit synced (synchronous=FULL)', () => {
  const args = devServerArgs({ ...ports, dbFile: '/tmp/x/temporal.db' });

  expect(valuesOf(args, '--db-filename')).toEqual(['/tmp/x/temporal.db']);
  expect(valuesOf(args, '--sqlite-pragma')).toEqual(['journal_mode=WAL', 'synchronous=FULL']);
  expect(valuesOf(args, '--sqlite-pragma')).toEqual(DEV_SERVER_SQLITE_PRAGMAS);
});

test('an in-memory server gets no file and no pragmas (WAL does not apply to memory)', () => {
  const args = devServerArgs(ports);

  expect(valuesOf(args, '--db-filename')).toEqual([]);
  expect(valuesOf(args, '--sqlite-pragma')).toEqual([]);
  expect(args.slice(0, 2)).toEqual(['server', 'start-dev']);
});
