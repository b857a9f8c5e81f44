// `npm run bench`: every scenario in fresh processes, each at least three rounds,
// alternating with its comparison, printed as Markdown tables (medians, min–max).
// BENCH_ROUNDS, BENCH_TASKS and BENCH_SCALE (comma-separated future-task counts) shrink or grow it.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alternate, machine, measure, measureScript, median, percentile, removeDir, summary, tempDir } from './lib.mjs';

const PUBLIC_CHECK = fileURLToPath(new URL('./public-check.mjs', import.meta.url));

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TASKS = Number(process.env.BENCH_TASKS ?? 20_000);
const SCALE = (process.env.BENCH_SCALE ?? '0,100000,1000000').split(',').map(Number);
const started = performance.now();
const dir = tempDir();
let files = 0;
const file = () => join(dir, `run-${files++}.db`);
const out = (line = '') => console.log(line);

out(`# background-tasks benchmarks`);
out();
out(`${machine()}; ${ROUNDS} rounds per figure, alternating; ${new Date().toISOString().slice(0, 10)}`);

try {
  // Throughput: TASKS no-op one-time tasks due at once.
  out();
  out(`## Throughput: ${TASKS.toLocaleString('en-US')} no-op one-time tasks due at once (runs/s)`);
  out();
  out(
    '| running at once | durability | background-tasks | plainjob | raw better-sqlite3 (batched) | ours / plainjob | ours / raw |',
  );
  out('|---|---|---|---|---|---|---|');
  for (const concurrency of [1, 8, 64]) {
    for (const durability of ['full', 'normal']) {
      const results = await alternate(ROUNDS, ['ours', 'plainjob', 'raw'], (system) =>
        measure(system, { file: file(), durability, concurrency, tasks: TASKS }),
      );
      const rate = (system) => results.get(system).map((r) => r.perSecond);
      const ratio = (a, b) => (median(rate(a)) / median(rate(b))).toFixed(2);
      out(
        `| ${concurrency} | ${durability} | ${summary(rate('ours'))} | ${summary(rate('plainjob'))} | ` +
          `${summary(rate('raw'))} | ${ratio('ours', 'plainjob')}× | ${ratio('ours', 'raw')}× |`,
      );
    }
  }
  out();
  out('plainjob sets `synchronous=NORMAL` itself whatever the column says; its workers each run one job at a time.');

  // The same workload measured a second way, through the public API only (bench/public-check.mjs).
  out();
  out('## Cross-check: the same throughput measured by bench/public-check.mjs (polls the API, no events)');
  out();
  out('| running at once | durability | bench/worker.mjs | bench/public-check.mjs | ratio |');
  out('|---|---|---|---|---|');
  for (const durability of ['full', 'normal']) {
    const params = () => ({ file: file(), durability, concurrency: 64, tasks: TASKS });
    const results = await alternate(ROUNDS, ['worker', 'check'], (how) =>
      how === 'worker' ? measure('ours', params()) : measureScript(PUBLIC_CHECK, params()),
    );
    const rates = (how) => results.get(how).map((r) => r.perSecond);
    out(
      `| 64 | ${durability} | ${summary(rates('worker'))} | ${summary(rates('check'))} | ` +
        `${(median(rates('check')) / median(rates('worker'))).toFixed(2)}× |`,
    );
  }

  // Enqueue.
  out();
  out('## Enqueue (tasks/s)');
  out();
  out('| how | durability | tasks/s |');
  out('|---|---|---|');
  for (const [mode, tasks] of [
    ['awaited', 2_000],
    ['concurrent', TASKS],
    ['bulk', TASKS],
  ]) {
    const results = await alternate(ROUNDS, ['full', 'normal'], (durability) =>
      measure('enqueue', { file: file(), durability, mode, tasks }),
    );
    const label = {
      awaited: '`await addTask` one after another',
      concurrent: 'concurrent `addTask`',
      bulk: '`addTasks`',
    }[mode];
    for (const durability of ['full', 'normal']) {
      out(
        `| ${label} (${tasks.toLocaleString('en-US')}) | ${durability} | ${summary(results.get(durability).map((r) => r.perSecond))} |`,
      );
    }
  }

  // Start lag.
  out();
  out('## Start lag: 1,000 one-time tasks due at spread times over 5 s (ms late)');
  out();
  out('| | p50 | p95 | p99 | max |');
  out('|---|---|---|---|---|');
  const lags = await alternate(ROUNDS, ['ours', 'setTimeout'], (system) =>
    measure('lag', { file: file(), system, tasks: 1_000, spreadMs: 5_000 }),
  );
  for (const system of ['ours', 'setTimeout']) {
    const cell = (p) =>
      summary(
        lags.get(system).map((r) => (p === 100 ? Math.max(...r.lags) : percentile(r.lags, p))),
        2,
      );
    const label = system === 'ours' ? 'background-tasks (durability full)' : 'bare `setTimeout`';
    out(`| ${label} | ${cell(50)} | ${cell(95)} | ${cell(99)} | ${cell(100)} |`);
  }

  // Idle and scale share files of future tasks.
  const prepared = new Map();
  for (const futureTasks of new Set([100_000, ...SCALE])) {
    const path = join(dir, `future-${futureTasks}.db`);
    await measure('prepare', { file: path, futureTasks });
    prepared.set(futureTasks, path);
  }
  const copyOf = (futureTasks) => {
    const path = file();
    copyFileSync(prepared.get(futureTasks), path);
    return path;
  };

  out();
  out('## Idle: 10 s with 100,000 tasks due in an hour');
  out();
  out('| | CPU seconds | RSS (MB) |');
  out('|---|---|---|');
  const idle = await alternate(ROUNDS, ['ours', 'bare'], (system) =>
    measure('idle', { file: copyOf(100_000), system, seconds: 10 }),
  );
  for (const system of ['ours', 'bare']) {
    const label = system === 'ours' ? 'background-tasks' : 'bare Node process holding a timer';
    out(
      `| ${label} | ${summary(
        idle.get(system).map((r) => r.cpuSeconds),
        3,
      )} | ${summary(idle.get(system).map((r) => r.rssMb))} |`,
    );
  }
  out();
  out(
    `ours / bare CPU: ${(median(idle.get('ours').map((r) => r.cpuSeconds)) / median(idle.get('bare').map((r) => r.cpuSeconds))).toFixed(2)}×`,
  );

  out();
  out(
    `## Scale: future tasks already in the file (maxRunningTasks 64, durability full, ${TASKS.toLocaleString('en-US')} tasks run)`,
  );
  out();
  out('| future tasks | runs/s | start-up (ms) | RSS after start (MB) | RSS after the run (MB) |');
  out('|---|---|---|---|---|');
  const scale = await alternate(ROUNDS, SCALE, (futureTasks) =>
    measure('ours', { file: copyOf(futureTasks), durability: 'full', concurrency: 64, tasks: TASKS }),
  );
  for (const futureTasks of SCALE) {
    const rows = scale.get(futureTasks);
    out(
      `| ${futureTasks.toLocaleString('en-US')} | ${summary(rows.map((r) => r.perSecond))} | ${summary(
        rows.map((r) => r.startupMs),
        1,
      )} | ` + `${summary(rows.map((r) => r.rssAfterStartMb))} | ${summary(rows.map((r) => r.rssMb))} |`,
    );
  }
  if (SCALE.length > 1) {
    const rate = (n) => median(scale.get(n).map((r) => r.perSecond));
    out();
    out(`largest / empty throughput: ${(rate(SCALE.at(-1)) / rate(SCALE[0])).toFixed(2)}×`);
  }
} finally {
  removeDir(dir);
}
out();
out(`Command: \`npm run bench\`; took ${((performance.now() - started) / 60_000).toFixed(1)} min.`);
