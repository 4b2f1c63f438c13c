import { defineConfig } from 'vitest/config';

/**
 * Files that load the whole machine: the chaos run keeps a fleet streaming
 * twelve requests at once while processes die. Beside it, tests that time a
 * dispatcher's death against its heartbeat TTL or the relay's stall timeout
 * failed their bounds, so these run after everything else, alone.
 */
const RUN_ALONE = ['tests/e2e/chaos.test.ts'];
/**
 * Kills and restarts Redis and processes and bounds the recovery in seconds:
 * beside the suite's parallel files on a 2-core machine its Redis-restart case
 * timed out at 60 s in a CI run (and missed its 5 s bound under load), never
 * alone. It runs last, alone too, until the cause is found.
 */
const RUN_LAST = ['tests/e2e/lifecycle.test.ts'];

export default defineConfig({
  resolve: { conditions: ['development'] },
  ssr: { resolve: { conditions: ['development'] } },
  test: {
    exclude: ['**/node_modules/**', '**/dist/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: more parallel files only add scheduling noise to timing-sensitive tests.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['**/src/**/*.test.ts', 'tests/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', ...RUN_ALONE, ...RUN_LAST],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'alone',
          include: RUN_ALONE,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'last',
          include: RUN_LAST,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
