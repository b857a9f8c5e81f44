import fc from 'fast-check';
import { expect, test } from 'vitest';
import { nextRetryAt, normalizeRetryPolicy } from '../src/retry-policy.js';

test('fixed delay after each failure, none after the last', () => {
  const policy = normalizeRetryPolicy({ maxRetries: 2, delay: 1000 });
  expect(nextRetryAt(policy, 1, 0)).toBe(1000);
  expect(nextRetryAt(policy, 2, 5000)).toBe(6000);
  expect(nextRetryAt(policy, 3, 9000)).toBeNull();
});

test('exponential backoff doubles, capped by maxDelay', () => {
  const policy = normalizeRetryPolicy({ maxRetries: 10, delay: 100, backoff: 'exponential', maxDelay: 1000 });
  expect([1, 2, 3, 4, 5].map((attempt) => nextRetryAt(policy, attempt, 0))).toEqual([100, 200, 400, 800, 1000]);
});

test('no policy means no retries', () => {
  expect(nextRetryAt(null, 1, 0)).toBeNull();
});

test('retries never exceed maxRetries and delays never go backwards', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 50 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.constantFrom('fixed' as const, 'exponential' as const),
      (maxRetries, delay, backoff) => {
        const policy = normalizeRetryPolicy({ maxRetries, delay, backoff });
        let retries = 0;
        let previous = 0;
        for (let attempt = 1; nextRetryAt(policy, attempt, 0) !== null; attempt++) {
          const wait = nextRetryAt(policy, attempt, 0)!;
          expect(wait).toBeGreaterThanOrEqual(previous);
          previous = wait;
          retries++;
        }
        expect(retries).toBe(maxRetries);
      },
    ),
  );
});

test.each([
  [{ maxRetries: -1, delay: 0 }, 'retryPolicy.maxRetries'],
  [{ maxRetries: 1.5, delay: 0 }, 'retryPolicy.maxRetries'],
  [{ maxRetries: 1, delay: -10 }, 'retryPolicy.delay'],
  [{ maxRetries: 1, delay: 10, backoff: 'linear' }, 'retryPolicy.backoff'],
  [{ maxRetries: 1, delay: 10, maxDelay: 5 }, 'retryPolicy.maxDelay'],
  ['three', 'retryPolicy'],
])('refuses %o', (policy, field) => {
  expect(() => normalizeRetryPolicy(policy)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field }));
});
