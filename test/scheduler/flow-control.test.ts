// Concurrency groups (SPEC rule 16) and rate limits (rule 17) in one scheduler, on
// a fake clock: the limit holds, a held run does not hold up others behind it,
// explain says what holds a run and until when, and nothing is lost. The limits
// across processes and nodes are test/flow-contention.test.ts's.
import { expect, test } from 'vitest';
import { OneTimeTrigger, ValidationError, type Scheduler } from '../../src/index.js';
import { nextEvent, settle, type FakeClock } from '../../src/testing.js';
import { createHarness } from '../helpers/setup.js';

/** A handler whose calls stay running until released, one by one or all. */
function gate() {
  const waiting: (() => void)[] = [];
  let running = 0;
  let most = 0;
  return {
    handler: async () => {
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => waiting.push(resolve));
      running--;
    },
    get running() {
      return running;
    },
    get most() {
      return most;
    },
    releaseAll() {
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}

async function turn(clock: FakeClock, ms = 0): Promise<void> {
  await clock.advance(ms);
  await settle(5);
}

async function addOnce(scheduler: Scheduler, name: string, extra: object = {}): Promise<number> {
  const task = await scheduler.addTask({
    name,
    handler: 'work',
    triggers: [new OneTimeTrigger({ delay: 0 })],
    ...extra,
  });
  return task.id;
}

test('a group lets at most maxRunning of its tasks run at once, and a full group holds up nobody else', async () => {
  const { scheduler, clock } = createHarness({ maxRunningTasks: 8 });
  const work = gate();
  scheduler.register('work', work.handler);
  await scheduler.defineGroup('modem', { maxRunning: 2 });
  const grouped: number[] = [];
  for (let i = 0; i < 5; i++)
    grouped.push(await addOnce(scheduler, `upload-${i}`, { groups: ['modem'], priority: 10 }));
  const other = await addOnce(scheduler, 'compact', { priority: 0 });
  await scheduler.start();
  await turn(clock);
  await turn(clock);
  expect(work.running).toBe(3);
  // The lower-priority task behind the full group started (no head-of-line blocking).
  expect((await scheduler.explain(other)).state).toBe('running');
  const waitingOne = grouped[4]!;
  const explained = await scheduler.explain(waitingOne);
  expect(explained.state).toBe('held');
  expect(explained.limits).toEqual([{ kind: 'group-full', group: 'modem', running: 2, maxRunning: 2 }]);
  expect(explained.reasons.join('\n')).toContain('group "modem" is full: 2 of 2 running');
  expect((await scheduler.groups()).map(({ name, running, maxRunning }) => ({ name, running, maxRunning }))).toEqual([
    { name: 'modem', running: 2, maxRunning: 2 },
  ]);
  for (
    let round = 0;
    round < 10 && (await scheduler.executions({ limit: 100 })).filter((e) => e.status === 'succeeded').length < 6;
    round++
  ) {
    work.releaseAll();
    await turn(clock);
    await turn(clock);
    expect(work.running).toBeLessThanOrEqual(2);
  }
  expect(work.most).toBe(3);
  const history = await scheduler.executions({ limit: 100 });
  expect(history.filter((e) => e.status === 'succeeded')).toHaveLength(6);
});

test('a run in two groups needs a place in each', async () => {
  const { scheduler, clock } = createHarness({ maxRunningTasks: 8 });
  const work = gate();
  scheduler.register('work', work.handler);
  await scheduler.defineGroup('modem', { maxRunning: 1 });
  await scheduler.defineGroup('disk', { maxRunning: 5 });
  const first = await addOnce(scheduler, 'sync', { groups: ['disk'] });
  const both = await addOnce(scheduler, 'backup', { groups: ['modem', 'disk'], priority: 5 });
  const modemOnly = await addOnce(scheduler, 'ping', { groups: ['modem'], priority: 9 });
  await scheduler.start();
  await turn(clock);
  await turn(clock);
  // ping took modem's one place; backup waits for it, though disk has room.
  expect((await scheduler.explain(modemOnly)).state).toBe('running');
  expect((await scheduler.explain(first)).state).toBe('running');
  const held = await scheduler.explain(both);
  expect(held.state).toBe('held');
  expect(held.limits).toEqual([{ kind: 'group-full', group: 'modem', running: 1, maxRunning: 1 }]);
  expect((await scheduler.getTask(both))!.groups).toEqual(['disk', 'modem']);
  work.releaseAll();
  await turn(clock);
  await turn(clock);
  expect((await scheduler.explain(both)).state).toBe('running');
  work.releaseAll();
  await turn(clock);
});

test("a task's rate limit spaces its starts, and the run held back starts when the window allows", async () => {
  const { scheduler, clock } = createHarness();
  const starts: number[] = [];
  scheduler.register('poll', () => {
    starts.push(clock.now());
  });
  const task = await scheduler.addTask({ name: 'poll', rateLimit: { max: 2, per: 7_000 } });
  expect((await scheduler.getTask(task.id))!.rateLimit).toEqual({ max: 2, per: 7_000 });
  await scheduler.start();
  const t0 = clock.now();
  for (let i = 0; i < 5; i++) await scheduler.runNow(task.id);
  for (let i = 0; i < 5; i++) await turn(clock);
  expect(starts).toEqual([t0, t0]);
  const explained = await scheduler.explain(task.id);
  expect(explained.state).toBe('held');
  expect(explained.limits).toEqual([{ kind: 'rate-limit', group: null, max: 2, per: 7_000, until: t0 + 7_000 }]);
  expect(explained.reasons.join('\n')).toContain(`the next start is allowed at ${new Date(t0 + 7_000).toISOString()}`);
  await turn(clock, 6_999);
  expect(starts).toHaveLength(2);
  // The wake is armed for the window's end (7 s is no multiple of the 5 s heartbeat).
  await turn(clock, 1);
  await turn(clock);
  expect(starts).toEqual([t0, t0, t0 + 7_000, t0 + 7_000]);
  await turn(clock, 7_000);
  await turn(clock);
  expect(starts).toHaveLength(5);
  assertWindows(starts, 2, 7_000);
});

test("a group's rate limit counts the starts of all its tasks", async () => {
  const { scheduler, clock } = createHarness({ maxRunningTasks: 8 });
  const starts: number[] = [];
  scheduler.register('work', () => {
    starts.push(clock.now());
  });
  scheduler.register('local', () => {});
  await scheduler.defineGroup('api', { rateLimit: { max: 3, per: 62_500 } });
  const ids: number[] = [];
  for (let i = 0; i < 7; i++) ids.push(await addOnce(scheduler, `call-${i}`, { groups: ['api'] }));
  const free = (await scheduler.addTask({ name: 'local', triggers: [new OneTimeTrigger({ delay: 0 })] })).id;
  await scheduler.start();
  const t0 = clock.now();
  for (let i = 0; i < 4; i++) await turn(clock);
  expect(starts).toEqual([t0, t0, t0]);
  expect((await scheduler.executions({ taskId: free }))[0]?.status).toBe('succeeded');
  const explained = await scheduler.explain(ids[6]!);
  expect(explained.limits).toEqual([{ kind: 'rate-limit', group: 'api', max: 3, per: 62_500, until: t0 + 62_500 }]);
  // Not a multiple of the 5 s heartbeat: the wake is armed for the window's end.
  await turn(clock, 62_499);
  expect(starts).toHaveLength(3);
  await turn(clock, 1);
  await turn(clock);
  expect(starts).toHaveLength(6);
  await turn(clock, 62_500);
  await turn(clock);
  expect(starts).toHaveLength(7);
  assertWindows(starts, 3, 62_500);
});

test('runs of a task in a group nobody defined wait until it is defined; a new limit applies at once', async () => {
  const { scheduler, clock } = createHarness({ maxRunningTasks: 8 });
  const work = gate();
  scheduler.register('work', work.handler);
  const ids: number[] = [];
  for (let i = 0; i < 4; i++) ids.push(await addOnce(scheduler, `job-${i}`, { groups: ['later'] }));
  await scheduler.start();
  await turn(clock);
  expect(work.running).toBe(0);
  const explained = await scheduler.explain(ids[0]!);
  expect(explained.state).toBe('held');
  expect(explained.limits).toEqual([{ kind: 'group-undefined', group: 'later' }]);
  await scheduler.defineGroup('later', { maxRunning: 1 });
  await turn(clock);
  await turn(clock);
  expect(work.running).toBe(1);
  // Raised: the others start without waiting for the running one.
  await scheduler.defineGroup('later', { maxRunning: 3 });
  await turn(clock);
  await turn(clock);
  expect(work.running).toBe(3);
  expect(work.most).toBe(3);
  work.releaseAll();
  await turn(clock);
  await turn(clock);
  work.releaseAll();
  await turn(clock);
});

test('a keyed update moves a task between groups; removing its rate limit lets it start freely', async () => {
  const { scheduler, clock } = createHarness();
  const starts: number[] = [];
  scheduler.register('report', () => {
    starts.push(clock.now());
  });
  await scheduler.defineGroup('slow', { maxRunning: 1, rateLimit: { max: 1, per: 3_600_000 } });
  const task = await scheduler.addTask({ key: 'report', name: 'report', groups: ['slow'] });
  await scheduler.start();
  await scheduler.runNow(task.id);
  await scheduler.runNow(task.id);
  for (let i = 0; i < 4; i++) await turn(clock);
  expect(starts).toHaveLength(1);
  expect((await scheduler.explain(task.id)).limits[0]).toMatchObject({ kind: 'rate-limit', group: 'slow' });
  await scheduler.addTask({ key: 'report', name: 'report' });
  for (let i = 0; i < 4; i++) await turn(clock);
  expect(starts).toHaveLength(2);
  expect((await scheduler.getTask(task.id))!.groups).toEqual([]);
});

test('bad groups and rate limits are refused with the field named', async () => {
  const { scheduler } = createHarness();
  const refused = async (promise: Promise<unknown>, field: string) => {
    const error = await promise.then(
      () => null,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
  };
  await refused(scheduler.defineGroup('', { maxRunning: 1 }), 'name');
  await refused(scheduler.defineGroup('g', {}), 'options');
  await refused(scheduler.defineGroup('g', null as never), 'options');
  await refused(scheduler.defineGroup('g', { maxRunning: 0 }), 'maxRunning');
  await refused(scheduler.defineGroup('g', { maxRunning: 1.5 }), 'maxRunning');
  await refused(scheduler.defineGroup('g', { maxRuning: 1 } as never), 'maxRuning');
  await refused(scheduler.defineGroup('g', { rateLimit: { max: 0, per: 1000 } }), 'rateLimit.max');
  await refused(scheduler.defineGroup('g', { rateLimit: { max: 1, per: -1 } }), 'rateLimit.per');
  await refused(scheduler.defineGroup('g', { rateLimit: { max: 1 } as never }), 'rateLimit.per');
  await refused(scheduler.defineGroup('g', { rateLimit: { max: 1, per: 1, burst: 2 } as never }), 'rateLimit.burst');
  await refused(scheduler.defineGroup('g\u0000', { maxRunning: 1 }), 'name');
  await refused(scheduler.addTask({ name: 't', groups: 'modem' as never }), 'groups');
  await refused(scheduler.addTask({ name: 't', groups: ['modem', ''] }), 'groups[1]');
  await refused(scheduler.addTask({ name: 't', groups: ['modem', 'modem'] }), 'groups[1]');
  await refused(scheduler.addTask({ name: 't', groups: Array.from({ length: 17 }, (_, i) => `g${i}`) }), 'groups');
  await refused(scheduler.addTask({ name: 't', rateLimit: { max: 1, per: 0 } }), 'rateLimit.per');
  await refused(scheduler.addTask({ name: 't', rateLimit: [] as never }), 'rateLimit');
  expect(await scheduler.listTasks()).toEqual([]);
  expect(await scheduler.groups()).toEqual([]);
  const group = await scheduler.defineGroup('modem', { maxRunning: 2, rateLimit: { max: 10, per: 60_000 } });
  expect(group).toMatchObject({ name: 'modem', maxRunning: 2, rateLimit: { max: 10, per: 60_000 } });
});

test('a run held by a limit is not lost across a restart', async () => {
  const { scheduler, clock, reopen } = createHarness();
  const starts: number[] = [];
  const handler = () => {
    starts.push(clock.now());
  };
  scheduler.register('tick', handler);
  const task = await scheduler.addTask({ name: 'tick', rateLimit: { max: 1, per: 30_000 } });
  await scheduler.start();
  const ran = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.runNow(task.id);
  await scheduler.runNow(task.id);
  await turn(clock);
  await ran;
  await turn(clock);
  await scheduler.close();
  const again = reopen();
  again.register('tick', handler);
  await again.start();
  for (let i = 0; i < 3; i++) await turn(clock);
  // The start before the restart still counts.
  expect(starts).toHaveLength(1);
  await turn(clock, 30_000);
  await turn(clock);
  expect(starts).toHaveLength(2);
});

/** No window of `per` ms holds more than `max` of the starts. */
function assertWindows(starts: number[], max: number, per: number): void {
  const sorted = [...starts].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length; i++) {
    const inWindow = sorted.filter((at) => at >= sorted[i]! && at < sorted[i]! + per).length;
    expect(inWindow).toBeLessThanOrEqual(max);
  }
}
