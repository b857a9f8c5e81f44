import { ValidationError } from '../errors.js';
import { integerIn, oneOf } from '../validate.js';
import { MISFIRE_POLICIES } from '../values.js';
import { validateCron } from './cron.js';
import { nextSlot } from './schedule.js';
import { DEFAULT_MAX_CATCH_UP, MAX_CATCH_UP_LIMIT, type Misfire, type PeriodicSpec } from './spec.js';
import { Trigger } from './trigger.js';

interface PeriodicCommon {
  /** Each fire is delayed by a random amount in [0, jitter] ms, drawn once per cycle. Default 0. */
  jitter?: number;
  /** What to do with slots missed while no scheduler ran. Default `'once'`. */
  misfire?: Misfire;
  /** With `misfire: 'all'`, how many missed slots are replayed at most. Default 10. */
  maxCatchUp?: number;
}

export type PeriodicTriggerOptions =
  | (PeriodicCommon & { interval: number; cron?: never; timezone?: never })
  | (PeriodicCommon & { cron: string; timezone?: string; interval?: never });

/** The longest interval accepted: about 100 years. */
export const MAX_INTERVAL_MS = 100 * 365 * 24 * 3600 * 1000;

/** Fires every `interval` ms counted from when its task was added, or at each cron time. */
export class PeriodicTrigger extends Trigger {
  readonly spec: PeriodicSpec;
  #anchorAt: number | undefined;
  #dueAt: number | null | undefined;

  constructor(options: PeriodicTriggerOptions) {
    super();
    this.spec = periodicSpec(options, 'trigger');
  }

  next(after: number): number | null {
    return nextSlot(this.spec, this.#anchorAt ?? after, after);
  }

  isReady(now: number): boolean {
    if (this.#dueAt === undefined) this.reset(now);
    return this.#dueAt !== null && this.#dueAt !== undefined && now >= this.#dueAt;
  }

  reset(now: number): void {
    this.#anchorAt ??= now;
    this.#dueAt = this.next(now);
  }
}

export function periodicSpec(options: PeriodicTriggerOptions, field: string): PeriodicSpec {
  if (options === null || typeof options !== 'object') {
    throw new ValidationError(field, 'must be an object with `interval` or `cron`');
  }
  const hasInterval = options.interval !== undefined;
  const hasCron = options.cron !== undefined;
  if (hasInterval === hasCron) {
    throw new ValidationError(field, 'needs exactly one of `interval` (ms) or `cron`');
  }
  const jitter = integerIn(options.jitter ?? 0, `${field}.jitter`, 0, MAX_INTERVAL_MS);
  const misfire = oneOf(options.misfire ?? 'once', `${field}.misfire`, MISFIRE_POLICIES);
  const maxCatchUp = integerIn(
    options.maxCatchUp ?? DEFAULT_MAX_CATCH_UP,
    `${field}.maxCatchUp`,
    1,
    MAX_CATCH_UP_LIMIT,
  );
  if (hasInterval) {
    const interval = integerIn(options.interval, `${field}.interval`, 1, MAX_INTERVAL_MS);
    return { kind: 'interval', interval, jitter, misfire, maxCatchUp };
  }
  const timezone = options.timezone ?? 'UTC';
  validateCron(options.cron, timezone, field);
  return { kind: 'cron', cron: (options.cron as string).trim(), timezone, jitter, misfire, maxCatchUp };
}
