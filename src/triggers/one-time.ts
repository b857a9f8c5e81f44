import { ValidationError } from '../errors.js';
import { describe, integerIn } from '../validate.js';
import { MAX_INTERVAL_MS } from './periodic.js';
import type { TriggerSpec } from './spec.js';
import { Trigger } from './trigger.js';

export type OneTimeTriggerOptions = { delay: number; at?: never } | { at: Date | number; delay?: never };

type OnceSpec = Extract<TriggerSpec, { kind: 'once' }>;

/**
 * Fires once: `delay` ms after its task is added, or `at` a given time. The due
 * time is fixed when the task is added, so a restart does not restart the delay.
 * A time in the past fires at once.
 */
export class OneTimeTrigger extends Trigger {
  readonly spec: OnceSpec;
  #dueAt: number | undefined;
  #fired = false;

  constructor(options: OneTimeTriggerOptions) {
    super();
    this.spec = oneTimeSpec(options, 'trigger');
    if (this.spec.at !== null) this.#dueAt = this.spec.at;
  }

  next(after: number): number | null {
    if (this.#fired) return null;
    const dueAt = this.#dueAt ?? after + (this.spec.delay ?? 0);
    return dueAt > after ? dueAt : null;
  }

  isReady(now: number): boolean {
    this.#dueAt ??= now + (this.spec.delay ?? 0);
    return !this.#fired && now >= this.#dueAt;
  }

  reset(now: number): void {
    if (this.isReady(now)) this.#fired = true;
  }
}

export function oneTimeSpec(options: OneTimeTriggerOptions, field: string): OnceSpec {
  if (options === null || typeof options !== 'object') {
    throw new ValidationError(field, 'must be an object with `delay` or `at`');
  }
  if ((options.delay === undefined) === (options.at === undefined)) {
    throw new ValidationError(field, 'needs exactly one of `delay` (ms) or `at` (a Date)');
  }
  if (options.delay !== undefined) {
    return { kind: 'once', at: null, delay: integerIn(options.delay, `${field}.delay`, 0, MAX_INTERVAL_MS) };
  }
  const at = options.at instanceof Date ? options.at.getTime() : options.at;
  if (typeof at !== 'number' || !Number.isFinite(at)) {
    throw new ValidationError(`${field}.at`, `must be a valid Date, got ${describe(options.at)}`);
  }
  return { kind: 'once', at: Math.round(at), delay: null };
}
