// `npm run bench`: every scenario in fresh processes, each at least three rounds,
// alternating with its comparison, printed as Markdown tables (medians, min–max).
// BENCH_ROUNDS, BENCH_TASKS and BENCH_SCALE (comma-separated future-task counts) shrink or grow it.
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  alternate,
  freshPgDatabase,
  machine,
  measure,
  measureScript,
  median,
  percentile,
  removeDir,
  startPostgres,
  summary,
  tempDir,
} from './lib.mjs';
import { cronBenchmarks } from './cron.mjs';

const PUBLIC_CHECK = fileURLToPath(new URL('./public-check.mjs', import.meta.url));

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TASKS = Number(process.env.BENCH_TASKS ?? 20_000);
const SCALE = (process.env.BENCH_SCALE ?? '0,100000,1000000').split(',').map(Number);
const PG_TASKS = Number(process.env.BENCH_PG_TASKS ?? 10_000);
// BENCH_ONLY=sqlite, BENCH_ONLY=postgres, BENCH_ONLY=cron, BENCH_ONLY=conditions or BENCH_ONLY=groups runs one part.
const ONLY = process.env.BENCH_ONLY;
// Idle is measured in the steady state: past the moment, 10 s after the start's burst,
// when both sides' pg pools close the connections they no longer use (a one-off ~40 ms).
const IDLE_WARMUP_MS = 12_000;
const started = performance.now();
const dir = tempDir();
let files = 0;
const file = () => join(dir, `run-${files++}.db`);
const out = (line = '') => console.log(line);

out(`# background-tasks benchmarks`);
out();
out(`${machine()}; ${ROUNDS} rounds per figure, alternating; ${new Date().toISOString().slice(0, 10)}`);

try {
  if (ONLY === undefined || ONLY === 'sqlite') await sqliteBenchmarks();
  if (ONLY === undefined || ONLY === 'postgres') await postgresBenchmarks();
  if (ONLY === undefined || ONLY === 'cron') cronBenchmarks(out);
  if (ONLY === undefined || ONLY === 'sqlite' || ONLY === 'conditions') await conditionBenchmarks();
  if (ONLY === undefined || ONLY === 'groups') await groupBenchmarks();
} finally {
  removeDir(dir);
}
out();
out(`Command: \`npm run bench\`; took ${((performance.now() - started) / 60_000).toFixed(1)} min.`);

/**
 * Throughput with one concurrency group of limit 8 over every task, beside the same
 * without groups at 64 and at 8 running: what the group's bookkeeping costs, and what
 * the limit itself does. SQLite, and PostgreSQL when a server can be started.
 */
async function groupBenchmarks() {
  const cases = {
    plain64: { label: '64 running, no groups', params: { concurrency: 64 } },
    group8: {
      label: '64 running, one group of maxRunning 8 over every task',
      params: { concurrency: 64, group: { maxRunning: 8 } },
    },
    plain8: { label: '8 running, no groups', params: { concurrency: 8 } },
  };
  const stores = [['SQLite', async () => file()]];
  const pg = startPostgres();
  if (pg) stores.push(['PostgreSQL', () => freshPgDatabase(pg.url)]);
  try {
    for (const [store, database] of stores) {
      const tasks = store === 'SQLite' ? TASKS : PG_TASKS;
      out();
      out(`## Concurrency groups, ${store}: ${tasks.toLocaleString('en')} no-op runs, durability 'full' (runs/s)`);
      out();
      out('| case | runs/s | / 64 without groups |');
      out('|---|---|---|');
      const rates = await alternate(ROUNDS, Object.keys(cases), async (kind) =>
        measure('ours', { file: await database(), durability: 'full', tasks, ...cases[kind].params }),
      );
      const base = median(rates.get('plain64').map((r) => r.perSecond));
      for (const [kind, { label }] of Object.entries(cases)) {
        const perSecond = rates.get(kind).map((r) => r.perSecond);
        out(`| ${label} | ${summary(perSecond)} | ${(median(perSecond) / base).toFixed(2)}× |`);
      }
    }
  } finally {
    pg?.stop();
  }
}

/** Idle cost of device conditions: the same 10,000 tasks without, with (holding), and held by one. */
async function conditionBenchmarks() {
  const kinds = {
    plain: { label: '10,000 tasks due in an hour, no conditions', params: {} },
    conditions: { label: 'the same, each with conditions (that hold)', params: { conditions: true } },
    held: { label: '10,000 runs due now, each held by a condition that is false', params: { held: true } },
  };
  const prepared = {};
  for (const [kind, { params }] of Object.entries(kinds)) {
    prepared[kind] = join(dir, `conditions-${kind}.db`);
    await measure('prepare', { file: prepared[kind], futureTasks: 10_000, ...params });
  }
  out();
  out('## Idle with device conditions: 10 s, SQLite (CPU seconds of the Node process)');
  out();
  out('| file | CPU seconds | RSS (MB) |');
  out('|---|---|---|');
  const idle = await alternate(ROUNDS, Object.keys(kinds), (kind) => {
    const path = file();
    copyFileSync(prepared[kind], path);
    return measure('idle', { file: path, system: 'ours', seconds: 10, warmupMs: IDLE_WARMUP_MS });
  });
  for (const [kind, { label }] of Object.entries(kinds)) {
    out(
      `| ${label} | ${summary(
        idle.get(kind).map((r) => r.cpuSeconds),
        3,
      )} | ${summary(idle.get(kind).map((r) => r.rssMb))} |`,
    );
  }
  const cpu = (kind) => median(idle.get(kind).map((r) => r.cpuSeconds));
  out();
  out(
    `with conditions / without: ${(cpu('conditions') / cpu('plain')).toFixed(2)}×; held / without: ${(cpu('held') / cpu('plain')).toFixed(2)}×`,
  );
}

async function sqliteBenchmarks() {
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
}

async function postgresBenchmarks() {
  out();
  out(`# PostgreSQL: background-tasks beside pg-boss ${pgBossVersion()} on the same server`);
  out();
  const server = startPostgres();
  if (server === null) {
    out('Skipped: no PostgreSQL server binaries and no BENCH_PG_URL.');
    return;
  }
  try {
    out(
      `${process.env.BENCH_PG_URL ? 'BENCH_PG_URL' : 'A throw-away PostgreSQL cluster on 127.0.0.1, fsync on'}; ` +
        'a fresh database for every measurement.',
    );
    const db = () => freshPgDatabase(server.url);

    out();
    out(`## Throughput: ${PG_TASKS.toLocaleString('en-US')} no-op tasks due at once, 64 running at once (runs/s)`);
    out();
    const systems = {
      'ours-full': () =>
        db().then((file) => measure('ours', { file, durability: 'full', concurrency: 64, tasks: PG_TASKS })),
      'ours-normal': () =>
        db().then((file) => measure('ours', { file, durability: 'normal', concurrency: 64, tasks: PG_TASKS })),
      'boss-work': () =>
        db().then((url) => measure('pgBossWork', { url, workers: 1, batchSize: 64, tasks: Math.min(PG_TASKS, 2_000) })),
      'boss-work-64': () =>
        db().then((url) => measure('pgBossWork', { url, workers: 64, batchSize: 1, tasks: Math.min(PG_TASKS, 2_000) })),
      'boss-fetch': () => db().then((url) => measure('pgBossFetch', { url, loops: 1, batchSize: 64, tasks: PG_TASKS })),
    };
    const labels = {
      'ours-full': 'background-tasks, durability full',
      'ours-normal': 'background-tasks, durability normal (synchronous_commit off)',
      'boss-work': 'pg-boss `work()`: 1 worker, batchSize 64, polling 0.5 s (its minimum)',
      'boss-work-64': 'pg-boss `work()`: 64 workers, batchSize 1, polling 0.5 s',
      'boss-fetch': 'pg-boss `fetch()` + `complete()` back to back, 64 at a time (no polling)',
    };
    const results = await alternate(ROUNDS, Object.keys(systems), (system) => systems[system]());
    const rate = (system) => median(results.get(system).map((r) => r.perSecond));
    out('| system | runs/s | ours (full) / this |');
    out('|---|---|---|');
    for (const system of Object.keys(systems)) {
      out(
        `| ${labels[system]} | ${summary(results.get(system).map((r) => r.perSecond))} | ` +
          `${(rate('ours-full') / rate(system)).toFixed(2)}× |`,
      );
    }
    out();
    out('pg-boss `work()` runs at most one batch per polling interval per worker; the `fetch()` loop is pg-boss');
    out('driven by hand, without its worker, as fast as its SQL goes.');

    out();
    out('## Start lag: 1,000 one-time tasks due at spread times over 5 s (ms late)');
    out();
    out('| | p50 | p95 | p99 | max |');
    out('|---|---|---|---|---|');
    const lags = await alternate(ROUNDS, ['ours', 'boss'], async (system) =>
      // A second's lead: adding 1,000 tasks over the network takes longer than to a file.
      system === 'ours'
        ? measure('lag', { file: await db(), system, tasks: 1_000, spreadMs: 5_000, leadMs: 1_000 })
        : measure('pgBossLag', { url: await db(), tasks: 1_000, spreadMs: 5_000, leadMs: 1_000 }),
    );
    for (const system of ['ours', 'boss']) {
      const cell = (p) =>
        summary(
          lags.get(system).map((r) => (p === 100 ? Math.max(...r.lags) : percentile(r.lags, p))),
          2,
        );
      const label =
        system === 'ours' ? 'background-tasks (durability full)' : 'pg-boss (`startAfter`, 8 workers, polling 0.5 s)';
      out(`| ${label} | ${cell(50)} | ${cell(95)} | ${cell(99)} | ${cell(100)} |`);
    }

    out();
    out('## Idle: 10 s with 10,000 tasks due in an hour (CPU seconds of the Node process)');
    out();
    out('| | CPU seconds |');
    out('|---|---|');
    const idle = await alternate(ROUNDS, ['ours', 'boss'], async (system) => {
      const url = await db();
      if (system === 'boss')
        return measure('pgBossIdle', { url, seconds: 10, futureTasks: 10_000, warmupMs: IDLE_WARMUP_MS });
      await measure('prepare', { file: url, futureTasks: 10_000 });
      return measure('idle', { file: url, system, seconds: 10, warmupMs: IDLE_WARMUP_MS });
    });
    for (const system of ['ours', 'boss']) {
      const label = system === 'ours' ? 'background-tasks' : 'pg-boss (one worker, default 2 s polling)';
      out(
        `| ${label} | ${summary(
          idle.get(system).map((r) => r.cpuSeconds),
          3,
        )} |`,
      );
    }
    const cpu = (system) => median(idle.get(system).map((r) => r.cpuSeconds));
    out();
    out(`ours / pg-boss CPU: ${(cpu('ours') / cpu('boss')).toFixed(2)}×`);
  } finally {
    server.stop();
  }
}

function pgBossVersion() {
  return JSON.parse(readFileSync(new URL('../node_modules/pg-boss/package.json', import.meta.url), 'utf8')).version;
}
