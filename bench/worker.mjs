// One measurement, in a fresh process: `node bench/worker.mjs SCENARIO '{"param":…}'`.
// Prints one JSON line with the result. Drives background-tasks through its public API only.
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { better, defineQueue, defineWorker } from 'plainjob';
import { OneTimeTrigger, Scheduler } from 'background-tasks';

const [scenario, json] = process.argv.slice(2);
const params = JSON.parse(json ?? '{}');
const logger = pino({ level: 'silent' });
const noop = async () => {};
const oneTime = (at) => ({
  name: 'noop',
  triggers: [new OneTimeTrigger(at === undefined ? { delay: 0 } : { at: new Date(at) })],
});
const wallNow = () => performance.timeOrigin + performance.now();

async function addInChunks(scheduler, count, make) {
  for (let i = 0; i < count; i += 10_000) {
    await scheduler.addTasks(Array.from({ length: Math.min(10_000, count - i) }, (_, j) => make(i + j)));
  }
}

const scenarios = {
  /**
   * A file holding `futureTasks` one-time tasks due in an hour; with `conditions`,
   * each has device conditions (that hold); with `held`, they are due now and each
   * waits for a condition that is never true.
   */
  async prepare({ file, futureTasks, conditions = false, held = false }) {
    const scheduler = new Scheduler({ database: file, durability: 'normal', logger });
    const at = held ? Date.now() : Date.now() + 3600_000;
    const extra = held
      ? { conditions: { require: ['never'] } }
      : conditions
        ? { conditions: { maxLoad: 1000, minFreeDiskMb: 1 } }
        : {};
    await addInChunks(scheduler, futureTasks, () => ({ ...oneTime(at), ...extra }));
    await scheduler.close();
    return { futureTasks };
  },

  /**
   * Runs `tasks` no-op one-time tasks due at once; measures runs/s from start() to the
   * last end. With `group` ({ maxRunning }), every task is in that one concurrency group.
   */
  async ours({ file, durability, concurrency, tasks, group }) {
    let t = performance.now();
    const scheduler = new Scheduler({ database: file, durability, maxRunningTasks: concurrency, logger });
    scheduler.register('noop', noop);
    await scheduler.start();
    const startupMs = performance.now() - t;
    const rssAfterStart = process.memoryUsage.rss();
    await scheduler.stop();
    if (group) await scheduler.defineGroup('all', group);
    await addInChunks(scheduler, tasks, () => ({ ...oneTime(), ...(group ? { groups: ['all'] } : {}) }));
    let done = 0;
    const finished = new Promise((resolve) => scheduler.on('execution:finished', () => ++done === tasks && resolve()));
    t = performance.now();
    await scheduler.start();
    await finished;
    const perSecond = tasks / ((performance.now() - t) / 1000);
    const rss = process.memoryUsage.rss();
    await scheduler.close();
    return { perSecond, startupMs, rssAfterStartMb: rssAfterStart / 2 ** 20, rssMb: rss / 2 ** 20 };
  },

  /** plainjob on the same workload: `concurrency` workers in one process (each runs one job at a time). */
  async plainjob({ file, concurrency, tasks }) {
    const db = new Database(file);
    const queue = defineQueue({ connection: better(db), logger: { info() {}, warn() {}, error() {}, debug() {} } });
    db.transaction(() => {
      for (let i = 0; i < tasks; i++) queue.add('noop', {});
    })();
    let done = 0;
    let resolve;
    const finished = new Promise((r) => (resolve = r));
    const workers = Array.from({ length: concurrency }, () =>
      defineWorker('noop', noop, {
        queue,
        pollIntervall: 10,
        logger: { info() {}, warn() {}, error() {}, debug() {} },
        onCompleted: () => ++done === tasks && resolve(),
      }),
    );
    const t = performance.now();
    for (const worker of workers) void worker.start();
    await finished;
    const perSecond = tasks / ((performance.now() - t) / 1000);
    await Promise.all(workers.map((worker) => worker.stop()));
    queue.close();
    return { perSecond };
  },

  /**
   * The physical limit: a bare better-sqlite3 life-cycle per job (claim, insert an
   * execution, complete), `concurrency` jobs per transaction, nothing else.
   */
  async raw({ file, durability, concurrency, tasks }) {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
    db.exec(`CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL, due_at INTEGER NOT NULL);
             CREATE INDEX jobs_ready ON jobs (state, due_at);
             CREATE TABLE executions (id INTEGER PRIMARY KEY, job_id INTEGER, status TEXT, started_at INTEGER, ended_at INTEGER);`);
    const insert = db.prepare("INSERT INTO jobs (state, due_at) VALUES ('waiting', ?)");
    db.transaction(() => {
      for (let i = 0; i < tasks; i++) insert.run(Date.now());
    })();
    const ready = db
      .prepare("SELECT id FROM jobs WHERE state = 'waiting' AND due_at <= ? ORDER BY due_at LIMIT ?")
      .pluck();
    const mark = db.prepare("UPDATE jobs SET state = 'running' WHERE id = ?");
    const start = db.prepare("INSERT INTO executions (job_id, status, started_at) VALUES (?, 'running', ?)");
    const finish = db.prepare("UPDATE executions SET status = 'succeeded', ended_at = ? WHERE id = ?");
    const remove = db.prepare('DELETE FROM jobs WHERE id = ?');
    const cycle = db.transaction((finished) => {
      for (const [jobId, executionId] of finished) {
        finish.run(Date.now(), executionId);
        remove.run(jobId);
      }
      return ready.all(Date.now(), concurrency).map((id) => {
        mark.run(id);
        return [id, Number(start.run(id, Date.now()).lastInsertRowid)];
      });
    });
    const t = performance.now();
    let batch = cycle.immediate([]);
    while (batch.length > 0) {
      await Promise.all(batch.map(() => noop()));
      batch = cycle.immediate(batch);
    }
    const perSecond = tasks / ((performance.now() - t) / 1000);
    db.close();
    return { perSecond };
  },

  /** Enqueue rate: awaited addTask one after another, concurrent addTask, or addTasks. */
  async enqueue({ file, durability, mode, tasks }) {
    const scheduler = new Scheduler({ database: file, durability, logger });
    const t = performance.now();
    if (mode === 'awaited') for (let i = 0; i < tasks; i++) await scheduler.addTask(oneTime(Date.now() + 3600_000));
    else if (mode === 'concurrent') {
      await Promise.all(Array.from({ length: tasks }, () => scheduler.addTask(oneTime(Date.now() + 3600_000))));
    } else await scheduler.addTasks(Array.from({ length: tasks }, () => oneTime(Date.now() + 3600_000)));
    const perSecond = tasks / ((performance.now() - t) / 1000);
    await scheduler.close();
    return { perSecond };
  },

  /** Start lag of one-time tasks due at spread times, or of bare setTimeout calls at the same times. */
  async lag({ file, system, tasks, spreadMs, leadMs = 500 }) {
    const t0 = Date.now() + leadMs;
    const dueTimes = Array.from({ length: tasks }, (_, i) => t0 + Math.floor((i * spreadMs) / tasks));
    const lags = [];
    if (system === 'setTimeout') {
      await Promise.all(
        dueTimes.map(
          (at) =>
            new Promise((resolve) =>
              setTimeout(() => {
                lags.push(wallNow() - at);
                resolve();
              }, at - Date.now()),
            ),
        ),
      );
    } else {
      const scheduler = new Scheduler({ database: file, maxRunningTasks: 64, logger });
      scheduler.register('noop', (args) => void lags.push(wallNow() - args.at));
      await scheduler.addTasks(dueTimes.map((at) => ({ ...oneTime(at), args: { at } })));
      let done = 0;
      const finished = new Promise((resolve) =>
        scheduler.on('execution:finished', () => ++done === tasks && resolve()),
      );
      await scheduler.start();
      await finished;
      await scheduler.close();
    }
    return { lags };
  },

  /** CPU time and RSS over `seconds` of idling: a scheduler over a file of future tasks, or a bare timer. */
  async idle({ file, system, seconds, warmupMs = 0 }) {
    let scheduler;
    if (system === 'ours') {
      scheduler = new Scheduler({ database: file, logger });
      scheduler.register('noop', noop);
      scheduler.defineCondition('never', () => false);
      await scheduler.start();
    }
    await new Promise((resolve) => setTimeout(resolve, warmupMs));
    const keepAlive = setInterval(() => {}, 3600_000);
    global.gc?.();
    const before = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const cpu = process.cpuUsage(before);
    const rssMb = process.memoryUsage.rss() / 2 ** 20;
    clearInterval(keepAlive);
    await scheduler?.close();
    return { cpuSeconds: (cpu.user + cpu.system) / 1e6, rssMb };
  },
};

// pg-boss loads only for its scenarios: the other figures' memory and start-up stay free of it.
const { pgBossScenarios } = scenario.startsWith('pgBoss')
  ? await import('./pgboss-scenarios.mjs')
  : { pgBossScenarios: {} };
const result = await { ...scenarios, ...pgBossScenarios }[scenario](params);
process.stdout.write(`${JSON.stringify(result)}\n`);
