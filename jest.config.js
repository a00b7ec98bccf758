/**
 * Tests are compiled by tsc first (`npm test`), then run as native ESM, in two tiers:
 * - unit: everything that needs no server (no Temporal server, no long run, no PostgreSQL or Chromium);
 * - system: files named `*.system.test.ts`, against real servers and processes.
 * `npm run test:unit` runs the first, `npm test` both, the unit tier first (jest.tiers.js).
 */
const tier = (name, testMatch, testPathIgnorePatterns = []) => ({
  displayName: name,
  testEnvironment: 'node',
  // Soft-deleting globals between files breaks execa's exit handler (stack overflow at teardown).
  testEnvironmentOptions: { globalsCleanup: 'off' },
  roots: ['<rootDir>/dist/test'],
  testMatch,
  testPathIgnorePatterns,
  transform: {},
});

export default {
  projects: [tier('unit', ['**/*.test.js'], ['\\.system\\.test\\.js$']), tier('system', ['**/*.system.test.js'])],
  testSequencer: '<rootDir>/jest.tiers.js',
  testTimeout: 120_000,
  // A failed test can leave a worker's handle open; CI must still end with the results written.
  forceExit: true,
  // Two files at a time: each starts its own servers, queues and runs directories (CONTRIBUTING.md, the tiers).
  maxWorkers: 2,
};
