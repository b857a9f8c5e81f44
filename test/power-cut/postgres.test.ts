// Power cuts on PostgreSQL: a server whose data folder lies on the power-cut layer
// (postgres-on-layer.ts) loses its power with the scheduler's process; it starts
// again on what the disk kept (crash recovery replays its WAL), pg_amcheck checks
// every table and index, and the acknowledged work must be there (under-cuts.ts).
// Armed points: a WAL flush (a commit), a checkpoint's page writes and file syncs,
// pg_control's rewrite, a table truncated by vacuum.
//
// BT_POWER_CUTS=N sets the cuts per durability mode (default 20).
import { afterAll, describe, expect, test } from 'vitest';
import { tempDir } from '../helpers/setup.js';
import { keptPostgres } from './kept.js';
import { powerCutUnavailable } from './layer.js';
import { PostgresOnLayer, postgresOnLayerUnavailable } from './postgres-on-layer.js';
import { underPowerCuts, type ArmedPoint } from './under-cuts.js';

const unavailable = powerCutUnavailable() ?? postgresOnLayerUnavailable();
const CUTS = Number(process.env.BT_POWER_CUTS ?? 20);
const DATA_FILE = '/base/\\d+/\\d+$';

const ARMED: (ArmedPoint | null)[] = [
  null,
  { op: 'fsync', match: '/pg_wal/[0-9A-F]{24}$', upTo: 40, what: 'a WAL flush (a commit)' },
  { op: 'write', match: DATA_FILE, upTo: 30, what: "a data page's write (a checkpoint or vacuum)" },
  { op: 'fsync', match: DATA_FILE, upTo: 3, what: "a data file's sync (a checkpoint)" },
  { op: 'write', match: '/global/pg_control$', upTo: 0, what: "pg_control's rewrite (a checkpoint's end)" },
  { op: 'truncate', match: DATA_FILE, upTo: 0, what: 'a table truncated (vacuum)' },
];

const summaries: string[] = [];
afterAll(() => {
  if (summaries.length > 0) console.log(summaries.join('\n'));
});

describe.skipIf(unavailable !== null)(
  `power cuts on PostgreSQL${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    test.each(['full', 'normal'] as const)(
      'a scheduler on a server under power cuts, durability %s',
      async (durability) => {
        const server = await PostgresOnLayer.create(tempDir(), 20_000 + Math.floor(Math.random() * 20_000));
        try {
          const report = await underPowerCuts(
            {
              fs: server.fs,
              database: server.url,
              armed: ARMED,
              powerOff: () => server.powerOff(),
              powerOn: () => server.start(),
              kept: () => keptPostgres(server.client(), () => server.check()),
            },
            durability,
            CUTS,
          );
          summaries.push(`PostgreSQL ${report.summary}`);
          expect(report.integrityFailures, server.serverLog().slice(-3000)).toBe(0);
          expect(report.tasks).toBeGreaterThan(0);
          expect(report.executions).toBeGreaterThan(0);
          expect(report.problems).toEqual([]);
        } finally {
          await server.destroy();
        }
      },
      600_000,
    );
  },
);
