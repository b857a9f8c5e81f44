/**
 * A time zone's UTC offsets and the instants they change, read from the zone data
 * that Node's Intl carries. Cron evaluation (cron.ts) walks from one change to the
 * next, so it never has to guess which offset a wall-clock time has.
 */

/** At `at`, the zone's offset from UTC goes from `before` to `after` (ms, east positive). */
export interface OffsetChange {
  at: number;
  before: number;
  after: number;
}

const DAY = 86_400_000;

/**
 * Offsets are sampled this far apart and each change found is bisected to the
 * second. A change and its reversal inside one sample would both be missed; in the
 * zone data from 1970 to 2100 the closest pair is 7 days apart (Brazil in 2000,
 * and the Ramadan rules of Asia/Gaza), found by reading every zone Node knows day
 * by day.
 */
const SAMPLE_MS = 3 * DAY;

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset from UTC at instant `at`, in ms. */
export function utcOffset(zone: string, at: number): number {
  let format = formatters.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
    formatters.set(zone, format);
  }
  // "1/1/2026, GMT+05:45"; "GMT" alone for a zero offset; seconds for some old zones.
  const match = /GMT(?:([+-])(\d\d):(\d\d)(?::(\d\d))?)?$/.exec(format.format(at));
  if (match === null || match[1] === undefined) return 0;
  const ms = ((Number(match[2]) * 60 + Number(match[3])) * 60 + Number(match[4] ?? 0)) * 1000;
  return match[1] === '-' ? -ms : ms;
}

const changesByYear = new Map<string, readonly OffsetChange[]>();
const CACHED_YEARS = 4096;

/** The zone's offset changes in (start of `year`, start of `year + 1`] UTC, oldest first. */
export function offsetChanges(zone: string, year: number): readonly OffsetChange[] {
  const key = `${year} ${zone}`;
  const cached = changesByYear.get(key);
  if (cached !== undefined) return cached;
  const start = Date.UTC(year, 0, 1);
  const end = Date.UTC(year + 1, 0, 1);
  const changes: OffsetChange[] = [];
  let at = start;
  let offset = utcOffset(zone, at);
  while (at < end) {
    const next = Math.min(at + SAMPLE_MS, end);
    if (utcOffset(zone, next) === offset) {
      at = next;
      continue;
    }
    // Sampling goes on from the change found, so that two changes in one stretch both count.
    at = firstWith(zone, at, next, offset);
    const after = utcOffset(zone, at);
    changes.push({ at, before: offset, after });
    offset = after;
  }
  if (changesByYear.size >= CACHED_YEARS) changesByYear.clear();
  changesByYear.set(key, changes);
  return changes;
}

/** The first whole second in (from, to] whose offset is no longer `offset`. */
function firstWith(zone: string, from: number, to: number, offset: number): number {
  let low = from;
  let high = to;
  while (high - low > 1000) {
    const middle = low + Math.floor((high - low) / 2000) * 1000;
    if (utcOffset(zone, middle) === offset) low = middle;
    else high = middle;
  }
  return high;
}

/** The latest change in the day up to `at` (a fall-back repeats less than a day), or null. */
export function recentChange(zone: string, at: number): OffsetChange | null {
  const year = new Date(at).getUTCFullYear();
  const years = new Date(at - DAY).getUTCFullYear() === year ? [year] : [year, year - 1];
  for (const y of years) {
    const changes = offsetChanges(zone, y);
    for (let i = changes.length - 1; i >= 0; i--) {
      const change = changes[i]!;
      if (change.at <= at) return change.at > at - DAY ? change : null;
    }
  }
  return null;
}
