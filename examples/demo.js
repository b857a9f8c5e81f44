// The demo behind `npm start`: a scheduler on an embedded SQLite file that runs every
// kind of trigger, a retry, an event and a task that waits for a condition of the
// application's own (a maintenance window) for a few seconds, stops, and prints the
// history read back with plain SQL. Run it twice: the second run shows the first
// run's history too, because it lives in the file.
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { EventTrigger, OneTimeTrigger, PeriodicTrigger, Scheduler } from 'background-tasks';

const database = process.env.DEMO_DB ?? 'demo.db';
const runFor = Number(process.env.DEMO_SECONDS ?? 5) * 1000;

// Without a logger the scheduler logs warnings (a retry is one) and errors as JSON;
// the demo prints its own lines instead, from the scheduler's events.
const scheduler = new Scheduler({ database, maxRunningTasks: 2, logger: pino({ level: 'error' }) });

scheduler.register('heartbeat', async (args, ctx) => `beat #${ctx.executionId} from ${args.node}`);
scheduler.register('report', async () => ({ at: new Date().toISOString() }));
scheduler.register('flaky-upload', async (args, ctx) => {
  if (ctx.attempt === 1) throw new Error('upload server busy');
  return { uploaded: args.file, attempt: ctx.attempt };
});
scheduler.register('cleanup', async (args, ctx) => ({ cleaned: ctx.event?.payload?.mount ?? args.dir }));
scheduler.register('compact-logs', async () => ({ compacted: 'logs', waitedForWindow: true }));

// A condition of the application's own: runs that require it wait, durably, until it is true.
const windowOpensAt = Date.now() + Math.min(2500, runFor / 2);
scheduler.defineCondition('maintenance-window', () => Date.now() >= windowOpensAt);

// Keys make start-up idempotent: each run of the demo updates these tasks instead of adding twins.
await scheduler.addTask({
  key: 'heartbeat',
  name: 'heartbeat',
  args: { node: 'edge-1' },
  triggers: [new PeriodicTrigger({ interval: 1000 })],
});
await scheduler.addTask({
  key: 'report',
  name: 'report',
  priority: 5,
  triggers: [new PeriodicTrigger({ cron: '*/2 * * * * *' })], // every 2 seconds (6 fields)
});
await scheduler.addTask({
  key: 'upload',
  name: 'flaky-upload',
  args: { file: 'metrics.json' },
  triggers: [new OneTimeTrigger({ delay: 500 })],
  retryPolicy: { maxRetries: 3, delay: 1000, backoff: 'exponential' },
});
await scheduler.addTask({
  key: 'cleanup',
  name: 'cleanup',
  args: { dir: '/tmp' },
  triggers: [new EventTrigger({ event: 'disk-full' })],
});

await scheduler.addTask({
  key: 'compact-logs',
  name: 'compact-logs',
  // Due at once, but it starts only in the maintenance window, on a node that is not loaded.
  conditions: { require: ['maintenance-window'], maxLoad: 4 },
  triggers: [new OneTimeTrigger({ delay: 0 })],
});

scheduler.on('execution:finished', (e) =>
  console.log(
    `  ${e.status.padEnd(9)} ${e.taskName} (execution ${e.executionId}, attempt ${e.attempt})` +
      (e.error ? `: ${e.error.message}` : ''),
  ),
);

let diskFull;
const shutdown = async (signal) => {
  console.log(`\n${signal}: stopping`);
  clearTimeout(diskFull);
  await scheduler.close({ timeout: 2000 });
  process.exit(0);
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);

console.log(`Running tasks for ${runFor / 1000} s on ${database}...`);
await scheduler.start();
diskFull = setTimeout(() => scheduler.fireEvent('disk-full', { mount: '/var' }), Math.min(1500, runFor / 2));
await new Promise((resolve) => setTimeout(resolve, runFor));
clearTimeout(diskFull);
await scheduler.close();

// Read the history back as an operator would: plain SQL on the file.
const db = new Database(database, { readonly: true });
const rows = db
  .prepare(
    `
  SELECT e.id, e.task_name, e.attempt, e.status, e.reason,
         strftime('%H:%M:%f', e.started_at / 1000.0, 'unixepoch') AS started,
         e.duration_ms, coalesce(e.error, e.result) AS outcome
  FROM executions e ORDER BY e.id`,
  )
  .all();
const boots = db.prepare('SELECT count(DISTINCT owner) AS n FROM executions').get().n;
db.close();

console.log(`\nExecution history from SQL (${rows.length} rows, written by ${boots} demo run(s)):`);
console.table(rows.map((r) => ({ ...r, outcome: r.outcome?.slice(0, 48) })));
