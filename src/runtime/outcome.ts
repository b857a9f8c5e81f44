import { errorClassOf } from '../errors.js';
import { nextRetryAt, type NormalizedRetryPolicy } from '../retry-policy.js';
import type { RunNext } from '../store/store.js';

/** How an attempt ended, as the executor saw it. */
export type Outcome =
  | { status: 'succeeded'; result: unknown }
  | { status: 'failed'; error: Error }
  /** `blameless`: the run's conditions were lost; it does not count towards MAX_INTERRUPTIONS_IN_A_ROW. */
  | { status: 'interrupted'; error: Error; blameless?: boolean }
  | { status: 'cancelled' };

/**
 * An interrupted run (stop, crash) goes again with the same attempt number, up to
 * this many interruptions in a row; then it fails, so that a task that kills its
 * own process cannot loop for ever.
 */
export const MAX_INTERRUPTIONS_IN_A_ROW = 5;

export interface Decision {
  status: 'succeeded' | 'failed' | 'interrupted' | 'cancelled' | 'snoozed';
  error: string | null;
  next: RunNext;
  /** Set when a failure will be retried, or a snoozed run goes again. */
  retryAt: number | null;
}

interface AttemptState {
  attempt: number;
  interruptions: number;
  retryPolicy: NormalizedRetryPolicy | null;
}

/** What an outcome means for the run: the recorded status and whether it goes again. Pure. */
export function decide(run: AttemptState, outcome: Outcome, now: number): Decision {
  const done = { kind: 'done' } as const;
  switch (outcome.status) {
    case 'succeeded':
      return { status: 'succeeded', error: null, next: done, retryAt: null };
    case 'cancelled':
      return { status: 'cancelled', error: 'task removed', next: done, retryAt: null };
    case 'interrupted': {
      // A run is never failed for a condition (rule 21): it waits until they hold again.
      const interruptions = outcome.blameless ? run.interruptions : run.interruptions + 1;
      if (interruptions >= MAX_INTERRUPTIONS_IN_A_ROW) {
        const error = `${describeError(outcome.error)} (interrupted ${interruptions} times in a row: giving up)`;
        return { status: 'failed', error, next: done, retryAt: null };
      }
      const next = { kind: 'again', dueAt: now, attempt: run.attempt, interruptions } as const;
      return { status: 'interrupted', error: describeError(outcome.error), next, retryAt: null };
    }
    case 'failed': {
      const error = describeError(outcome.error);
      const asked = errorClassOf(outcome.error);
      // PermanentError: no retry helps. RetryAfterError: not a failure, a "later", using no retry.
      if (asked !== null && 'permanent' in asked) return { status: 'failed', error, next: done, retryAt: null };
      if (asked !== null) {
        const dueAt = now + asked.retryAfterMs;
        const next = { kind: 'again', dueAt, attempt: run.attempt, interruptions: 0 } as const;
        return { status: 'snoozed', error, next, retryAt: dueAt };
      }
      const retryAt = nextRetryAt(run.retryPolicy, run.attempt, now);
      if (retryAt === null) return { status: 'failed', error, next: done, retryAt };
      return {
        status: 'failed',
        error,
        next: { kind: 'again', dueAt: retryAt, attempt: run.attempt + 1, interruptions: 0 },
        retryAt,
      };
    }
  }
}

export function describeError(error: Error): string {
  const code = (error as { code?: unknown }).code;
  const prefix = error.name && error.name !== 'Error' ? `${error.name}: ` : '';
  return `${prefix}${error.message}${typeof code === 'string' && !error.message.includes(code) ? ` [${code}]` : ''}`;
}
