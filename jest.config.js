/** Tests are compiled by tsc first (`npm test`), then run as native ESM. */
export default {
  testEnvironment: 'node',
  // Soft-deleting globals between files breaks execa's exit handler (stack overflow at teardown).
  testEnvironmentOptions: { globalsCleanup: 'off' },
  roots: ['<rootDir>/dist/test'],
  testMatch: ['**/*.test.js'],
  transform: {},
  testTimeout: 120_000,
  // A failed test can leave a worker's handle open; CI must still end with the results written.
  forceExit: true,
  maxWorkers: 1,
};
