// `node bench/compare.mjs OTHER_CHECKOUT`: the main throughput of this checkout beside
// another one's (a worktree of an earlier commit, built, with node_modules), in one
// run, alternating, each figure from a fresh process. For "did this change cost
// anything": ratios from one run on a noisy machine mean more than absolute figures.
// BENCH_ROUNDS (default 5) and BENCH_TASKS (default 20,000) change the size;
// BENCH_CASES=1:normal,64:full picks the cases (default: 1 and 64 running, full and normal).
// BENCH_PG_URL=postgres://… measures on PostgreSQL instead, a fresh database per figure.
import { join, resolve } from 'node:path';
import { freshPgDatabase, median, removeDir, summary, tempDir } from './lib.mjs';

const other = process.argv[2];
if (!other) {
  console.error('usage: node bench/compare.mjs OTHER_CHECKOUT');
  process.exit(2);
}
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const tasks = Number(process.env.BENCH_TASKS ?? 20_000);
const sides = [
  ['other', await import(join(resolve(other), 'bench/lib.mjs'))],
  ['this', await import('./lib.mjs')],
];
const dir = tempDir();
let files = 0;
console.log(`| running at once | durability | ${other} (runs/s) | this checkout (runs/s) | this / other |`);
console.log('|---|---|---|---|---|');
const cases = (process.env.BENCH_CASES ?? '1:full,1:normal,64:full,64:normal').split(',').map((c) => c.split(':'));
try {
  for (const [running, durability] of cases) {
    const concurrency = Number(running);
    {
      const rates = { other: [], this: [] };
      for (let round = 0; round < rounds; round++) {
        for (const [name, lib] of round % 2 ? [...sides].reverse() : sides) {
          const database = process.env.BENCH_PG_URL
            ? await freshPgDatabase(process.env.BENCH_PG_URL)
            : join(dir, `run-${files++}.db`);
          const params = { file: database, durability, concurrency, tasks };
          rates[name].push((await lib.measure('ours', params)).perSecond);
        }
      }
      const ratio = (median(rates.this) / median(rates.other)).toFixed(2);
      console.log(`| ${concurrency} | ${durability} | ${summary(rates.other)} | ${summary(rates.this)} | ${ratio}× |`);
    }
  }
} finally {
  removeDir(dir);
}
