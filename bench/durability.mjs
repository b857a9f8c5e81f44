// What `durability: 'full'` costs against `'normal'`: the same workload, alternating,
// three rounds each, on this machine's disk. Prints medians and min–max.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { OneTimeTrigger, Scheduler } from '../dist/index.js';

const TASKS = Number(process.env.BENCH_TASKS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const logger = pino({ level: 'silent' });

async function round(durability) {
  const dir = mkdtempSync(join(tmpdir(), 'bt-bench-'));
  try {
    const scheduler = new Scheduler({ database: join(dir, 'bench.db'), durability, maxRunningTasks: 8, logger });
    scheduler.register('noop', () => {});
    let t = performance.now();
    for (let i = 0; i < TASKS; i++) {
      await scheduler.addTask({ name: 'noop', triggers: [new OneTimeTrigger({ delay: 0 })] });
    }
    const enqueue = TASKS / ((performance.now() - t) / 1000);
    let done = 0;
    const finished = new Promise((resolve) => scheduler.on('execution:finished', () => ++done === TASKS && resolve()));
    t = performance.now();
    await scheduler.start();
    await finished;
    const run = TASKS / ((performance.now() - t) / 1000);
    await scheduler.close();
    return { enqueue, run };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = { full: [], normal: [] };
for (let i = 0; i < ROUNDS; i++) {
  for (const durability of ['full', 'normal']) results[durability].push(await round(durability));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => `${median(xs).toFixed(0)}/s (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
console.log(`durability: ${TASKS} one-time no-op tasks, maxRunningTasks 8, ${ROUNDS} rounds alternating`);
console.log('| durability | awaited addTask, one after another | runs completed |');
console.log('|---|---|---|');
for (const d of ['full', 'normal']) {
  console.log(`| ${d} | ${fmt(results[d].map((r) => r.enqueue))} | ${fmt(results[d].map((r) => r.run))} |`);
}
const ratio = (k) => (median(results.normal.map((r) => r[k])) / median(results.full.map((r) => r[k]))).toFixed(1);
console.log(`normal/full: enqueue ${ratio('enqueue')}×, runs ${ratio('run')}×`);
