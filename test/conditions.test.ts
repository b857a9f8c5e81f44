import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import Database from 'better-sqlite3';
import { OneTimeTrigger, PeriodicTrigger, Scheduler } from '../src/index.js';
import { FakeClock, nextEvent } from '../src/testing.js';
import { silentLogger, tempDbPath } from './helpers/setup.js';
import {
  UNREADABLE_CONDITIONS,
  describeUnmet,
  heldRuns,
  unmetConditions,
  validateConditions,
  type DeviceState,
} from '../src/conditions.js';

// The pure rule of device conditions: what holds on a node's reading.

const node = (readings: Partial<DeviceState['readings']> = {}, named: Record<string, boolean> = {}): DeviceState => ({
  readings: {
    loadPerCore: 0.5,
    freeMemoryMb: 512,
    freeDiskMb: 100,
    onAcPower: true,
    networkUp: true,
    ...readings,
  },
  named,
});

test.each([
  ['load at the limit holds', { maxLoad: 0.5 }, node(), []],
  ['load above it does not', { maxLoad: 0.49 }, node(), ['maxLoad']],
  ['free memory at the minimum holds', { minFreeMemoryMb: 512 }, node(), []],
  ['free memory below it does not', { minFreeMemoryMb: 513 }, node(), ['minFreeMemoryMb']],
  ['free disk below the minimum does not', { minFreeDiskMb: 101 }, node(), ['minFreeDiskMb']],
  ['on battery does not', { onAcPower: true }, node({ onAcPower: false }), ['onAcPower']],
  ['no network does not', { network: 'up' }, node({ networkUp: false }), ['network']],
  ['an unreadable reading holds', { maxLoad: 0, onAcPower: true }, node({ loadPerCore: null, onAcPower: null }), []],
  ['a named condition must be true', { require: ['vpn', 'ntp'] }, node({}, { vpn: true, ntp: false }), ['require:ntp']],
  ['a name not defined here does not hold', { require: ['vpn'] }, node(), ['require:vpn']],
  [
    'every unmet one is listed, in a fixed order',
    { maxLoad: 0.1, network: 'up', require: ['a'] },
    node({ networkUp: false }),
    ['maxLoad', 'network', 'require:a'],
  ],
] as const)('%s', (_, conditions, device, unmet) => {
  expect(unmetConditions(validateConditions(conditions)!, device).map((u) => u.condition)).toEqual(unmet);
});

test('equal conditions are stored as equal text, whatever order they came in', () => {
  const a = validateConditions({ require: ['b', 'a', 'b'], network: 'up', maxLoad: 1 });
  const b = validateConditions({ maxLoad: 1, network: 'up', require: ['a', 'b'] });
  expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  expect(validateConditions({})).toBeNull();
  expect(validateConditions({ onAcPower: false, require: [] })).toBeNull();
});

test('unmet conditions in words name the reading', () => {
  const [load, name] = unmetConditions({ maxLoad: 0.5, require: ['vpn'] }, node({ loadPerCore: 1.234 }));
  expect(describeUnmet(load!)).toBe('load 1.23 per core is above maxLoad 0.5');
  expect(describeUnmet(name!)).toBe('condition "vpn" is not defined here');
});

test('doctor: runs are held when no live device meets them, and names nobody defines are listed', () => {
  const groups = [
    { conditionsJson: JSON.stringify({ maxLoad: 1 }), runs: 3 },
    { conditionsJson: JSON.stringify({ require: ['vpn'] }), runs: 2 },
    { conditionsJson: JSON.stringify({ network: 'up' }), runs: 1 },
  ];
  const devices = [
    { scheduler: 'a:1', device: node({ loadPerCore: 2 }) },
    { scheduler: 'b:2', device: node({ loadPerCore: 3, networkUp: false }) },
  ];
  const { held, undefinedNames } = heldRuns(groups, devices);
  expect(held.map((h) => [h.conditions, h.runs])).toEqual([
    [{ maxLoad: 1 }, 3],
    [{ require: ['vpn'] }, 2],
  ]);
  expect(undefinedNames).toEqual(['vpn']);
  expect(heldRuns(groups, []).held).toHaveLength(3);
});

test("the README's device-conditions example runs as shown: held without a vpn, started once it is up", async () => {
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const block = [...readme.matchAll(/^```ts\n([\s\S]*?)^```/gm)]
    .map((m) => m[1]!)
    .find((b) => b.includes("defineCondition('vpn'"));
  expect(block).toBeDefined();
  const clock = new FakeClock(new Date('2026-01-01T02:59:00Z'));
  const device = { loadPerCore: 0.2, freeMemoryMb: 4096, freeDiskMb: 8192, onAcPower: true, networkUp: true };
  const scheduler = new Scheduler({ database: ':memory:', clock, logger: silentLogger, deviceState: () => device });
  let vpnUp = false;
  // The block is JavaScript as well as TypeScript: run it with what it names.
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
    ...args: string[]
  ) => (...values: unknown[]) => Promise<void>;
  await new AsyncFunction('scheduler', 'existsSync', 'PeriodicTrigger', block!)(
    scheduler,
    (path: string) => path === '/run/vpn.up' && vpnUp,
    PeriodicTrigger,
  );
  try {
    const tasks = await scheduler.listTasks();
    expect(tasks.map((t) => [t.key, t.conditions, t.conditionLost])).toEqual([
      ['firmware', { minFreeDiskMb: 500, onAcPower: true, network: 'up', require: ['vpn'] }, 'abort'],
      ['compact', { maxLoad: 0.7, minFreeMemoryMb: 256 }, 'wait'],
    ]);
    scheduler.register('download-firmware', () => 'downloaded');
    scheduler.register('compact-logs', () => 'compacted');
    await scheduler.start();
    await clock.advance(60_000); // 03:00: the firmware's cron fires
    expect((await scheduler.explain(tasks[0]!.id)).state).toBe('held');
    vpnUp = true;
    const downloaded = nextEvent(scheduler, 'execution:succeeded', (e) => e.taskId === tasks[0]!.id);
    await clock.advance(1000);
    expect((await downloaded).result).toBe('downloaded');
  } finally {
    await scheduler.close();
  }
});

test('conditions edited by hand into something unreadable hold their runs and say why; the rest runs on', async () => {
  const path = tempDbPath();
  const scheduler = new Scheduler({ database: path, logger: silentLogger, deviceState: () => ({}) });
  try {
    scheduler.register('job', () => 'ran');
    const edited = await scheduler.addTask({ name: 'edited', handler: 'job', conditions: { maxLoad: 1 } });
    const other = await scheduler.addTask({
      name: 'other',
      handler: 'job',
      triggers: [new OneTimeTrigger({ delay: 0 })],
    });
    const raw = new Database(path);
    raw.prepare('UPDATE tasks SET conditions = ? WHERE id = ?').run('{"maxLoad": "high"', edited.id);
    raw.close();
    await scheduler.runNow(edited.id);
    const ran = nextEvent(scheduler, 'execution:succeeded', (e) => e.taskId === other.id);
    await scheduler.start();
    await ran;
    expect(await scheduler.executions({ taskId: edited.id })).toEqual([]);
    const explained = await scheduler.explain(edited.id);
    expect(explained.state).toBe('held');
    expect(explained.reasons.join('\n')).toContain(`condition "${UNREADABLE_CONDITIONS}" is not defined here`);
  } finally {
    await scheduler.close();
  }
});
