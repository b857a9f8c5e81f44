import type { DeviceState } from '../src/conditions.js';
import type { GroupInfo } from '../src/flow.js';
import { describe, expect, test } from 'vitest';
import { PermanentError, RetryAfterError } from '../src/index.js';
import { explain, type ExplainInput } from '../src/explain.js';
import { decide, MAX_INTERRUPTIONS_IN_A_ROW, type Outcome } from '../src/runtime/outcome.js';
import type { RunInfo } from '../src/store/store.js';
import type { Task, TriggerInfo } from '../src/task.js';

const NOW = Date.UTC(2026, 0, 1);
const boom = new Error('boom');
const retries = { maxRetries: 2, delay: 1000, backoff: 'exponential' as const, maxDelay: null };

describe('decide: what the end of an attempt makes of its run', () => {
  test.each<[string, { attempt: number; interruptions: number; retries: boolean }, Outcome, object]>([
    [
      'a success is done',
      { attempt: 1, interruptions: 0, retries: true },
      { status: 'succeeded', result: 1 },
      {
        status: 'succeeded',
        error: null,
        next: { kind: 'done' },
      },
    ],
    [
      'a cancellation is done',
      { attempt: 1, interruptions: 0, retries: true },
      { status: 'cancelled' },
      {
        status: 'cancelled',
        error: 'task removed',
        next: { kind: 'done' },
      },
    ],
    [
      'a failure without a policy is final',
      { attempt: 1, interruptions: 0, retries: false },
      { status: 'failed', error: boom },
      {
        status: 'failed',
        error: 'boom',
        next: { kind: 'done' },
        retryAt: null,
      },
    ],
    [
      'a PermanentError is final with retries left',
      { attempt: 1, interruptions: 0, retries: true },
      { status: 'failed', error: new PermanentError('revoked') },
      { status: 'failed', error: 'PermanentError: revoked [PERMANENT_FAILURE]', next: { kind: 'done' }, retryAt: null },
    ],
    [
      'a RetryAfterError snoozes: the same attempt later, no retry used, interruptions reset',
      { attempt: 2, interruptions: 3, retries: false },
      { status: 'failed', error: new RetryAfterError(30_000, '429') },
      {
        status: 'snoozed',
        error: 'RetryAfterError: 429 [RETRY_AFTER]',
        next: { kind: 'again', dueAt: NOW + 30_000, attempt: 2, interruptions: 0 },
        retryAt: NOW + 30_000,
      },
    ],
    [
      'an error from elsewhere with the code counts too (a worker thread, another copy of the package)',
      { attempt: 1, interruptions: 0, retries: true },
      { status: 'failed', error: Object.assign(new Error('later'), { code: 'RETRY_AFTER', retryAfterMs: 5 }) },
      { status: 'snoozed', next: { kind: 'again', dueAt: NOW + 5, attempt: 1, interruptions: 0 } },
    ],
    [
      'a RETRY_AFTER code without a usable delay is an ordinary failure',
      { attempt: 1, interruptions: 0, retries: false },
      { status: 'failed', error: Object.assign(new Error('later'), { code: 'RETRY_AFTER', retryAfterMs: -5 }) },
      { status: 'failed', next: { kind: 'done' } },
    ],
    [
      'a condition lost does not count as an interruption in a row',
      { attempt: 1, interruptions: MAX_INTERRUPTIONS_IN_A_ROW - 1, retries: false },
      { status: 'interrupted', error: boom, blameless: true },
      {
        status: 'interrupted',
        next: { kind: 'again', dueAt: NOW, attempt: 1, interruptions: MAX_INTERRUPTIONS_IN_A_ROW - 1 },
      },
    ],
    [
      'a first failure is retried after the delay',
      { attempt: 1, interruptions: 0, retries: true },
      { status: 'failed', error: boom },
      {
        status: 'failed',
        next: { kind: 'again', dueAt: NOW + 1000, attempt: 2, interruptions: 0 },
        retryAt: NOW + 1000,
      },
    ],
    [
      'a second failure waits twice as long (exponential)',
      { attempt: 2, interruptions: 0, retries: true },
      { status: 'failed', error: boom },
      {
        next: { kind: 'again', dueAt: NOW + 2000, attempt: 3, interruptions: 0 },
      },
    ],
    [
      'the last attempt failing is final',
      { attempt: 3, interruptions: 0, retries: true },
      { status: 'failed', error: boom },
      {
        status: 'failed',
        next: { kind: 'done' },
        retryAt: null,
      },
    ],
    [
      'an interruption goes again at once with the same number',
      { attempt: 2, interruptions: 0, retries: false },
      { status: 'interrupted', error: boom },
      {
        status: 'interrupted',
        next: { kind: 'again', dueAt: NOW, attempt: 2, interruptions: 1 },
      },
    ],
    [
      'too many interruptions in a row fail the run',
      { attempt: 1, interruptions: MAX_INTERRUPTIONS_IN_A_ROW - 1, retries: true },
      { status: 'interrupted', error: boom },
      {
        status: 'failed',
        error: `boom (interrupted ${MAX_INTERRUPTIONS_IN_A_ROW} times in a row: giving up)`,
        next: { kind: 'done' },
      },
    ],
  ])('%s', (_, run, outcome, expected) => {
    const decision = decide({ ...run, retryPolicy: run.retries ? retries : null }, outcome, NOW);
    expect(decision).toMatchObject(expected);
  });

  test('an error with a code names it', () => {
    const error = Object.assign(new TypeError('bad'), { code: 'E_BAD' });
    expect(decide({ attempt: 1, interruptions: 0, retryPolicy: null }, { status: 'failed', error }, NOW).error).toBe(
      'TypeError: bad [E_BAD]',
    );
  });
});

function task(overrides: Partial<Task> = {}): Task {
  return {
    id: 7,
    key: null,
    name: 'upload',
    handler: 'upload',
    module: null,
    memoryLimitMb: null,
    description: null,
    args: null,
    priority: 0,
    timeout: null,
    retryPolicy: null,
    paused: false,
    conditions: null,
    conditionLost: 'wait',
    groups: [],
    rateLimit: null,
    triggers: [],
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  };
}

function group(overrides: Partial<GroupInfo>): GroupInfo {
  return { name: 'modem', maxRunning: null, rateLimit: null, running: 0, createdAt: NOW, updatedAt: NOW, ...overrides };
}

function device(readings: Partial<DeviceState['readings']>): DeviceState {
  return {
    readings: { loadPerCore: 0.1, freeMemoryMb: 1000, freeDiskMb: 1000, onAcPower: true, networkUp: true, ...readings },
    named: {},
  };
}

function run(overrides: Partial<RunInfo>): RunInfo {
  return {
    id: 1,
    taskId: 7,
    reason: 'manual',
    state: 'waiting',
    dueAt: NOW,
    attempt: 1,
    interruptions: 0,
    owner: null,
    ...overrides,
  };
}

const interval: TriggerInfo = {
  kind: 'interval',
  interval: 60_000,
  jitter: 0,
  misfire: 'once',
  maxCatchUp: 10,
  id: 3,
  nextSlotAt: NOW + 60_000,
  nextFireAt: NOW + 60_000,
  lastFiredAt: null,
  fireCount: 0,
  missedCount: 2,
  coalescedCount: 1,
};

describe('explain: why a task is or is not about to run', () => {
  const base: ExplainInput = {
    task: task(),
    runs: [],
    now: NOW,
    handlers: new Set(['upload']),
    freeSlots: 4,
    devices: [],
    limits: { groups: new Map(), starts: new Map() },
  };

  test.each<[string, Partial<ExplainInput>, Explanationish]>([
    [
      'a task with no trigger runs only through runNow',
      {},
      { state: 'idle', reasons: ['no trigger: it runs only through runNow'] },
    ],
    [
      'a spent one-time task still here failed for good, and can be redriven',
      {
        task: task({
          triggers: [
            {
              kind: 'once',
              at: null,
              delay: 0,
              id: 1,
              nextSlotAt: null,
              nextFireAt: null,
              lastFiredAt: NOW,
              fireCount: 1,
              missedCount: 0,
              coalescedCount: 0,
            },
          ],
        }),
      },
      {
        state: 'idle',
        reasons: ['its one-time run failed for good: retryExecution or retryFailed (CLI retry) runs it again'],
      },
    ],
    [
      'a ready run starts at the next wake',
      { runs: [run({})] },
      { state: 'ready', reasons: ['1 run(s) ready: the next wake starts one'] },
    ],
    [
      'a ready run waits for a free slot',
      { runs: [run({})], freeSlots: 0 },
      { state: 'ready', reasons: ['1 run(s) ready, waiting for a free slot'] },
    ],
    [
      'a ready run is held when no live device meets its conditions',
      {
        task: task({ conditions: { maxLoad: 1, network: 'up' } }),
        runs: [run({})],
        devices: [
          { scheduler: 'a:1', device: device({ loadPerCore: 2 }) },
          { scheduler: 'b:2', device: device({ networkUp: false }) },
        ],
      },
      {
        state: 'held',
        reasons: [
          '1 run(s) ready, held by their conditions on every live scheduler (a:1: load 2 per core is above maxLoad 1; b:2: no network is up, and network: up is asked)',
        ],
      },
    ],
    [
      'a ready run is held by a full group',
      {
        task: task({ groups: ['modem'] }),
        runs: [run({})],
        limits: { groups: new Map([['modem', group({ maxRunning: 2, running: 2 })]]), starts: new Map() },
      },
      {
        state: 'held',
        reasons: ['1 run(s) ready, held: group "modem" is full: 2 of 2 running (a place frees when one ends)'],
      },
    ],
    [
      'a ready run is held by a group nobody defined',
      { task: task({ groups: ['modem'] }), runs: [run({})] },
      { state: 'held', reasons: ['1 run(s) ready, held: group "modem" is not defined (defineGroup): its runs wait'] },
    ],
    [
      "a ready run is held by its group's rate limit until the oldest start that counts leaves the window",
      {
        task: task({ groups: ['api'] }),
        runs: [run({})],
        limits: {
          groups: new Map([['api', group({ name: 'api', rateLimit: { max: 2, per: 60_000 } })]]),
          // The start 70 s ago is outside the window; of the three inside, the second must leave first.
          starts: new Map([['group:api', [NOW - 70_000, NOW - 50_000, NOW - 20_000, NOW - 1000]]]),
        },
      },
      {
        state: 'held',
        reasons: [
          `1 run(s) ready, held: the rate limit of group "api": 2 start(s) per 60000 ms reached; the next start is allowed at ${new Date(NOW + 40_000).toISOString()}`,
        ],
      },
    ],
    [
      "a ready run within its own rate limit and its group's is not held",
      {
        task: task({ groups: ['api'], rateLimit: { max: 2, per: 1000 } }),
        runs: [run({})],
        limits: {
          groups: new Map([
            ['api', group({ name: 'api', maxRunning: 3, running: 2, rateLimit: { max: 5, per: 1000 } })],
          ]),
          starts: new Map([
            ['group:api', [NOW - 500, NOW - 400, NOW - 300, NOW - 200]],
            ['task:7', [NOW - 2000, NOW - 10]],
          ]),
        },
      },
      { state: 'ready', reasons: ['1 run(s) ready: the next wake starts one'] },
    ],
    [
      'a ready run is not held when one live device meets its conditions',
      {
        task: task({ conditions: { maxLoad: 1 } }),
        runs: [run({})],
        devices: [
          { scheduler: 'a:1', device: device({ loadPerCore: 2 }) },
          { scheduler: 'b:2', device: device({}) },
        ],
      },
      { state: 'ready', reasons: ['1 run(s) ready: the next wake starts one'] },
    ],
    [
      'a ready run waits for a handler nobody registered',
      { runs: [run({})], handlers: new Set() },
      {
        state: 'ready',
        reasons: ['1 run(s) ready, but no running scheduler has registered handler "upload"'],
      },
    ],
    [
      'a ready run waits for the running one (no overlap)',
      { runs: [run({ id: 2, state: 'running', owner: 'a' }), run({})] },
      {
        state: 'running',
        reasons: [
          'running now: attempt 1 (run 2), started by a',
          '1 run(s) ready, waiting for the running one to end (no overlap)',
        ],
      },
    ],
    [
      'a paused task holds its runs',
      { task: task({ paused: true }), runs: [run({})] },
      {
        state: 'paused',
        reasons: ['paused: its runs wait until resumeTask'],
      },
    ],
    [
      'a retry waits for its time',
      { runs: [run({ attempt: 2, dueAt: NOW + 5000 })] },
      {
        state: 'scheduled',
        reasons: [`waiting for a retry: attempt 2 at ${new Date(NOW + 5000).toISOString()}`],
      },
    ],
    [
      'a periodic trigger says when it fires, and what it coalesced and missed',
      { task: task({ triggers: [interval] }) },
      {
        state: 'scheduled',
        nextFireTimes: [1, 2, 3, 4, 5].map((k) => NOW + k * 60_000),
        reasons: [
          'trigger 3: 1 fire(s) coalesced into a run that was still waiting or running',
          'trigger 3: 2 slot(s) missed while no scheduler ran',
          `next fire at ${new Date(NOW + 60_000).toISOString()}`,
        ],
      },
    ],
  ])('%s', (_, input, expected) => {
    expect(explain({ ...base, ...input })).toMatchObject(expected);
  });
});

type Explanationish = { state: string; reasons: string[]; nextFireTimes?: number[] };
