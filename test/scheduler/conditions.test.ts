// Device conditions (SPEC rule 21), with a faked device: a run waits while its
// conditions do not hold here, starts within a second of them holding, is taken by
// another scheduler whose device allows it, is aborted and run again under
// conditionLost: 'abort', and is never failed or dropped for a condition.
import { expect, test } from 'vitest';
import {
  ConditionLostError,
  OneTimeTrigger,
  PeriodicTrigger,
  ValidationError,
  type DeviceReadings,
  type Scheduler,
} from '../../src/index.js';
import { FAST_SAMPLE_MS } from '../../src/runtime/device-watch.js';
import { nextEvent, settle } from '../../src/testing.js';
import { capturingLogger, createHarness, deferred } from '../helpers/setup.js';

/** A device the test sets: what the scheduler reads at its next sample. */
function fakeDevice(readings: Partial<DeviceReadings> = {}) {
  const device: DeviceReadings = {
    loadPerCore: 0.2,
    freeMemoryMb: 4000,
    freeDiskMb: 10_000,
    onAcPower: true,
    networkUp: true,
    ...readings,
  };
  return { device, deviceState: () => ({ ...device }) };
}

async function executions(scheduler: Scheduler, taskId: number) {
  return (await scheduler.executions({ taskId })).reverse();
}

test('a run waits while its conditions do not hold, and starts within a second of them holding', async () => {
  const { device, deviceState } = fakeDevice({ loadPerCore: 3 });
  const { scheduler, clock } = createHarness({ deviceState });
  scheduler.register('compact', () => 'done');
  const task = await scheduler.addTask({
    name: 'compact',
    conditions: { maxLoad: 0.8, minFreeMemoryMb: 100 },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  await scheduler.start();
  for (let i = 0; i < 20; i++) await clock.advance(1000);
  expect(await scheduler.executions({ taskId: task.id })).toEqual([]);
  const explained = await scheduler.explain(task.id);
  expect(explained.state).toBe('held');
  expect(explained.reasons.join('\n')).toContain('load 3 per core is above maxLoad 0.8');
  expect(explained.conditions[0]!.unmet).toEqual([{ condition: 'maxLoad', wanted: 0.8, reading: 3 }]);

  device.loadPerCore = 0.5;
  const ran = nextEvent(scheduler, 'execution:succeeded', (e) => e.taskId === task.id);
  await clock.advance(FAST_SAMPLE_MS);
  await ran;
  expect(await executions(scheduler, task.id)).toMatchObject([{ status: 'succeeded', attempt: 1 }]);
});

test('a held run does not hold up the runs behind it', async () => {
  const { deviceState } = fakeDevice({ networkUp: false, onAcPower: false, freeDiskMb: 5 });
  const { scheduler, clock } = createHarness({ deviceState, maxRunningTasks: 1 });
  scheduler.register('job', () => null);
  const held = await scheduler.addTask({
    name: 'download',
    handler: 'job',
    priority: 10,
    conditions: { network: 'up' },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  const alsoHeld = await scheduler.addTask({
    name: 'flash',
    handler: 'job',
    priority: 5,
    conditions: { onAcPower: true, minFreeDiskMb: 50 },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  const free = await scheduler.addTask({
    name: 'report',
    handler: 'job',
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  const ran = nextEvent(scheduler, 'execution:succeeded', (e) => e.taskId === free.id);
  await scheduler.start();
  await clock.advance(0);
  await ran;
  expect(await scheduler.executions({ taskId: held.id })).toEqual([]);
  const why = (await scheduler.explain(alsoHeld.id)).reasons.join('\n');
  expect(why).toContain('on battery');
  expect(why).toContain('free disk 5 MB is below minFreeDiskMb 50');
  expect((await scheduler.explain(held.id)).reasons.join('\n')).toContain('no network is up');
});

test('a named condition holds its runs until defineCondition says true, and a condition nobody defined is reported', async () => {
  const { logger, lines } = capturingLogger();
  const { scheduler, clock } = createHarness({ deviceState: () => ({}), logger });
  let vpn = false;
  scheduler.register('sync', () => 'synced');
  const task = await scheduler.addTask({
    name: 'sync',
    conditions: { require: ['vpn'] },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  await scheduler.start();
  for (let i = 0; i < 5; i++) await clock.advance(1000);
  expect(await scheduler.executions({ taskId: task.id })).toEqual([]);
  expect(lines.some((l) => String(l.msg).includes('condition "vpn", which this process has not defined'))).toBe(true);
  expect((await scheduler.explain(task.id)).reasons.join('\n')).toContain('condition "vpn" is not defined here');

  scheduler.defineCondition('vpn', async () => vpn);
  for (let i = 0; i < 5; i++) await clock.advance(FAST_SAMPLE_MS);
  expect(await scheduler.executions({ taskId: task.id })).toEqual([]);
  expect((await scheduler.explain(task.id)).reasons.join('\n')).toContain('condition "vpn" is false');

  vpn = true;
  const ran = nextEvent(scheduler, 'execution:succeeded', (e) => e.taskId === task.id);
  await clock.advance(FAST_SAMPLE_MS);
  await ran;
});

test('a condition that throws counts as false, and a reading the source leaves out holds', async () => {
  const { logger, lines } = capturingLogger();
  const { scheduler, clock } = createHarness({ deviceState: () => ({ freeMemoryMb: 10 }), logger });
  scheduler.register('job', () => null);
  scheduler.defineCondition('broken', () => {
    throw new Error('sensor unplugged');
  });
  const broken = await scheduler.addTask({
    name: 'needs-broken',
    handler: 'job',
    conditions: { require: ['broken'] },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  const unreadable = await scheduler.addTask({
    name: 'needs-load-and-power',
    handler: 'job',
    conditions: { maxLoad: 0.1, onAcPower: true, network: 'up', minFreeDiskMb: 1e9 },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  const memory = await scheduler.addTask({
    name: 'needs-memory',
    handler: 'job',
    conditions: { minFreeMemoryMb: 11 },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  const ran = nextEvent(scheduler, 'execution:succeeded', (e) => e.taskId === unreadable.id);
  await scheduler.start();
  await clock.advance(0);
  await ran;
  for (let i = 0; i < 4; i++) await clock.advance(FAST_SAMPLE_MS);
  expect(await scheduler.executions({ taskId: broken.id })).toEqual([]);
  expect(await scheduler.executions({ taskId: memory.id })).toEqual([]);
  expect(lines.some((l) => String(l.msg).includes('condition "broken" threw'))).toBe(true);
});

test('another scheduler whose device allows the run takes it', async () => {
  const busy = fakeDevice({ loadPerCore: 5 });
  const idle = fakeDevice({ loadPerCore: 0.1 });
  const harness = createHarness({ deviceState: busy.deviceState });
  const { scheduler: loaded, clock } = harness;
  const other = harness.reopen({ deviceState: idle.deviceState });
  const ranOn: string[] = [];
  loaded.register('compact', () => void ranOn.push('loaded'));
  other.register('compact', () => void ranOn.push('other'));
  const task = await loaded.addTask({
    name: 'compact',
    conditions: { maxLoad: 1 },
    triggers: [new PeriodicTrigger({ interval: 60_000 })],
  });
  await loaded.start();
  for (let i = 0; i < 3; i++) await clock.advance(60_000);
  expect(ranOn).toEqual([]);
  const ran = nextEvent(other, 'execution:succeeded', (e) => e.taskId === task.id);
  await other.start();
  await clock.advance(0);
  await ran;
  expect(ranOn).toEqual(['other']);
});

test("conditionLost: 'abort' aborts the attempt, records it interrupted, and runs it again when they hold; never failed", async () => {
  const { device, deviceState } = fakeDevice();
  const { scheduler, clock } = createHarness({ deviceState });
  let calls = 0;
  const reasons: unknown[] = [];
  const finish = deferred();
  scheduler.register('upload', (_args, ctx) => {
    calls++;
    if (calls > 7) return finish.promise.then(() => 'uploaded');
    return new Promise((_, reject) =>
      ctx.signal.addEventListener('abort', () => {
        reasons.push(ctx.signal.reason);
        reject(ctx.signal.reason as Error);
      }),
    );
  });
  const task = await scheduler.addTask({
    name: 'upload',
    conditions: { network: 'up' },
    conditionLost: 'abort',
    retryPolicy: { maxRetries: 0, delay: 0 },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  await scheduler.start();
  // More losses than MAX_INTERRUPTIONS_IN_A_ROW: a lost condition never counts as the run's fault.
  for (let loss = 1; loss <= 7; loss++) {
    const started = nextEvent(scheduler, 'execution:started', (e) => e.taskId === task.id);
    device.networkUp = true;
    await clock.advance(FAST_SAMPLE_MS);
    expect((await started).attempt).toBe(1);
    const interrupted = nextEvent(scheduler, 'execution:interrupted', (e) => e.taskId === task.id);
    device.networkUp = false;
    await clock.advance(FAST_SAMPLE_MS);
    await interrupted;
    for (let i = 0; i < 3; i++) await clock.advance(FAST_SAMPLE_MS);
    expect(scheduler.runningTasksCount()).toBe(0);
  }
  expect(reasons).toHaveLength(7);
  expect(reasons[0]).toBeInstanceOf(ConditionLostError);
  expect((reasons[0] as ConditionLostError).code).toBe('CONDITION_LOST');

  const succeeded = nextEvent(scheduler, 'execution:succeeded', (e) => e.taskId === task.id);
  device.networkUp = true;
  await clock.advance(FAST_SAMPLE_MS);
  await settle();
  finish.resolve();
  await succeeded;
  const history = await executions(scheduler, task.id);
  expect(history.map((e) => e.status)).toEqual([...Array(7).fill('interrupted'), 'succeeded']);
  expect(history.every((e) => e.attempt === 1)).toBe(true);
  expect(history[0]!.error).toContain('CONDITION_LOST');
});

test("by default (conditionLost: 'wait') an attempt that loses its conditions goes on", async () => {
  const { device, deviceState } = fakeDevice();
  const { scheduler, clock } = createHarness({ deviceState });
  const gate = deferred();
  scheduler.register('flash', () => gate.promise.then(() => 'flashed'));
  const task = await scheduler.addTask({
    name: 'flash',
    conditions: { onAcPower: true },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.start();
  await clock.advance(0);
  await started;
  device.onAcPower = false;
  for (let i = 0; i < 4; i++) await clock.advance(FAST_SAMPLE_MS);
  expect(scheduler.runningTasksCount()).toBe(1);
  const succeeded = nextEvent(scheduler, 'execution:succeeded');
  gate.resolve();
  await succeeded;
  expect(await scheduler.executions({ taskId: task.id })).toMatchObject([{ status: 'succeeded' }]);
});

test('conditions are stored with the task, read back, and replaced by a keyed update', async () => {
  const { scheduler, reopen } = createHarness({ deviceState: () => ({}) });
  const task = await scheduler.addTask({
    name: 'sync',
    key: 'sync',
    conditions: { require: ['vpn', 'ntp', 'vpn'], maxLoad: 1.5, onAcPower: false },
    conditionLost: 'abort',
  });
  expect(task.conditions).toEqual({ maxLoad: 1.5, require: ['ntp', 'vpn'] });
  expect(task.conditionLost).toBe('abort');
  const again = reopen({ deviceState: () => ({}) });
  expect((await again.getTask(task.id))!.conditions).toEqual({ maxLoad: 1.5, require: ['ntp', 'vpn'] });
  const updated = await again.addTask({ name: 'sync', key: 'sync', conditions: { network: 'up' } });
  expect(updated).toMatchObject({ id: task.id, conditions: { network: 'up' }, conditionLost: 'wait' });
  const cleared = await again.addTask({ name: 'sync', key: 'sync' });
  expect(cleared.conditions).toBeNull();
});

test.each([
  [{ conditions: 'cool' }, 'conditions'],
  [{ conditions: [] }, 'conditions'],
  [{ conditions: { maxLoad: -1 } }, 'conditions.maxLoad'],
  [{ conditions: { maxLoad: Number.NaN } }, 'conditions.maxLoad'],
  [{ conditions: { minFreeMemoryMb: '5' } }, 'conditions.minFreeMemoryMb'],
  [{ conditions: { minFreeDiskMb: Infinity } }, 'conditions.minFreeDiskMb'],
  [{ conditions: { onAcPower: 'yes' } }, 'conditions.onAcPower'],
  [{ conditions: { network: 'down' } }, 'conditions.network'],
  [{ conditions: { require: 'vpn' } }, 'conditions.require'],
  [{ conditions: { require: [''] } }, 'conditions.require[0]'],
  [{ conditions: { require: ['ok', 7] } }, 'conditions.require[1]'],
  [{ conditions: { require: Array.from({ length: 17 }, (_, i) => `c${i}`) } }, 'conditions.require'],
  [{ conditions: { battery: 50 } }, 'conditions.battery'],
  [{ conditionLost: 'retry' }, 'conditionLost'],
])('a bad %j is refused naming %s, and nothing is written', async (bad, field) => {
  const { scheduler } = createHarness({ deviceState: () => ({}) });
  const error = await scheduler.addTask({ name: 'x', ...(bad as object) }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ValidationError);
  expect((error as ValidationError).field).toBe(field);
  expect(await scheduler.listTasks()).toEqual([]);
});

test('defineCondition and deviceState refuse what is not a name and a function', () => {
  const { scheduler } = createHarness({ deviceState: () => ({}) });
  expect(() => scheduler.defineCondition('', () => true)).toThrow(ValidationError);
  expect(() => scheduler.defineCondition('vpn', 'yes' as never)).toThrow(/condition: must be a function/);
  expect(() => createHarness({ deviceState: 5 as never })).toThrow(/deviceState: must be a function/);
});
