// Power cuts on SQLite, with a filesystem that really forgets what was not synced
// (forgetful_fs.py): first a control that proves the layer bites, then the
// scheduler (under-cuts.ts) on a file under the layer. postgres.test.ts does the
// same for a PostgreSQL server's data folder.
//
// BT_POWER_CUTS=N sets the cuts per durability mode (default 20).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { tempDir } from '../helpers/setup.js';
import { keptCopy, keptSqlite } from './kept.js';
import { ForgetfulFs, powerCutUnavailable } from './layer.js';
import { KEEPS, run, underPowerCuts, type ArmedPoint } from './under-cuts.js';

const unavailable = powerCutUnavailable();
const CUTS = Number(process.env.BT_POWER_CUTS ?? 20);
const writer = fileURLToPath(new URL('../fixtures/power-cut/sqlite-writer.mjs', import.meta.url));

/** Where a cut is armed on SQLite. */
const ARMED: (ArmedPoint | null)[] = [
  null, // a random moment
  { op: 'fsync', match: '-wal$', upTo: 40, what: 'a WAL fsync (a commit)' },
  { op: 'write', match: 'tasks\\.db$', upTo: 20, what: 'a write to the database file (a checkpoint)' },
  { op: 'truncate', match: '-wal$', upTo: 0, what: 'a WAL truncation' },
  { op: 'fsync', match: 'tasks\\.db$', upTo: 2, what: "the database file's fsync (a checkpoint's end)" },
];

const summaries: string[] = [];
afterAll(() => {
  if (summaries.length > 0) console.log(summaries.join('\n'));
});

describe.skipIf(unavailable !== null)(`power cuts${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  test.each([
    ['OFF', true],
    ['FULL', false],
  ] as const)('control: synchronous=%s loses acknowledged rows after cuts: %s', async (synchronous, loses) => {
    const fs = await ForgetfulFs.mount(tempDir());
    try {
      let lost = 0;
      let acked = 0;
      for (let cut = 0; cut < 8; cut++) {
        const child = run([writer, join(fs.mountpoint, 'rows.db'), synchronous]);
        const target = 20 + cut * 15;
        await child.until((lines) => lines.length >= target, 10_000);
        const gone = child.kill();
        await fs.cut(KEEPS[cut % KEEPS.length]!, cut);
        await gone;
        const ids = child.lines.map(Number);
        expect(ids.length, child.stderr()).toBeGreaterThan(0);
        const { db, done } = keptCopy(fs.durable, 'rows.db');
        try {
          expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
          acked += ids.length;
          // Under OFF even the table can be gone: nothing was ever synced.
          const table = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'acked'").get();
          const has = table ? db.prepare('SELECT 1 FROM acked WHERE id = ?').pluck() : { get: () => undefined };
          lost += ids.filter((id) => has.get(id) === undefined).length;
        } finally {
          done();
        }
      }
      summaries.push(`control synchronous=${synchronous}: 8 cuts, ${acked} acknowledged rows, ${lost} lost`);
      if (loses) expect(lost).toBeGreaterThan(0);
      else expect(lost).toBe(0);
    } finally {
      await fs.unmount();
    }
  });

  test.each(['full', 'normal'] as const)(
    'a scheduler under power cuts, durability %s',
    async (durability) => {
      const fs = await ForgetfulFs.mount(tempDir());
      try {
        const report = await underPowerCuts(
          {
            fs,
            database: join(fs.mountpoint, 'tasks.db'),
            armed: ARMED,
            powerOff: async () => undefined,
            powerOn: async () => undefined,
            kept: async () => keptSqlite(fs.durable, 'tasks.db'),
          },
          durability,
          CUTS,
        );
        summaries.push(report.summary);
        expect(report.integrityFailures).toBe(0);
        expect(report.tasks).toBeGreaterThan(0);
        expect(report.executions).toBeGreaterThan(0);
        // Under 'normal' losses are counted, not problems: what is left (an id handed out
        // twice, a scheduler that could not resume) fails either mode.
        expect(report.problems).toEqual([]);
      } finally {
        await fs.unmount();
      }
    },
    600_000,
  );
});
