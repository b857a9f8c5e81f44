import { expect, test } from 'vitest';
import { PeriodicTrigger } from '../src/index.js';
import { FakeClock, settle } from '../src/testing.js';
import { oracleChanges, oracleNext } from './helpers/cron-oracle.js';
import { createHarness } from './helpers/setup.js';

// A scheduler on the fake clock across DST changes (rule 15): each job runs at the
// times the brute-force oracle gives, daily jobs once a day, nothing hangs, and no
// slot counts as missed while the scheduler ran throughout.

const HOUR = 3_600_000;
const STEP = HOUR;

/** Per zone: a change to cross, and daily jobs at times its gap or fold touches. */
const CASES: [zone: string, year: number, change: number, daily: string[]][] = [
  ['Australia/Lord_Howe', 2024, 0, ['45 1 * * *', '15 2 * * *']], // fold 01:30–02:00
  ['Australia/Lord_Howe', 2024, 1, ['15 2 * * *']], // gap 02:00–02:30
  ['Pacific/Chatham', 2024, 0, ['0 3 * * *']], // fold 02:45–03:45
  ['Pacific/Chatham', 2024, 1, ['0 3 * * *']], // gap 02:45–03:45
  ['Asia/Kathmandu', 1985, 0, ['5 0 * * *']], // gap 00:00–00:15 on 1 January 1986
  ['America/Santiago', 2024, 0, ['30 23 * * *']], // fold 23:00–24:00
  ['America/Santiago', 2024, 1, ['30 0 * * *']], // gap 00:00–01:00
  ['Pacific/Apia', 2011, 2, ['0 12 * * *']], // 30 December 2011 skipped
  ['Europe/Berlin', 2026, 0, ['30 2 * * *']],
  ['Europe/Berlin', 2026, 1, ['30 2 * * *']],
  ['America/New_York', 2026, 0, ['30 2 * * *']],
  ['America/New_York', 2026, 1, ['30 1 * * *']],
];

const PERIODIC = ['0 * * * *', '*/15 * * * *'];

test.each(CASES)(
  '%s %i, change %i: jobs run at their times, daily ones once a day',
  async (zone, year, index, daily) => {
    const change = oracleChanges(zone, year)[index]!;
    const start = change - 4 * HOUR;
    const end = change + 22 * HOUR;
    const clock = new FakeClock(start);
    const { scheduler } = createHarness({ clock });
    const ran = new Map<string, number[]>();
    const ids = new Map<string, number>();
    for (const cron of [...daily, ...PERIODIC]) {
      ran.set(cron, []);
      scheduler.register(cron, () => void ran.get(cron)!.push(clock.now()));
      const task = await scheduler.addTask({
        name: cron,
        handler: cron,
        triggers: [new PeriodicTrigger({ cron, timezone: zone })],
      });
      ids.set(cron, task.id);
    }
    await scheduler.start();
    while (clock.now() < end) await clock.advance(STEP);
    await settle();

    for (const [cron, times] of ran) {
      const expected: number[] = [];
      for (
        let t = oracleNext(cron, zone, start, 3 * 86_400_000)!;
        t <= end;
        t = oracleNext(cron, zone, t, 3 * 86_400_000)!
      ) {
        expected.push(t);
      }
      expect(times.map(iso), cron).toEqual(expected.map(iso));
      const trigger = (await scheduler.getTask(ids.get(cron)!))!.triggers[0]!;
      expect(trigger.missedCount, cron).toBe(0);
    }
    // Where a whole day was skipped, its run comes at the jump, on the next day's date.
    for (const cron of zone === 'Pacific/Apia' ? [] : daily) {
      const days = ran.get(cron)!.map((t) => localDate(t, zone));
      expect(new Set(days).size, `${cron} runs once a local day`).toBe(days.length);
    }
  },
);

const iso = (t: number) => new Date(t).toISOString();
const localDate = (t: number, zone: string) => new Intl.DateTimeFormat('en-CA', { timeZone: zone }).format(t);
