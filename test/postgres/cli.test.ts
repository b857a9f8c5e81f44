import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { EventTrigger, Scheduler } from '../../src/index.js';
import { silentLogger, testDatabase } from '../helpers/setup.js';

// The command-line tool pointed at a PostgreSQL database by URL, beside a scheduler.

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('the CLI migrates, lists, fires, runs now and reads history on a postgres:// database', async () => {
  const database = testDatabase();
  expect(run('migrate', '--db', database).status).toBe(0);
  const scheduler = new Scheduler({ database, logger: silentLogger });
  try {
    const seen: string[] = [];
    scheduler.register('greet', (_args, ctx) => void seen.push(ctx.event?.name ?? 'manual'));
    const task = await scheduler.addTask({
      key: 'greeter',
      name: 'greet',
      triggers: [new EventTrigger({ event: 'hello' })],
    });
    await scheduler.start();

    const tasks = JSON.parse(run('tasks', '--db', database, '--json').stdout) as { id: number; key: string }[];
    expect(tasks).toMatchObject([{ id: task.id, key: 'greeter' }]);
    expect(run('fire', 'hello', '--db', database).status).toBe(0);
    expect(run('run-now', 'greeter', '--db', database).status).toBe(0);
    // The scheduler hears of both through LISTEN/NOTIFY, not its 10 s timer.
    for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen.sort()).toEqual(['hello', 'manual']);
    for (let i = 0; i < 100; i++) {
      const history = JSON.parse(run('history', '--db', database, '--json').stdout) as { status: string }[];
      if (history.filter((e) => e.status === 'succeeded').length === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const doctor = run('doctor', '--db', database, '--json');
    expect(doctor.status).toBe(0);
    expect(JSON.parse(doctor.stdout)).toMatchObject({ integrity: 'ok' });
  } finally {
    await scheduler.close();
  }
});
