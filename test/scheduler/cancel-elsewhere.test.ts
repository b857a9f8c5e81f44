import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { OneTimeTrigger, TaskCancelledError, type Scheduler } from '../../src/index.js';
import { LEASE_MS } from '../../src/runtime/loop.js';
import { nextEvent } from '../../src/testing.js';
import { createHarness, deferred } from '../helpers/setup.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** A task whose handler runs until its signal is aborted, started on a scheduler with one slot. */
async function startLongTask() {
  const harness = createHarness({ maxRunningTasks: 1 });
  const { scheduler, clock } = harness;
  const aborted = deferred<unknown>();
  scheduler.register('long', (_args, ctx) => {
    return new Promise((_, reject) =>
      ctx.signal.addEventListener('abort', () => {
        aborted.resolve(ctx.signal.reason);
        reject(ctx.signal.reason as Error);
      }),
    );
  });
  scheduler.register('next', () => 'ran');
  const task = await scheduler.addTask({ name: 'long', triggers: [new OneTimeTrigger({ delay: 0 })] });
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.start();
  await clock.advance(0);
  await started;
  const events: string[] = [];
  const ours = (id: number, event: string) => id === task.id && events.push(event);
  scheduler.on('task:removed', (id) => ours(id, `task:removed ${id}`));
  scheduler.on('execution:cancelled', (e) => ours(e.taskId, `execution:cancelled ${e.taskId}`));
  scheduler.on('execution:finished', (e) => ours(e.taskId, `execution:finished ${e.taskId} ${e.status}`));
  return { ...harness, task, aborted, events };
}

/** After the removal elsewhere: the next heartbeat aborts the handler, announces it, and frees the slot. */
async function expectCancelledWithinAHeartbeat(
  { scheduler, clock, task, aborted, events }: Awaited<ReturnType<typeof startLongTask>>,
  aborter: () => Promise<unknown> | unknown,
): Promise<void> {
  await aborter();
  const next = await scheduler.addTask({ name: 'next', triggers: [new OneTimeTrigger({ delay: 0 })] });
  const nextRan = nextEvent(scheduler, 'execution:succeeded', (e) => e.taskId === next.id);
  await clock.advance(0);
  expect(scheduler.runningTasksCount()).toBe(1); // the removal is not yet known here

  await clock.advance(LEASE_MS / 3);
  expect(await aborted.promise).toBeInstanceOf(TaskCancelledError);
  await nextRan;
  expect(events).toEqual([
    `task:removed ${task.id}`,
    `execution:cancelled ${task.id}`,
    `execution:finished ${task.id} cancelled`,
  ]);
  expect(scheduler.runningTasksCount()).toBe(0);
  expect(await scheduler.executions({ taskId: task.id })).toMatchObject([{ status: 'cancelled' }]);
}

test('a running task removed by the CLI in another process is aborted at the next heartbeat', async () => {
  const running = await startLongTask();
  await expectCancelledWithinAHeartbeat(running, () => {
    const result = spawnSync(process.execPath, [cli, 'remove', String(running.task.id), '--db', running.database], {
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
  });
});

test('a running task removed through another scheduler on the database (another node) is aborted', async () => {
  const running = await startLongTask();
  const other: Scheduler = running.reopen();
  await expectCancelledWithinAHeartbeat(running, async () =>
    expect(await other.removeTask(running.task.id)).toBe(true),
  );
});
