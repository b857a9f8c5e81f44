// Shared by the benchmark scenarios: temporary files, statistics, child processes.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url));

export function tempDir() {
  return mkdtempSync(join(tmpdir(), 'bt-bench-'));
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** "median (min–max)" of a list of measurements. */
export function summary(values, digits = 0) {
  const f = (v) => v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  return `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`;
}

/** Runs one measurement of bench/worker.mjs in a fresh Node process and returns the JSON it prints last. */
export function measure(scenario, params) {
  return run([WORKER, scenario, JSON.stringify(params)], scenario);
}

/** The same for a script of its own that takes its parameters as one JSON argument. */
export function measureScript(script, params) {
  return run([script, JSON.stringify(params)], script);
}

function run(args, scenario) {
  const params = args.at(-1);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${scenario} ${params} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

/** Runs each variant `rounds` times, alternating between them, and collects the results per variant. */
export async function alternate(rounds, variants, run) {
  const results = new Map(variants.map((v) => [v, []]));
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) results.get(variant).push(await run(variant));
  }
  return results;
}

export function machine() {
  const cpu = execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).toString().trim();
  return `${cpu || 'unknown CPU'}, ${execFileSync('nproc').toString().trim()} cores, Node ${process.version}`;
}

const PG_SCRIPT = fileURLToPath(new URL('../scripts/pg-throwaway.sh', import.meta.url));

/**
 * The PostgreSQL server for the benchmarks: BENCH_PG_URL, or else a throw-away
 * cluster with fsync on (as a real server runs). Null when neither is to be had.
 */
export function startPostgres() {
  if (process.env.BENCH_PG_URL) return { url: process.env.BENCH_PG_URL, stop() {} };
  const dir = tempDir();
  const port = String(20_000 + Math.floor(Math.random() * 20_000));
  try {
    const url = execFileSync('bash', [PG_SCRIPT, 'start', dir, port, 'durable'], { encoding: 'utf8' }).trim();
    return { url, stop: () => execFileSync('bash', [PG_SCRIPT, 'stop', dir]) };
  } catch {
    removeDir(dir);
    return null;
  }
}

let databases = 0;

/** A new, empty database on `server`, for one measurement. */
export async function freshPgDatabase(server) {
  const { default: pg } = await import('pg');
  const name = `bench_${process.pid}_${databases++}`;
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}
