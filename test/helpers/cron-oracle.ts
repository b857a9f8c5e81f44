/**
 * An obviously correct, slow cron evaluator for the tests: it parses the simple
 * grammar the generators produce (`*`, `*\/n`, `a`, `a-b`, `a-b/n`, lists), steps
 * through UTC time minute by minute, reads each instant's wall time with
 * Intl.DateTimeFormat#formatToParts, matches the fields, and applies rule 15 of
 * SPEC as it is written:
 * - a wildcard job fires at every instant whose wall time matches;
 * - a fixed-time job fires at an instant whose wall time matches and is later than
 *   every wall time seen before it (the first pass of a repeated time), and at the
 *   instant of a forward jump whose skipped wall times include a match.
 * It shares no code with src/triggers.
 */

const MINUTE = 60_000;
const BLOCK = 15 * MINUTE;

interface OracleCron {
  seconds: Set<number>;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  dayRestricted: boolean;
  weekdayRestricted: boolean;
  fixed: boolean;
}

function parseField(text: string, min: number, max: number): Set<number> {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const [range, stepText] = item.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    let [low, high] = [min, max];
    if (range !== '*') {
      const [a, b] = range.split('-');
      low = Number(a);
      high = b === undefined ? (stepText === undefined ? low : max) : Number(b);
    }
    for (let v = low; v <= high; v += step) values.add(v);
  }
  return values;
}

export function parseOracleCron(cron: string): OracleCron {
  const parts = cron.trim().split(/\s+/);
  const [second, minute, hour, day, month, weekday] = (parts.length === 5 ? ['0', ...parts] : parts) as string[];
  const weekdays = new Set([...parseField(weekday!, 0, 7)].map((v) => v % 7));
  return {
    seconds: parseField(second!, 0, 59),
    minutes: parseField(minute!, 0, 59),
    hours: parseField(hour!, 0, 23),
    days: parseField(day!, 1, 31),
    months: parseField(month!, 1, 12),
    weekdays,
    dayRestricted: day !== '*',
    weekdayRestricted: weekday !== '*',
    fixed: ![second, minute, hour].some((field) => /(^|,)\*/.test(field!)),
  };
}

const formats = new Map<string, Intl.DateTimeFormat>();
const blockOffsets = new Map<string, Map<number, number | null>>();

/** The zone's offset at `at` from formatToParts: the wall time read as UTC, minus the instant. */
export function oracleOffset(zone: string, at: number): number {
  let format = formats.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(zone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, Number(p.value)]));
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return wall - Math.floor(at / 1000) * 1000;
}

/** Wall time of a whole UTC minute; a 15-minute block whose two ends agree is read once. */
function wallOfMinute(zone: string, minute: number): number {
  let blocks = blockOffsets.get(zone);
  if (blocks === undefined || blocks.size > 500_000) blockOffsets.set(zone, (blocks = new Map()));
  const block = Math.floor(minute / BLOCK);
  let offset = blocks.get(block);
  if (offset === undefined) {
    const first = oracleOffset(zone, block * BLOCK);
    offset = first === oracleOffset(zone, block * BLOCK + BLOCK - MINUTE) ? first : null;
    blocks.set(block, offset);
  }
  return minute + (offset ?? oracleOffset(zone, minute));
}

function dayMatches(cron: OracleCron, wall: Date): boolean {
  if (!cron.months.has(wall.getUTCMonth() + 1)) return false;
  const byDay = cron.days.has(wall.getUTCDate());
  const byWeekday = cron.weekdays.has(wall.getUTCDay());
  if (cron.dayRestricted && cron.weekdayRestricted) return byDay || byWeekday;
  return cron.dayRestricted ? byDay : cron.weekdayRestricted ? byWeekday : true;
}

function minuteMatches(cron: OracleCron, wallMinute: number): boolean {
  const wall = new Date(wallMinute);
  return cron.minutes.has(wall.getUTCMinutes()) && cron.hours.has(wall.getUTCHours()) && dayMatches(cron, wall);
}

function anyMatchIn(cron: OracleCron, fromWall: number, toWall: number): boolean {
  for (let wall = fromWall; wall < toWall; wall += MINUTE) {
    if (minuteMatches(cron, wall) && cron.seconds.size > 0) return true;
  }
  return false;
}

/**
 * The first fire strictly after `after`, searching `horizonMs` ahead; undefined when
 * the search ran out. Assumes whole-minute offsets (every zone the tests use, since 1970).
 */
export function oracleNext(cronText: string, zone: string, after: number, horizonMs: number): number | undefined {
  const cron = parseOracleCron(cronText);
  const seconds = [...cron.seconds].sort((a, b) => a - b);
  // Six hours before `after` are enough to know the wall times a fold repeats.
  const start = Math.floor(after / MINUTE) * MINUTE - 6 * 3_600_000;
  let highest = -Infinity;
  let previousWall = wallOfMinute(zone, start - MINUTE);
  for (let minute = start; minute <= after + horizonMs; minute += MINUTE) {
    const wall = wallOfMinute(zone, minute);
    if (cron.fixed && minute > after && wall > previousWall + MINUTE) {
      if (anyMatchIn(cron, previousWall + MINUTE, wall)) return minute;
    }
    if (minuteMatches(cron, wall)) {
      for (const s of seconds) {
        const at = minute + s * 1000;
        if (at > after && (!cron.fixed || wall + s * 1000 > highest)) return at;
      }
    }
    highest = Math.max(highest, wall + 59_000);
    previousWall = wall;
  }
  return undefined;
}

/** Instants where the zone's offset changes in a year: found two days at a time, then bisected to the minute. */
export function oracleChanges(zone: string, year: number): number[] {
  const changes: number[] = [];
  const end = Date.UTC(year + 1, 0, 1);
  const step = 2 * 86_400_000;
  for (let day = Date.UTC(year, 0, 1); day < end; day += step) {
    const before = oracleOffset(zone, day);
    if (before === oracleOffset(zone, day + step)) continue;
    let [low, high] = [day, day + step];
    while (high - low > MINUTE) {
      const middle = low + Math.floor((high - low) / 2 / MINUTE) * MINUTE;
      if (oracleOffset(zone, middle) === before) low = middle;
      else high = middle;
    }
    changes.push(high);
  }
  return changes;
}
