import { ValidationError } from './errors.js';
import { integerIn, MAX_TIMER_MS, oneOf } from './validate.js';
import { BACKOFFS, type Backoff } from './values.js';

export interface RetryPolicy {
  /** Retries after the first attempt fails; 0 means none. */
  maxRetries: number;
  /** Wait (ms) after a failure before the next attempt. */
  delay: number;
  /** `'exponential'` doubles the delay after each failure. Default `'fixed'`. */
  backoff?: Backoff;
  /** Cap on the grown delay (ms). Default: no cap beyond the timer limit. */
  maxDelay?: number;
}

export type NormalizedRetryPolicy = Required<Omit<RetryPolicy, 'maxDelay'>> & { maxDelay: number | null };

export const MAX_RETRIES_LIMIT = 10_000;

export function normalizeRetryPolicy(policy: unknown, field = 'retryPolicy'): NormalizedRetryPolicy | null {
  if (policy === undefined || policy === null) return null;
  if (typeof policy !== 'object') throw new ValidationError(field, 'must be an object');
  const p = policy as Record<string, unknown>;
  const maxRetries = integerIn(p.maxRetries, `${field}.maxRetries`, 0, MAX_RETRIES_LIMIT);
  const delay = integerIn(p.delay ?? 0, `${field}.delay`, 0, MAX_TIMER_MS);
  const backoff = oneOf(p.backoff ?? 'fixed', `${field}.backoff`, BACKOFFS);
  const maxDelay = p.maxDelay === undefined ? null : integerIn(p.maxDelay, `${field}.maxDelay`, delay, MAX_TIMER_MS);
  return { maxRetries, delay, backoff, maxDelay };
}

/**
 * When the attempt after `failedAttempt` (numbered from 1) is due, or null when
 * the policy allows no more: the last failure is final at once, never waited on.
 */
export function nextRetryAt(policy: NormalizedRetryPolicy | null, failedAttempt: number, now: number): number | null {
  if (policy === null || failedAttempt > policy.maxRetries) return null;
  return now + retryDelay(policy, failedAttempt);
}

export function retryDelay(policy: NormalizedRetryPolicy, failedAttempt: number): number {
  const grown = policy.backoff === 'exponential' ? policy.delay * 2 ** Math.min(failedAttempt - 1, 60) : policy.delay;
  return Math.min(grown, policy.maxDelay ?? MAX_TIMER_MS);
}
