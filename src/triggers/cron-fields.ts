import type { CronExpression } from 'cron-parser';

/**
 * A cron expression's fields, and the search for the first wall-clock time that
 * matches them. Wall-clock times here are "wall milliseconds": a local date and
 * time read as if it were UTC (2026-03-29 02:30 local is Date.UTC(2026, 2, 29, 2, 30)),
 * so this file knows nothing of zones; cron.ts maps wall times to instants.
 *
 * cron-parser parses the expression; the matching below keeps its reading of the
 * fields (day of month OR day of week when both are restricted, `L`, `#`), which a
 * test checks against cron-parser itself in UTC, where it has no DST to get wrong.
 */
export interface WallFields {
  /** For each second, minute and hour value, the smallest allowed value ≥ it, or -1. */
  nextSecond: Int8Array;
  nextMinute: Int8Array;
  nextHour: Int8Array;
  months: boolean[];
  days: boolean[];
  lastDay: boolean;
  dayWildcard: boolean;
  weekdays: boolean[];
  /** The `#n` of the day-of-week field, 0 without one. */
  nth: number;
  /** Weekdays that match in the last seven days of a month (`5L`). */
  lastWeekdays: boolean[];
  weekdayWildcard: boolean;
}

const DAY = 86_400_000;

export function wallFields(expression: CronExpression): WallFields {
  const { second, minute, hour, dayOfMonth, month, dayOfWeek } = expression.fields;
  const numbers = (values: readonly (number | string)[]) => values.filter((v): v is number => typeof v === 'number');
  const lastWeekdays = flags(
    7,
    dayOfWeek.hasLastChar ? dayOfWeek.values.map((v) => parseInt(String(v).charAt(0), 10) % 7) : [],
  );
  return {
    nextSecond: nextValues(60, second.values),
    nextMinute: nextValues(60, minute.values),
    nextHour: nextValues(24, hour.values),
    months: flags(13, month.values),
    days: flags(32, numbers(dayOfMonth.values)),
    lastDay: dayOfMonth.hasLastChar,
    dayWildcard: dayOfMonth.isWildcard,
    weekdays: flags(
      7,
      numbers(dayOfWeek.values).map((v) => v % 7),
    ),
    nth: dayOfWeek.nthDay,
    lastWeekdays,
    weekdayWildcard: dayOfWeek.isWildcard,
  };
}

/** The first matching wall time in [from, until), from a whole second; null if none. */
export function nextWallMatch(fields: WallFields, from: number, until: number): number | null {
  let day = Math.floor(from / DAY);
  let timeOfDay = from - day * DAY;
  while (day * DAY < until) {
    const date = new Date(day * DAY);
    const year = date.getUTCFullYear();
    const month = date.getUTCMonth() + 1;
    if (!fields.months[month]) {
      day = Date.UTC(year, month, 1) / DAY; // the first of the next month
      timeOfDay = 0;
      continue;
    }
    if (dayMatches(fields, date.getUTCDate(), date.getUTCDay(), new Date(Date.UTC(year, month, 0)).getUTCDate())) {
      const time = firstTimeOfDay(fields, timeOfDay);
      if (time !== null) {
        const wall = day * DAY + time;
        return wall < until ? wall : null;
      }
    }
    day++;
    timeOfDay = 0;
  }
  return null;
}

function dayMatches(fields: WallFields, day: number, weekday: number, daysInMonth: number): boolean {
  const byDay = fields.days[day] === true || (fields.lastDay && day === daysInMonth);
  const byWeekday =
    (fields.weekdays[weekday] === true && (fields.nth <= 0 || Math.ceil(day / 7) === fields.nth)) ||
    (fields.lastWeekdays[weekday] === true && day > daysInMonth - 7);
  if (!fields.dayWildcard && !fields.weekdayWildcard) return byDay || byWeekday;
  return fields.weekdayWildcard ? byDay : byWeekday;
}

/** The first allowed time of day (ms) at or after `from` ms into the day, or null. */
function firstTimeOfDay(fields: WallFields, from: number): number | null {
  const h0 = Math.floor(from / 3_600_000);
  const m0 = Math.floor(from / 60_000) % 60;
  const s0 = Math.floor(from / 1000) % 60;
  for (let h = fields.nextHour[h0]!; h !== -1; h = h < 23 ? fields.nextHour[h + 1]! : -1) {
    const mFrom = h === h0 ? m0 : 0;
    for (let m = fields.nextMinute[mFrom]!; m !== -1; m = m < 59 ? fields.nextMinute[m + 1]! : -1) {
      const s = fields.nextSecond[h === h0 && m === m0 ? s0 : 0]!;
      if (s !== -1) return h * 3_600_000 + m * 60_000 + s * 1000;
    }
  }
  return null;
}

function nextValues(size: number, values: readonly (number | string)[]): Int8Array {
  const allowed = flags(
    size,
    values.filter((v): v is number => typeof v === 'number'),
  );
  const next = new Int8Array(size).fill(-1);
  for (let v = size - 1; v >= 0; v--) next[v] = allowed[v] ? v : v + 1 < size ? next[v + 1]! : -1;
  return next;
}

function flags(size: number, values: readonly (number | string)[]): boolean[] {
  const set = new Array<boolean>(size).fill(false);
  for (const v of values) if (typeof v === 'number' && v >= 0 && v < size) set[v] = true;
  return set;
}
