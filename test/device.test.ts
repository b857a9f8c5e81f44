// The operating system's readings on this machine (no fake): each plausible, or
// null where the platform cannot give it, and a scheduler on them runs a task whose
// conditions this machine meets.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { statfsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { expect, test } from 'vitest';
import { OneTimeTrigger, Scheduler } from '../src/index.js';
import { systemDevice } from '../src/runtime/device.js';
import { nextEvent } from '../src/testing.js';
import { silentLogger, tempDbPath, tempDir } from './helpers/setup.js';

const deviceChild = fileURLToPath(new URL('./fixtures/device-child.mjs', import.meta.url));

test('each reading of the real machine is plausible', async () => {
  const dir = tempDir();
  const readings = await systemDevice(dir)();
  const MB = 1024 * 1024;

  expect(readings.loadPerCore).not.toBeNull();
  expect(readings.loadPerCore!).toBeGreaterThanOrEqual(0);
  // Within what the kernel said a moment apart (the load moves slowly).
  expect(readings.loadPerCore!).toBeLessThanOrEqual((loadavg()[0]! + 1) / availableParallelism() + 1);

  expect(readings.freeMemoryMb!).toBeGreaterThan(0);
  expect(readings.freeMemoryMb!).toBeLessThanOrEqual(totalmem() / MB);

  const disk = statfsSync(dir);
  expect(readings.freeDiskMb!).toBeGreaterThanOrEqual(0);
  expect(readings.freeDiskMb!).toBeLessThanOrEqual((disk.blocks * disk.bsize) / MB);

  // A server or a container may list no power supply: then nothing is known, and null says so.
  expect([true, false, null]).toContain(readings.onAcPower);
  expect(typeof readings.networkUp).toBe('boolean');
});

test("a scheduler on the machine's own readings runs a task whose conditions it meets", async () => {
  const path = tempDbPath();
  const scheduler = new Scheduler({ database: path, logger: silentLogger });
  try {
    scheduler.register('job', () => 'ran');
    const task = await scheduler.addTask({
      name: 'job',
      conditions: { minFreeMemoryMb: 1, minFreeDiskMb: 1, maxLoad: 1_000 },
      triggers: [new OneTimeTrigger({ delay: 0 })],
    });
    const ran = nextEvent(scheduler, 'execution:succeeded', (e) => e.taskId === task.id);
    await scheduler.start();
    await ran;
    const held = await scheduler.addTask({
      name: 'too-big',
      handler: 'job',
      conditions: { minFreeDiskMb: 1e12 },
      triggers: [new OneTimeTrigger({ delay: 0 })],
    });
    expect((await scheduler.explain(held.id)).reasons.join('\n')).toMatch(
      /free disk \d+(\.\d+)? MB is below minFreeDiskMb/,
    );
  } finally {
    await scheduler.close();
  }
});

test('runs held on a loaded node are taken by another process whose device allows them', async () => {
  const database = tempDbPath();
  const adder = new Scheduler({ database, logger: silentLogger, deviceState: () => ({}) });
  // 20 tasks only a quiet node may run, 20 that any node may.
  await adder.addTasks(
    Array.from({ length: 40 }, (_, i) => ({
      name: `compact-${i}`,
      handler: 'compact',
      ...(i < 20 ? { conditions: { maxLoad: 1 } } : {}),
      triggers: [new OneTimeTrigger({ delay: 0 })],
    })),
  );
  await adder.close();
  const children = [
    ['busy', { loadPerCore: 4 }],
    ['quiet', { loadPerCore: 0.2 }],
  ].map(([label, readings]) =>
    spawn(process.execPath, [deviceChild, database, label as string, JSON.stringify(readings), '40'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    }),
  );
  const codes = await Promise.all(children.map(async (child) => (await once(child, 'exit'))[0]));
  expect(codes).toEqual([0, 0]);

  const reader = new Scheduler({ database, logger: silentLogger, deviceState: () => ({}) });
  try {
    const history = await reader.executions({ limit: 1000 });
    expect(history).toHaveLength(40);
    expect(history.every((e) => e.status === 'succeeded' && e.attempt === 1)).toBe(true);
    const by = new Map(history.map((e) => [e.taskName, e.result]));
    for (let i = 0; i < 20; i++) expect(by.get(`compact-${i}`)).toBe('quiet');
  } finally {
    await reader.close();
  }
});
