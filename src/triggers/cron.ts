import { CronExpressionParser } from 'cron-parser';
import { ValidationError } from '../errors.js';
import { nextWallMatch, wallFields, type WallFields } from './cron-fields.js';
import { offsetChanges, recentChange, utcOffset } from './zone.js';

/**
 * Cron times in a time zone, with Vixie cron's treatment of daylight-saving changes
 * (SPEC rule 15). cron-parser parses the expression; the next time is computed
 * here, because cron-parser's own stepping through local time goes wrong at DST
 * changes (times before `after`, skipped months, a loop limit that makes a trigger
 * die). The zone's offset is constant between two changes, so each stretch maps
 * wall-clock times to instants one to one: the search walks from change to change
 * and asks cron-fields.ts for the first matching wall time inside each stretch.
 *
 * At a change:
 * - a *fixed-time* job (no `*` in its second, minute or hour field) whose time the
 *   clock skips runs once, at the instant of the jump; one whose time comes twice
 *   runs at the first pass only (the wall times already passed before a fall-back
 *   are not matched again);
 * - a *wildcard* job runs at every wall time that exists and matches, on both passes.
 *
 * The answer is a function of the fire times alone, never of where the search
 * began, so `next(b) = next(a)` for every `b` in `[a, next(a))`.
 */

interface CompiledCron {
  fields: WallFields;
  /** Fixed-time (Vixie's "specific time") rather than wildcard. */
  fixed: boolean;
}

/**
 * The Gregorian calendar repeats every 400 years, so a day that matches comes within
 * them (the fifth Thursday of February can be 40 years away); the search for one
 * that never comes stops there.
 */
const HORIZON_YEARS = 400;

const DAY = 86_400_000;

const compiled = new Map<string, CompiledCron>();
const CACHED_EXPRESSIONS = 1024;

function compile(cron: string): CompiledCron {
  let entry = compiled.get(cron);
  if (entry === undefined) {
    const raw = cron.trim().split(/\s+/);
    const timeFields = raw.length === 5 ? raw.slice(0, 2) : raw.slice(0, 3);
    entry = {
      fields: wallFields(CronExpressionParser.parse(cron)),
      fixed: !timeFields.some((field) => /(^|,)\*/.test(field)),
    };
    if (compiled.size >= CACHED_EXPRESSIONS) compiled.clear();
    compiled.set(cron, entry);
  }
  return entry;
}

/** The first cron time strictly after `after`, in `timezone`; null if there is none. */
export function nextCronTime(cron: string, timezone: string, after: number): number | null {
  const { fields, fixed } = compile(cron);
  const firstYear = new Date(after).getUTCFullYear();
  let offset = utcOffset(timezone, after);
  // Cron times are whole seconds: the first wall time whose instant is after `after`.
  let from = Math.floor((after + offset) / 1000) * 1000 + 1000;
  // After a fall-back, the wall time the clock had reached before it: a fixed-time
  // job already ran at the wall times below it.
  const last = fixed ? recentChange(timezone, after) : null;
  let passed = last !== null && last.before > last.after ? last.at + last.before : -Infinity;
  for (let year = firstYear; year < firstYear + HORIZON_YEARS; year++) {
    const yearEnd = Date.UTC(year + 1, 0, 1);
    // Offsets lie within a day of UTC (and a fall-back goes back less than a day): a
    // year with no matching wall time near its own needs none of its changes read.
    if (nextWallMatch(fields, from - DAY, yearEnd + DAY) === null) {
      offset = utcOffset(timezone, yearEnd);
      from = Math.max(from, yearEnd + offset);
      passed = -Infinity;
      continue;
    }
    for (const change of offsetChanges(timezone, year)) {
      if (change.at <= after) continue;
      const found = nextWallMatch(fields, Math.max(from, passed), change.at + offset);
      if (found !== null) return found - offset;
      if (fixed && change.after > change.before) {
        const skipped = nextWallMatch(fields, change.at + change.before, change.at + change.after);
        if (skipped !== null) return change.at;
      }
      offset = change.after;
      from = change.at + offset;
      passed = fixed && change.before > change.after ? change.at + change.before : -Infinity;
    }
    const found = nextWallMatch(fields, Math.max(from, passed), yearEnd + offset);
    if (found !== null) return found - offset;
    from = Math.max(from, yearEnd + offset);
  }
  return null;
}

/**
 * Refuses an expression that does not parse, that can never match (`0 0 30 2 *`),
 * or that uses Jenkins' `H`, whose value cron-parser draws at random on every parse.
 */
export function validateCron(cron: unknown, timezone: unknown, field: string): void {
  if (typeof cron !== 'string' || cron.trim() === '') {
    throw new ValidationError(`${field}.cron`, 'must be a non-empty cron expression');
  }
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new ValidationError(`${field}.cron`, `must have 5 or 6 fields, got ${fields.length}: "${cron}"`);
  }
  // Month and weekday names (THU) may hold an H; an H left once they are removed is Jenkins'.
  if (fields.some((text) => /h/i.test(text.replace(/[a-z]{3}/gi, '')))) {
    throw new ValidationError(`${field}.cron`, `"${cron}" uses H, which is not supported: write the value itself`);
  }
  validateTimezone(timezone, field);
  let next: number | null;
  try {
    next = nextCronTime(cron, timezone as string, Date.UTC(2000, 0, 1));
  } catch (err) {
    throw new ValidationError(`${field}.cron`, `invalid cron expression "${cron}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (next === null) throw new ValidationError(`${field}.cron`, `"${cron}" can never match`);
}

function validateTimezone(timezone: unknown, field: string): void {
  if (typeof timezone !== 'string' || timezone === '') {
    throw new ValidationError(`${field}.timezone`, 'must be an IANA time zone name');
  }
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch (err) {
    throw new ValidationError(`${field}.timezone`, `unknown time zone "${timezone}"`, { cause: err });
  }
}
