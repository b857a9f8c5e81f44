// Restarts, SIGKILL and a file shared between processes, through the public API only.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { EventTrigger, OneTimeTrigger, PeriodicTrigger } from 'background-tasks';
import { dbFile, fresh, open, until } from './helpers.js';
import { FakeClock } from 'background-tasks/testing';

const node = fileURLToPath(new URL('./fixtures/node.mjs', import.meta.url));

test('a restart resumes schedules, pending firings, waiting retries and counters', async () => {
  const { scheduler, clock, database } = fresh();
  let fails = true;
  scheduler.register('retry', () => {
    if (fails) throw new Error('not yet');
  });
  const retry = await scheduler.addTask({ name: 'retry', retryPolicy: { maxRetries: 1, delay: 60_000 } });
  const periodic = await scheduler.addTask({ name: 'tick', triggers: [new PeriodicTrigger({ interval: 30_000 })] });
  const listener = await scheduler.addTask({ name: 'listen', triggers: [new EventTrigger({ event: 'e' })] });
  await scheduler.start();
  await scheduler.runNow(retry.id);
  await until(async () => (await scheduler.executions({ taskId: retry.id })).length === 1, 'first attempt');
  await scheduler.fireEvent('e', 'kept');
  await scheduler.close();

  await clock.advance(20_000);
  const again = open(database, clock);
  fails = false;
  const seen: string[] = [];
  again.register('retry', (_args, ctx) => void seen.push(`retry#${ctx.attempt}@${clock.now() - Date.UTC(2026, 5, 1)}`));
  again.register('tick', () => void seen.push(`tick@${clock.now() - Date.UTC(2026, 5, 1)}`));
  again.register('listen', (_args, ctx) => void seen.push(`listen:${String(ctx.event?.payload)}`));
  await again.start();
  await until(() => seen.includes('listen:kept'), 'the pending firing');
  await clock.advance(10_000);
  await until(() => seen.length === 2, 'the periodic slot');
  await clock.advance(30_000);
  await until(() => seen.length === 4, 'the retry and the next slot');
  expect(seen).toEqual(['listen:kept', 'tick@30000', 'retry#2@60000', 'tick@60000']);
  expect((await again.getTask(periodic.id))?.triggers[0]?.fireCount).toBe(2);
  const ids = [retry.id, periodic.id, listener.id];
  const newer = await again.addTask({ name: 'later' });
  expect(newer.id).toBeGreaterThan(Math.max(...ids));
});

test('a run cut short by SIGKILL goes again at the next start with its attempt number', async () => {
  const database = dbFile();
  const clock = new FakeClock();
  const setup = open(database, clock);
  const task = await setup.addTask({ name: 'job' });
  await setup.runNow(task.id);
  await setup.close();

  const child = spawn(process.execPath, [node, 'hang', database], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => d.toString().includes('started') && resolve()),
  );
  child.kill('SIGKILL');
  await once(child, 'exit');

  const after = open(database, new FakeClock());
  after.register('job', (_args, ctx) => `finished on attempt ${ctx.attempt}`);
  await after.start();
  await until(async () => (await after.executions({ taskId: task.id, status: 'succeeded' })).length === 1, 'the rerun');
  const history = (await after.executions({ taskId: task.id })).reverse();
  expect(history.map((e) => [e.attempt, e.status])).toEqual([
    [1, 'interrupted'],
    [1, 'succeeded'],
  ]);
  expect(history[1]!.result).toBe('finished on attempt 1');
});

test('two processes sharing one file run each of 200 one-time tasks exactly once', async () => {
  const database = dbFile();
  const setup = open(database, new FakeClock(Date.now()));
  const ids: number[] = [];
  for (let i = 0; i < 200; i++) {
    ids.push(
      (await setup.addTask({ name: 'job', args: { n: i }, triggers: [new OneTimeTrigger({ delay: i % 50 })] })).id,
    );
  }
  await setup.close();
  const children = [0, 1].map(() => spawn(process.execPath, [node, 'work', database, '200'], { stdio: 'inherit' }));
  expect(await Promise.all(children.map(async (c) => (await once(c, 'exit'))[0]))).toEqual([0, 0]);

  const reader = open(database, new FakeClock());
  const history = await reader.executions({ limit: 1000 });
  expect(history).toHaveLength(200);
  expect(new Set(history.map((e) => e.taskId))).toEqual(new Set(ids));
  expect(history.every((e) => e.status === 'succeeded' && e.attempt === 1)).toBe(true);
  expect(await reader.listTasks()).toEqual([]);
});
