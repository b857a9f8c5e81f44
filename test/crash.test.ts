import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { Scheduler } from '../src/index.js';
import { nextEvent } from '../src/testing.js';
import { silentLogger, tempDbPath } from './helpers/setup.js';

const child = fileURLToPath(new URL('./fixtures/hanging-child.mjs', import.meta.url));

test('a run left running by a process killed with SIGKILL is interrupted and goes again, keeping its attempt number', async () => {
  const database = tempDbPath();
  const proc = spawn(process.execPath, [child, database], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  proc.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('started')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
  proc.kill('SIGKILL');
  await once(proc, 'exit');
  const killedAt = Date.now();

  const scheduler = new Scheduler({ database, logger: silentLogger });
  try {
    expect((await scheduler.executions())[0]?.status).toBe('running');
    scheduler.register('crashy', (_args, ctx) => `attempt ${ctx.attempt} finished`);
    const done = nextEvent(scheduler, 'execution:succeeded');
    await scheduler.start();
    expect((await done).result).toBe('attempt 1 finished');
    const history = (await scheduler.executions()).reverse();
    expect(history.map((e) => [e.attempt, e.status])).toEqual([
      [1, 'interrupted'],
      [1, 'succeeded'],
    ]);
    expect(history[0]!.error).toContain('stopped without finishing it');
    // It ended, as far as anyone knows, when its owner last renewed the lease: the
    // time until recovery is downtime, not part of its duration (issue 12, finding 10).
    expect(history[0]!.endedAt).toBeLessThanOrEqual(killedAt);
    expect(history[0]!.durationMs).toBe(history[0]!.endedAt! - history[0]!.startedAt);
    expect(history.map((e) => e.final)).toEqual([false, true]);
  } finally {
    await scheduler.close();
  }
});
