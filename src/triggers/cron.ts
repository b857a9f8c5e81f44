import { CronExpressionParser } from 'cron-parser';
import { ValidationError } from '../errors.js';

/** The first cron time strictly after `after`, in `timezone`; null if there is none. */
export function nextCronTime(cron: string, timezone: string, after: number): number | null {
  const expression = CronExpressionParser.parse(cron, { currentDate: new Date(after), tz: timezone });
  if (!expression.hasNext()) return null;
  const next = expression.next().getTime();
  // cron-parser works in whole seconds: make "strictly after" hold for any `after`.
  return next > after ? next : nextCronTime(cron, timezone, next);
}

/** Refuses an expression that does not parse or can never match (`0 0 30 2 *`). */
export function validateCron(cron: unknown, timezone: unknown, field: string): void {
  if (typeof cron !== 'string' || cron.trim() === '') {
    throw new ValidationError(`${field}.cron`, 'must be a non-empty cron expression');
  }
  const fields = cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    throw new ValidationError(`${field}.cron`, `must have 5 or 6 fields, got ${fields}: "${cron}"`);
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
