import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The store-level and scheduler-level tests: the conformance suite, run once on
 * SQLite and once on PostgreSQL, so that the two stores cannot drift apart.
 */
const CONFORMANCE = [
  'test/conformance/**/*.test.ts',
  'test/scheduler/**/*.test.ts',
  'test/hostile/model.property.test.ts',
  'test/hostile/handlers.test.ts',
  'test/hostile/time-edges.test.ts',
  'test/hostile/input-limits.test.ts',
  'test/seed-regressions.test.ts',
  'test/smoke.test.ts',
  'test/retention.test.ts',
  'test/telemetry.test.ts',
  'test/lease.test.ts',
  'test/worker-tasks.test.ts',
  'test/logging.test.ts',
];

/** Tests of what only PostgreSQL offers: a fleet of processes, the CLI on a URL, the server's clock. */
const POSTGRES_ONLY = ['test/postgres/**/*.test.ts', 'test/acceptance/fleet.test.ts', 'test/power-cut/postgres.test.ts'];

/** PostgreSQL tests need BT_TEST_PG_URL or the server binaries to start a cluster of their own. */
function postgresAvailable(): boolean {
  if (process.env.BT_TEST_PG_URL) return true;
  try {
    execFileSync('bash', ['-c', 'ls /usr/lib/postgresql/*/bin/initdb || command -v initdb'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn('\n!! No PostgreSQL: the postgres tests are skipped. Set BT_TEST_PG_URL or install postgresql.\n');
    return false;
  }
}

export default defineConfig({
  resolve: {
    // A module task's worker thread runs JavaScript: the sources under test start the built entry.
    alias: [
      {
        find: /^\.\/worker-entry-url\.js$/,
        replacement: fileURLToPath(new URL('./test/helpers/worker-entry-url.ts', import.meta.url)),
      },
    ],
  },
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'sqlite',
          include: ['test/**/*.test.ts'],
          exclude: POSTGRES_ONLY,
        },
      },
      ...(postgresAvailable()
        ? [
            {
              extends: true,
              test: {
                name: 'postgres',
                include: [...CONFORMANCE, ...POSTGRES_ONLY],
                env: { BT_STORE: 'postgres' },
                // Real round trips: a test that walks days of fake time makes tens of thousands.
                testTimeout: 60_000,
                globalSetup: ['test/helpers/pg-server.ts'],
              },
            },
          ]
        : []),
    ],
  },
});
