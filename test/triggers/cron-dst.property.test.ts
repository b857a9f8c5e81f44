import { CronExpressionParser } from 'cron-parser';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { nextCronTime, validateCron } from '../../src/triggers/cron.js';
import { oracleChanges, oracleNext } from '../helpers/cron-oracle.js';

// Sizes: BT_CRON_CASES=20000 for a long run; the default runs in well under a minute.
const CASES = Number(process.env.BT_CRON_CASES ?? 400);
const SEED = Number(process.env.BT_CRON_SEED ?? 20261202);
// The oracle steps minute by minute: tens of milliseconds a case.
const TIMEOUT = 60_000 + CASES * 200;

const ZONES = [
  'Australia/Lord_Howe', // 30-minute shift
  'Pacific/Chatham', // +12:45 / +13:45
  'Asia/Kathmandu', // +05:45, one change in 1986
  'America/Santiago', // changes at midnight
  'Pacific/Apia', // skipped 30 December 2011
  'Europe/Berlin',
  'America/New_York',
  'America/Sao_Paulo',
  'Asia/Gaza', // changes a week apart in its Ramadan rules
  'Africa/Casablanca',
  'UTC',
];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** One field of the grammar the oracle parses, biased towards the values DST changes touch. */
function field(min: number, max: number, likely: number[]): fc.Arbitrary<string> {
  const value = fc.oneof(fc.constantFrom(...likely), fc.integer({ min, max }));
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant('*') },
    { weight: 3, arbitrary: value.map(String) },
    {
      weight: 2,
      arbitrary: fc
        .uniqueArray(value, { minLength: 2, maxLength: 4 })
        .map((values) => values.sort((a, b) => a - b).join(',')),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(value, value).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
    },
    {
      weight: 2,
      arbitrary: fc.integer({ min: 2, max: Math.max(2, Math.floor((max - min) / 2)) }).map((n) => `*/${n}`),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(value, fc.integer({ min: 2, max: 7 })).map(([a, n]) => `${a}-${max}/${n}`),
    },
  );
}

const dayField = fc.oneof(
  { weight: 6, arbitrary: fc.constant('*') },
  { weight: 1, arbitrary: field(1, 31, [1, 15, 28, 29, 30, 31]) },
);
const monthField = fc.oneof(
  { weight: 6, arbitrary: fc.constant('*') },
  { weight: 1, arbitrary: field(1, 12, [3, 4, 9, 10, 11]) },
);
const weekdayField = fc.oneof(
  { weight: 5, arbitrary: fc.constant('*') },
  { weight: 1, arbitrary: field(0, 7, [0, 6]) },
);

const expression = fc
  .oneof(
    fc
      .tuple(field(0, 59, [0, 15, 30, 45]), field(0, 23, [0, 1, 2, 3]), dayField, monthField, weekdayField)
      .map((fields) => fields.join(' ')),
    fc
      .tuple(
        field(0, 59, [0, 30]),
        field(0, 59, [0, 15, 30, 45]),
        field(0, 23, [0, 1, 2, 3]),
        dayField,
        monthField,
        weekdayField,
      )
      .map((fields) => fields.join(' ')),
  )
  .filter(accepted);

/** The properties are about the expressions a trigger accepts (`0 0 31 2 *` is refused). */
function accepted(cron: string): boolean {
  try {
    validateCron(cron, 'UTC', 'trigger');
    return true;
  } catch {
    return false;
  }
}

const changesCache = new Map<string, number[]>();
function changesOf(zone: string, year: number): number[] {
  const key = `${zone} ${year}`;
  if (!changesCache.has(key)) changesCache.set(key, oracleChanges(zone, year));
  return changesCache.get(key)!;
}

/** A reference time: within a day and a half of an offset change in a year from 1970 to 2100, or anywhere. */
const reference = fc
  .record({
    zone: fc.constantFrom(...ZONES),
    year: fc.integer({ min: 1970, max: 2100 }),
    pick: fc.nat(),
    shift: fc.integer({ min: -36 * HOUR, max: 36 * HOUR }),
    ms: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 999 })),
  })
  .map(({ zone, year, pick, shift, ms }) => {
    const changes = changesOf(zone, year);
    const base = changes.length > 0 ? changes[pick % changes.length]! : Date.UTC(year, pick % 12, 1);
    return { zone, after: Math.floor((base + shift) / 1000) * 1000 + ms };
  });

const iso = (t: number | null | undefined) => (typeof t === 'number' ? new Date(t).toISOString() : String(t));

describe('cron next times across DST changes', () => {
  test(
    `agree with a brute-force oracle (${CASES} cases)`,
    () => {
      let unknown = 0;
      fc.assert(
        fc.property(expression, reference, (cron, { zone, after }) => {
          const expected = oracleNext(cron, zone, after, 400 * DAY);
          if (expected === undefined) {
            unknown++;
            return;
          }
          const actual = nextCronTime(cron, zone, after);
          expect(`${cron} in ${zone} after ${iso(after)}: ${iso(actual)}`).toBe(
            `${cron} in ${zone} after ${iso(after)}: ${iso(expected)}`,
          );
        }),
        { numRuns: CASES, seed: SEED },
      );
      // Expressions the oracle could not settle within 400 days stay rare.
      expect(unknown).toBeLessThan(CASES / 20);
    },
    TIMEOUT,
  );

  test(
    'are self-consistent: every b in [a, next(a)) has the same next',
    () => {
      fc.assert(
        fc.property(
          expression,
          reference,
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
          (cron, { zone, after }, fractions) => {
            const next = nextCronTime(cron, zone, after);
            expect(next).not.toBeNull();
            expect(next!).toBeGreaterThan(after);
            const probes = [after + 1, next! - 1, ...fractions.map((f) => after + Math.floor(f * (next! - after)))];
            // The instants around each offset change between a and next(a) too.
            const year = new Date(after).getUTCFullYear();
            for (const change of [...changesOf(zone, year), ...changesOf(zone, year + 1)]) {
              if (change > after && change < next!) probes.push(change - 1000, change, change + 1000);
            }
            for (const b of probes.filter((p) => p >= after && p < next!)) {
              expect(`${cron} in ${zone} from ${iso(b)}: ${iso(nextCronTime(cron, zone, b))}`).toBe(
                `${cron} in ${zone} from ${iso(b)}: ${iso(next)}`,
              );
            }
          },
        ),
        { numRuns: CASES, seed: SEED + 1 },
      );
    },
    TIMEOUT,
  );

  test(
    'are strictly after, never null, and deterministic, to the year 2100',
    () => {
      fc.assert(
        fc.property(
          expression,
          fc.constantFrom(...ZONES),
          fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2100, 0, 1) }),
          (cron, zone, start) => {
            let at = start;
            for (let i = 0; i < 20; i++) {
              const next = nextCronTime(cron, zone, at);
              expect(next, `${cron} in ${zone} after ${iso(at)}`).not.toBeNull();
              expect(next!).toBeGreaterThan(at);
              expect(nextCronTime(cron, zone, at)).toBe(next);
              at = next!;
            }
          },
        ),
        { numRuns: Math.ceil(CASES / 4), seed: SEED + 2 },
      );
    },
    TIMEOUT,
  );
});

describe('outside DST changes, the fields mean what cron-parser says they mean', () => {
  // cron-parser's own stepping is right where no offset changes: UTC and fixed-offset zones.
  const rich = fc
    .tuple(
      fc.constantFrom('0', '*/15', '5,35'),
      fc.constantFrom('0', '30', '*/7', '10-20'),
      fc.constantFrom('*', '3', '9-17', '*/6'),
      fc.constantFrom('*', '1', '15', 'L', '1-7', '*/10', '29', '31', '?'),
      fc.constantFrom('*', '2', 'FEB', 'JAN-MAR', '*/4', '12'),
      fc.constantFrom('*', '1', 'MON-FRI', '5L', '2#3', '0,6', '7', 'SUN', '?', '4#5', '1L'),
    )
    .filter(([, , , day, , weekday]) => !(day === '?' && weekday === '?'))
    .map((fields) => fields.join(' '));

  test(
    'in UTC and in fixed-offset zones',
    () => {
      fc.assert(
        fc.property(
          rich,
          fc.constantFrom('UTC', 'Asia/Kolkata', 'Asia/Tokyo'),
          fc.integer({ min: Date.UTC(1971, 0, 1) / 1000, max: Date.UTC(2099, 0, 1) / 1000 }),
          (cron, zone, seconds) => {
            const after = seconds * 1000;
            let expected: number;
            try {
              expected = CronExpressionParser.parse(cron, { currentDate: new Date(after), tz: zone })
                .next()
                .getTime();
            } catch {
              return; // cron-parser's loop limit: the case it cannot answer
            }
            expect(`${cron} after ${iso(after)}: ${iso(nextCronTime(cron, zone, after))}`).toBe(
              `${cron} after ${iso(after)}: ${iso(expected)}`,
            );
          },
        ),
        { numRuns: CASES, seed: SEED + 3 },
      );
    },
    TIMEOUT,
  );
});
