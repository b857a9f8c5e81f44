import { expect, test } from 'vitest';
import type { Execution } from '../src/index.js';
import { groupFailures, normalizeError } from '../src/failures.js';

// Failures grouped by message, the parts that vary set aside (pure).

test.each([
  ['Error: connect ECONNREFUSED 10.0.0.7:443 [ECONNREFUSED]', 'Error: connect ECONNREFUSED #:# [ECONNREFUSED]'],
  ['device 3f2a9c1b77 not found', 'device <hex> not found'],
  ['job 550e8400-e29b-41d4-a716-446655440000 failed', 'job <uuid> failed'],
  ['took 1500ms,\n  limit 1000ms', 'took #ms, limit #ms'],
  ['dead beef', 'dead beef'],
  [
    'TaskTimeoutError: timed out after 30000 ms [TASK_TIMEOUT]',
    'TaskTimeoutError: timed out after # ms [TASK_TIMEOUT]',
  ],
  ['', '(no message)'],
])('%j is grouped as %j', (error, key) => {
  expect(normalizeError(error)).toBe(key);
});

test('a very long message is cut to 500 characters', () => {
  expect(normalizeError('x'.repeat(2000))).toHaveLength(501);
});

test('failures are grouped by message, most attempts first, with their tasks, times and latest attempt', () => {
  const failed = (id: number, taskName: string, error: string, startedAt: number, final = false): Execution => ({
    id,
    taskId: taskName.length,
    taskName,
    taskKey: null,
    runId: id,
    attempt: 1,
    final,
    status: 'failed',
    reason: 'manual',
    event: null,
    scheduledAt: startedAt,
    startedAt,
    endedAt: startedAt + 1,
    durationMs: 1,
    error,
    result: null,
    cpuUserUs: null,
    cpuSystemUs: null,
    rssBytes: null,
    redrivenRunId: null,
  });
  const groups = groupFailures([
    failed(6, 'upload', 'Error: HTTP 503 from 10.0.0.1', 600, true),
    failed(5, 'sync', 'Error: HTTP 503 from 10.0.0.2', 500),
    failed(4, 'upload', 'Error: HTTP 503 from 10.0.0.1', 400),
    failed(3, 'backup', 'disk full', 300, true),
    failed(2, 'upload', 'Error: HTTP 502 from 10.0.0.1', 200),
  ]);
  expect(groups).toEqual([
    {
      error: 'Error: HTTP # from #',
      attempts: 4,
      final: 1,
      tasks: [
        { name: 'upload', attempts: 3 },
        { name: 'sync', attempts: 1 },
      ],
      firstAt: 200,
      lastAt: 600,
      latest: { executionId: 6, taskId: 6, error: 'Error: HTTP 503 from 10.0.0.1' },
    },
    {
      error: 'disk full',
      attempts: 1,
      final: 1,
      tasks: [{ name: 'backup', attempts: 1 }],
      firstAt: 300,
      lastAt: 300,
      latest: { executionId: 3, taskId: 6, error: 'disk full' },
    },
  ]);
});
