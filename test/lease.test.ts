import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { Scheduler } from '../src/index.js';
import { LEASE_MS } from '../src/runtime/loop.js';
import { FakeClock, nextEvent } from '../src/testing.js';
import { silentLogger, testDatabase } from './helpers/setup.js';

const child = fileURLToPath(new URL('./fixtures/lease-child.mjs', import.meta.url));

test("a run whose owner lets its lease lapse is recovered; the owner's late write does not overwrite it", async () => {
  const database = testDatabase();
  const proc = spawn(process.execPath, [child, database], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const saw = (line: string) =>
    new Promise<void>((resolve) => {
      const check = () => lines.includes(line) && resolve();
      proc.stdout.on('data', (chunk: Buffer) => {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        check();
      });
      check();
    });
  await saw('started');
  proc.kill('SIGSTOP'); // frozen: alive, but its heartbeat cannot renew the lease

  // Another scheduler, whose clock is past the lease, takes the run over.
  const clock = new FakeClock(Date.now() + LEASE_MS + 5_000);
  const other = new Scheduler({ database, clock, logger: silentLogger });
  try {
    other.register('slow', () => 'recovered result');
    const done = nextEvent(other, 'execution:succeeded');
    await other.start();
    await done;
    proc.kill('SIGCONT');
    await saw('late');
    const history = (await other.executions()).reverse();
    expect(history.map((e) => [e.attempt, e.status, e.result])).toEqual([
      [1, 'interrupted', null],
      [1, 'succeeded', 'recovered result'],
    ]);
  } finally {
    proc.kill('SIGKILL');
    await once(proc, 'exit');
    await other.close();
  }
});
