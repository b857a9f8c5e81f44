// `node bench/dashboard.mjs [N]`: the dashboard's pages over a file with N executions
// (default 100,000; a tenth of them failed), made through the public API: the median
// and slowest of 7 requests per page, each timed from request to the last byte.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { OneTimeTrigger, Scheduler } from 'background-tasks';
import { createDashboard } from 'background-tasks/dashboard';
import { median, removeDir, tempDir } from './lib.mjs';

const count = Number(process.argv[2] ?? 100_000);
const dir = tempDir();
const file = join(dir, 'dashboard.db');
try {
  const scheduler = new Scheduler({ database: file, maxRunningTasks: 64, logger: pino({ level: 'silent' }) });
  scheduler.register('work', (args) => {
    if (args.fail) throw new Error(`HTTP 503 from 10.0.0.${args.i % 250}`);
  });
  for (let i = 0; i < count; i += 10_000) {
    await scheduler.addTasks(
      Array.from({ length: Math.min(10_000, count - i) }, (_, j) => ({
        name: `task-${(i + j) % 500}`,
        handler: 'work',
        args: { i: i + j, fail: (i + j) % 10 === 0 },
        triggers: [new OneTimeTrigger({ delay: 0 })],
      })),
    );
  }
  let done = 0;
  const finished = new Promise((resolve) => scheduler.on('execution:finished', () => ++done === count && resolve()));
  await scheduler.start();
  await finished;
  await scheduler.close();

  const dashboard = await createDashboard({ database: file });
  const server = createServer(dashboard).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${server.address().port}`;
  const [execution] = await (async () => {
    const reader = new Scheduler({ database: file, logger: pino({ level: 'silent' }) });
    try {
      return await reader.executions({ status: 'failed', limit: 1 });
    } finally {
      await reader.close();
    }
  })();
  console.log(`| page (${count.toLocaleString('en')} executions) | median ms | slowest ms | bytes |`);
  console.log('|---|---|---|---|');
  for (const path of [
    '/',
    '/tasks',
    `/tasks/${execution.taskId}`,
    '/executions',
    '/executions?status=failed',
    `/executions/${execution.id}`,
    '/failures',
  ]) {
    const times = [];
    let bytes = 0;
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      const response = await fetch(`${url}${path}`);
      bytes = (await response.text()).length;
      times.push(performance.now() - t);
    }
    console.log(
      `| \`${path}\` | ${median(times).toFixed(0)} | ${Math.max(...times).toFixed(0)} | ${bytes.toLocaleString('en')} |`,
    );
  }
  server.close();
  await dashboard.close();
} finally {
  removeDir(dir);
}
