// pg-boss's side of the PostgreSQL measurements, each in a fresh process on a
// fresh database (`url`); background-tasks' side is worker.mjs's own scenarios,
// given the database's URL as their `file`.
import PgBoss from 'pg-boss';

const noop = async () => {};
const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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

export const pgBossScenarios = {
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

  /** Start lag of jobs due at spread times (`startAfter`), as worker.mjs's `lag` measures ours. */
  async pgBossLag({ url, tasks, spreadMs, leadMs }) {
    const t0 = Date.now() + leadMs;
    const dueTimes = Array.from({ length: tasks }, (_, i) => t0 + Math.floor((i * spreadMs) / tasks));
    const lags = [];
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
    return { lags };
  },

  /** CPU time of this process over `seconds` with `futureTasks` jobs due in an hour and one idle worker. */
  async pgBossIdle({ url, seconds, futureTasks, warmupMs }) {
    const boss = await startBoss(url);
    await insertJobs(boss, futureTasks, () => ({ startAfter: new Date(Date.now() + 3600_000) }));
    // Its default polling interval (2 s): what an idle pg-boss worker costs.
    await boss.work('noop', async () => {});
    // The same steps as worker.mjs's idle scenario around the measured window.
    await sleep(warmupMs);
    global.gc?.();
    const before = process.cpuUsage();
    await sleep(seconds * 1000);
    const cpu = process.cpuUsage(before);
    await boss.stop({ graceful: false, wait: true });
    return { cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  },
};
