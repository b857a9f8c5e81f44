// A second, independent measurement of throughput, written against the public API
// only and timed differently from bench/worker.mjs: no events; the end is the latest
// `endedAt` in the recorded history, read back once every task is gone. Run by
// bench/index.mjs; alone:
// `node bench/public-check.mjs '{"file":"x.db","durability":"full","concurrency":64,"tasks":20000}'`.
import { pino } from 'pino';
import { OneTimeTrigger, Scheduler } from 'background-tasks';

const { file, durability, concurrency, tasks } = JSON.parse(process.argv[2]);
const scheduler = new Scheduler({
  database: file,
  durability,
  maxRunningTasks: concurrency,
  logger: pino({ level: 'silent' }),
});
scheduler.register('noop', () => {});
const definitions = Array.from({ length: tasks }, () => ({
  name: 'noop',
  triggers: [new OneTimeTrigger({ delay: 0 })],
}));
for (let i = 0; i < tasks; i += 5_000) await scheduler.addTasks(definitions.slice(i, i + 5_000));

const started = Date.now();
await scheduler.start();
// Finished when no task is left: one-time tasks are removed once they have run.
while ((await scheduler.listTasks({ limit: 1 })).length > 0) await new Promise((resolve) => setTimeout(resolve, 50));
let succeeded = 0;
let lastEnd = started;
for (let page = await scheduler.executions({ status: 'succeeded', limit: 10_000 }); page.length > 0;) {
  succeeded += page.length;
  for (const execution of page) lastEnd = Math.max(lastEnd, execution.endedAt);
  page = await scheduler.executions({ status: 'succeeded', limit: 10_000, beforeId: page.at(-1).id });
}
await scheduler.close();
if (succeeded !== tasks) throw new Error(`only ${succeeded} of ${tasks} succeeded`);
process.stdout.write(`${JSON.stringify({ perSecond: tasks / ((lastEnd - started) / 1000) })}\n`);
