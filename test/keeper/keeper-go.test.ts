/** The keeper's own tests (keeper/*_test.go, pure logic and real processes), run by `go test` so that CI runs them. */
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const KEEPER_SOURCE = fileURLToPath(new URL('../../../keeper/', import.meta.url));

test('go test passes in keeper/', async () => {
  const result = await execa('go', ['test', './...'], {
    cwd: KEEPER_SOURCE,
    env: { GOTOOLCHAIN: 'local', CGO_ENABLED: '0' },
    reject: false,
    all: true,
  });
  if (result.exitCode !== 0) console.error(result.all);
  expect(result.exitCode).toBe(0);
}, 120_000);
