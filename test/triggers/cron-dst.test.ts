import { describe, expect, test } from 'vitest';
import { PeriodicTrigger, ValidationError } from '../../src/index.js';
import { nextCronTime } from '../../src/triggers/cron.js';
import { oracleChanges, oracleNext } from '../helpers/cron-oracle.js';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
const at = (text: string) => Date.parse(text);

/** The next `count` fire times after `after`, as ISO strings. */
function fires(cron: string, zone: string, after: number, count: number): (string | null)[] {
  const times: (string | null)[] = [];
  let t: number | null = after;
  for (let i = 0; i < count && t !== null; i++) times.push(iso((t = nextCronTime(cron, zone, t))));
  return times;
}

describe('the cases found by the outside check, each fixed', () => {
  test('a trigger that died: Lord Howe daily and hourly jobs keep going at the April change', () => {
    // 2024-04-07 02:00 LHDT (+11) goes back to 01:30 LHST (+10:30) at 15:00Z.
    expect(fires('15 2 * * *', 'Australia/Lord_Howe', at('2024-04-05T00:00:00Z'), 3)).toEqual([
      '2024-04-05T15:15:00.000Z',
      '2024-04-06T15:45:00.000Z', // 02:15 +10:30: after the change, once
      '2024-04-07T15:45:00.000Z',
    ]);
    expect(fires('0 * * * *', 'Australia/Lord_Howe', at('2024-04-06T13:30:00Z'), 4)).toEqual([
      '2024-04-06T14:00:00.000Z', // 01:00 +11
      '2024-04-06T15:30:00.000Z', // 02:00 +10:30 (02:00 +11 never came: the clock went back at it)
      '2024-04-06T16:30:00.000Z',
      '2024-04-06T17:30:00.000Z',
    ]);
  });

  test('a time before `after`: Chatham */15 after 13:00Z on 6 April 2024 answers 13:15Z', () => {
    // 03:45 CHADT (+13:45) goes back to 02:45 CHAST (+12:45) at 14:00Z.
    expect(fires('*/15 * * * *', 'Pacific/Chatham', at('2024-04-06T13:00:00Z'), 6)).toEqual([
      '2024-04-06T13:15:00.000Z', // 03:00 +13:45
      '2024-04-06T13:30:00.000Z',
      '2024-04-06T13:45:00.000Z',
      '2024-04-06T14:00:00.000Z', // 02:45 +12:45, the second pass
      '2024-04-06T14:15:00.000Z',
      '2024-04-06T14:30:00.000Z',
    ]);
  });

  test('a skipped month: a monthly job asked just before a change lands on the next month', () => {
    expect(iso(nextCronTime('0 2 1 * *', 'Europe/Berlin', at('2024-10-27T00:59:59.500Z')))).toBe(
      '2024-11-01T01:00:00.000Z',
    );
    for (const zone of ['Europe/London', 'America/New_York', 'America/Santiago', 'America/Sao_Paulo', 'Pacific/Apia']) {
      for (const year of [2011, 2018, 2024]) {
        for (const after of oracleChanges(zone, year).flatMap((change) => [change - 1000, change - 500, change - 1])) {
          const expected = oracleNext('0 2 1 * *', zone, after, 40 * 86_400_000)!;
          expect(`${zone} ${iso(after)} ${iso(nextCronTime('0 2 1 * *', zone, after))}`).toBe(
            `${zone} ${iso(after)} ${iso(expected)}`,
          );
        }
      }
    }
  });

  test('self-contradiction: a restart inside a repeated hour does not run a daily job twice', () => {
    // New York, 1 November 2026: 01:30 EDT is 05:30Z; 01:30 EST (06:30Z) is the second pass.
    const first = nextCronTime('30 1 * * *', 'America/New_York', at('2026-11-01T05:00:00Z'));
    expect(iso(first)).toBe('2026-11-01T05:30:00.000Z');
    for (const restart of ['2026-11-01T05:30:00Z', '2026-11-01T06:10:00Z', '2026-11-01T06:30:00Z']) {
      expect(iso(nextCronTime('30 1 * * *', 'America/New_York', at(restart)))).toBe('2026-11-02T06:30:00.000Z');
    }
  });

  test('self-contradiction: a restart just before a spring-forward jump does not drop that day', () => {
    // Berlin, 29 March 2026: 02:00 CET (01:00Z) jumps to 03:00 CEST; 02:30 runs at the jump.
    for (const restart of ['2026-03-28T12:00:00Z', '2026-03-29T00:30:00Z', '2026-03-29T00:59:59.999Z']) {
      expect(iso(nextCronTime('30 2 * * *', 'Europe/Berlin', at(restart)))).toBe('2026-03-29T01:00:00.000Z');
    }
    expect(iso(nextCronTime('30 2 * * *', 'Europe/Berlin', at('2026-03-29T01:00:00Z')))).toBe(
      '2026-03-30T00:30:00.000Z',
    );
  });

  test('wildcard jobs run at local times that exist: the second pass in Lord Howe', () => {
    expect(fires('*/15 1 * * *', 'Australia/Lord_Howe', at('2024-04-06T14:00:00Z'), 7)).toEqual([
      '2024-04-06T14:15:00.000Z', // 01:15 +11
      '2024-04-06T14:30:00.000Z', // 01:30 +11
      '2024-04-06T14:45:00.000Z', // 01:45 +11
      '2024-04-06T15:00:00.000Z', // 01:30 +10:30, the second pass
      '2024-04-06T15:15:00.000Z', // 01:45 +10:30
      '2024-04-07T14:30:00.000Z', // the next day, 01:00 +10:30
      '2024-04-07T14:45:00.000Z',
    ]);
  });

  test('wildcard jobs run at local times that exist: the minutes before the Chatham gap', () => {
    // 29 September 2024: 02:45 CHAST (+12:45) jumps to 03:45 CHADT (+13:45) at 14:00Z.
    expect(fires('*/15 * * * *', 'Pacific/Chatham', at('2024-09-28T13:00:00Z'), 5)).toEqual([
      '2024-09-28T13:15:00.000Z', // 02:00 +12:45
      '2024-09-28T13:30:00.000Z', // 02:15
      '2024-09-28T13:45:00.000Z', // 02:30
      '2024-09-28T14:00:00.000Z', // 03:45 +13:45
      '2024-09-28T14:15:00.000Z',
    ]);
  });

  test.each(['H * * * *', 'H/15 * * * *', '0 H(0-3) * * *', '0 0 * * H', '0 0 H * *'])(
    'H is refused on trigger.cron: %s',
    (cron) => {
      expect(() => new PeriodicTrigger({ cron })).toThrow(ValidationError);
      expect(() => new PeriodicTrigger({ cron })).toThrow(expect.objectContaining({ field: 'trigger.cron' }));
    },
  );

  test('weekday and month names that hold an H are still names', () => {
    expect(iso(new PeriodicTrigger({ cron: '0 9 * MAR THU' }).next(at('2026-03-01T00:00:00Z')))).toBe(
      '2026-03-05T09:00:00.000Z',
    );
  });
});

describe('what rule 15 says, in the README examples', () => {
  test('a fixed-time job whose time the clock skips runs once, at the jump', () => {
    expect(iso(nextCronTime('30 2 * * *', 'Europe/Berlin', at('2026-03-28T12:00:00Z')))).toBe(
      '2026-03-29T01:00:00.000Z', // 03:00 CEST
    );
    // Two times in the gap still make one run.
    expect(fires('0,30 2 * * *', 'Europe/Berlin', at('2026-03-29T00:00:00Z'), 2)).toEqual([
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:00:00.000Z',
    ]);
  });

  test('a fixed-time job whose time comes twice runs at the first', () => {
    expect(fires('30 2 * * *', 'Europe/Berlin', at('2026-10-24T12:00:00Z'), 3)).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST, 02:30 CET (01:30Z) is skipped
      '2026-10-26T01:30:00.000Z',
      '2026-10-27T01:30:00.000Z',
    ]);
  });

  test('a wildcard job skips the times that do not exist and runs on both passes of a repeated hour', () => {
    expect(fires('30 * * * *', 'Europe/Berlin', at('2026-03-29T00:00:00Z'), 3)).toEqual([
      '2026-03-29T00:30:00.000Z', // 01:30 CET
      '2026-03-29T01:30:00.000Z', // 03:30 CEST: 02:30 does not exist
      '2026-03-29T02:30:00.000Z',
    ]);
    expect(fires('30 * * * *', 'Europe/Berlin', at('2026-10-24T23:00:00Z'), 4)).toEqual([
      '2026-10-24T23:30:00.000Z', // 01:30 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:30:00.000Z', // 02:30 CET, the second pass
      '2026-10-25T02:30:00.000Z', // 03:30 CET
    ]);
  });

  test('a day that exists only in some years: the fifth Thursday of February, across 2100', () => {
    expect(iso(nextCronTime('0 0 * 2 4#5', 'UTC', at('2080-03-01T00:00:00Z')))).toBe('2120-02-29T00:00:00.000Z');
  });

  test('Samoa skipped 30 December 2011: a fixed-time job of that day runs at the jump', () => {
    expect(fires('0 12 * * *', 'Pacific/Apia', at('2011-12-29T00:00:00Z'), 3)).toEqual([
      '2011-12-29T22:00:00.000Z', // 29 December 12:00 -10
      '2011-12-30T10:00:00.000Z', // the jump: 29 December 24:00 -10 is 31 December 00:00 +14
      '2011-12-30T22:00:00.000Z', // 31 December 12:00 +14
    ]);
  });
});
