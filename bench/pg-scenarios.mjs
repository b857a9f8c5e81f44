// The PostgreSQL measurements, each in a fresh process on a fresh database
// (`url`): background-tasks beside pg-boss on the same server.
import PgBoss from 'pg-boss';
import { pino } from 'pino';
import { OneTimeTrigger, Scheduler } from 'background-tasks';

const logger = pino({ level: 'silent' });
const noop = async () => {};
const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function addInChunks(scheduler, count, make) {
  for (let i = 0; i < count; i += 5_000) {
    await scheduler.addTasks(Array.from({ length: Math.min(5_000, count - i) }, (_, j) => make(i + j)));
  }
}

/** pg-boss with a connection for each of its workers (it starves on fewer), up to 64. */
async function startBoss(url, connections = 10) {
  const boss = new PgBoss({ connectionString: url, schedule: false, supervise: false, max: connections });
  boss.on('error', () => {});
  await boss.start();
  await boss.createQueue('noop');
  return boss;
}

async function insertJobs(boss, count, make = () => ({})) {
  for (let i = 0; i < count; i += 5_000) {
    await boss.insert(Array.from({ length: Math.min(5_000, count - i) }, (_, j) => ({ name: 'noop', ...make(i + j) })));
  }
}

export const pgScenarios = {
  /** `tasks` no-op one-time tasks due at once; runs/s from start() to the last end. */
  async pgOurs({ url, durability, concurrency, tasks }) {
    const scheduler = new Scheduler({ database: url, durability, maxRunningTasks: concurrency, logger });
    scheduler.register('noop', noop);
    await addInChunks(scheduler, tasks, () => ({ name: 'noop', triggers: [new OneTimeTrigger({ delay: 0 })] }));
    let done = 0;
    const finished = new Promise((resolve) => scheduler.on('execution:finished', () => ++done === tasks && resolve()));
    const t = performance.now();
    await scheduler.start();
    await finished;
    const perSecond = tasks / ((performance.now() - t) / 1000);
    await scheduler.close();
    return { perSecond };
  },

  /**
   * pg-boss's own workers (`work()`): `workers` of them, each fetching `batchSize`
   * jobs at a time and polling at its minimum interval (0.5 s) when idle.
   */
  async pgBossWork({ url, workers, batchSize, tasks }) {
    const boss = await startBoss(url, Math.min(64, Math.max(10, workers + 2)));
    await insertJobs(boss, tasks);
    let done = 0;
    let resolve;
    const finished = new Promise((r) => (resolve = r));
    const t = performance.now();
    for (let i = 0; i < workers; i++) {
      await boss.work('noop', { batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
        await Promise.all(jobs.map(() => noop()));
        done += jobs.length;
        if (done >= tasks) resolve();
      });
    }
    // A run that stops making progress fails loudly rather than hanging the benchmark.
    let seen = -1;
    const watchdog = setInterval(() => {
      if (done === seen) resolve(new Error(`pg-boss stalled at ${done} of ${tasks} jobs`));
      seen = done;
    }, 30_000);
    const stalled = await finished;
    clearInterval(watchdog);
    if (stalled instanceof Error) throw stalled;
    const perSecond = tasks / ((performance.now() - t) / 1000);
    await boss.stop({ graceful: false, wait: true });
    return { perSecond };
  },

  /**
   * pg-boss at its fastest: its fetch and complete called back to back by
   * `loops` loops of `batchSize` (no polling delay), so `loops × batchSize` run at once.
   */
  async pgBossFetch({ url, loops, batchSize, tasks }) {
    const boss = await startBoss(url);
    await insertJobs(boss, tasks);
    let done = 0;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: loops }, async () => {
        while (done < tasks) {
          const jobs = (await boss.fetch('noop', { batchSize })) ?? [];
          if (jobs.length === 0) {
            await sleep(1);
            continue;
          }
          await Promise.all(jobs.map(() => noop()));
          await boss.complete(
            'noop',
            jobs.map((job) => job.id),
          );
          done += jobs.length;
        }
      }),
    );
    const perSecond = tasks / ((performance.now() - t) / 1000);
    await boss.stop({ graceful: false, wait: true });
    return { perSecond };
  },

  /** Start lag of one-time tasks due at spread times. */
  async pgLag({ url, system, tasks, spreadMs }) {
    const t0 = Date.now() + 1000;
    const dueTimes = Array.from({ length: tasks }, (_, i) => t0 + Math.floor((i * spreadMs) / tasks));
    const lags = [];
    if (system === 'ours') {
      const scheduler = new Scheduler({ database: url, maxRunningTasks: 64, logger });
      scheduler.register('noop', (args) => void lags.push(wallNow() - args.at));
      await scheduler.addTasks(
        dueTimes.map((at) => ({ name: 'noop', args: { at }, triggers: [new OneTimeTrigger({ at: new Date(at) })] })),
      );
      let done = 0;
      const finished = new Promise((resolve) =>
        scheduler.on('execution:finished', () => ++done === tasks && resolve()),
      );
      await scheduler.start();
      await finished;
      await scheduler.close();
    } else {
      const boss = await startBoss(url);
      await insertJobs(boss, tasks, (i) => ({ data: { at: dueTimes[i] }, startAfter: new Date(dueTimes[i]) }));
      let resolve;
      const finished = new Promise((r) => (resolve = r));
      for (let i = 0; i < 8; i++) {
        await boss.work('noop', { batchSize: 8, pollingIntervalSeconds: 0.5 }, async (jobs) => {
          for (const job of jobs) lags.push(wallNow() - job.data.at);
          if (lags.length >= tasks) resolve();
        });
      }
      await finished;
      await boss.stop({ graceful: false, wait: true });
    }
    return { lags };
  },

  /** CPU time of this process over `seconds` of idling, with `futureTasks` due in an hour. */
  async pgIdle({ url, system, seconds, futureTasks }) {
    const at = Date.now() + 3600_000;
    let stop;
    if (system === 'ours') {
      const scheduler = new Scheduler({ database: url, logger });
      await addInChunks(scheduler, futureTasks, () => ({
        name: 'noop',
        triggers: [new OneTimeTrigger({ at: new Date(at) })],
      }));
      scheduler.register('noop', noop);
      await scheduler.start();
      stop = () => scheduler.close();
    } else {
      const boss = await startBoss(url);
      await insertJobs(boss, futureTasks, () => ({ startAfter: new Date(at) }));
      // Its default polling interval (2 s): what an idle pg-boss worker costs.
      await boss.work('noop', async () => {});
      stop = () => boss.stop({ graceful: false, wait: true });
    }
    await sleep(1000);
    const before = process.cpuUsage();
    await sleep(seconds * 1000);
    const cpu = process.cpuUsage(before);
    await stop();
    return { cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  },
};
