// Kills a scheduler process with SIGKILL at seeded random moments, many times over,
// restarting it each time, then checks from the database that nothing was lost,
// nothing ran twice that should not have, and the file is intact.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { EventTrigger, OneTimeTrigger, PeriodicTrigger, Scheduler } from '../src/index.js';
import { expectAttemptChains, type AttemptRow } from './helpers/invariants.js';
import { silentLogger, tempDir } from './helpers/setup.js';

const child = fileURLToPath(new URL('./fixtures/crash-child.mjs', import.meta.url));
const SECONDS = Number(process.env.BT_CRASH_SECONDS ?? 20);
const SEED = Number(process.env.BT_CRASH_SEED ?? 20261128);
const ONE_TIME_TASKS = 150;

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function startChild(
  database: string,
  eventsLog: string,
  mode: 'run' | 'drain',
): { proc: ChildProcess; ready: Promise<void> } {
  const proc = spawn(process.execPath, [child, database, eventsLog, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    proc.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before ready: ${stderr}`)));
  });
  ready.catch(() => {});
  return { proc, ready };
}

interface Row extends AttemptRow {
  id: number;
  task_id: number;
  started_at: number;
  ended_at: number | null;
  event_payload: string | null;
}

test(
  `crash harness: SIGKILL at random moments for ${SECONDS} s loses nothing`,
  { timeout: (SECONDS + 60) * 1000 },
  async () => {
    const random = mulberry32(SEED);
    const dir = tempDir();
    const database = join(dir, 'crash.db');
    const eventsLog = join(dir, 'events.log');
    writeFileSync(eventsLog, '');

    const setup = new Scheduler({ database, logger: silentLogger });
    const oneTimeIds = new Set<number>();
    const t0 = Date.now();
    for (let i = 0; i < ONE_TIME_TASKS; i++) {
      const at = new Date(t0 + Math.floor(random() * SECONDS * 700));
      const task = await setup.addTask({
        name: 'flaky',
        args: { fail: i % 5 === 0 },
        triggers: [new OneTimeTrigger({ at })],
        retryPolicy: { maxRetries: 2, delay: 30 },
      });
      oneTimeIds.add(task.id);
    }
    for (const interval of [50, 120, 300]) {
      await setup.addTask({ name: 'short', triggers: [new PeriodicTrigger({ interval })] });
    }
    await setup.addTask({ name: 'short', triggers: [new PeriodicTrigger({ cron: '* * * * * *' })] });
    const listeners = [
      (await setup.addTask({ name: 'short', triggers: [new EventTrigger({ event: 'ping' })] })).id,
      (
        await setup.addTask({
          name: 'flaky',
          args: { fail: true },
          triggers: [new EventTrigger({ event: 'ping' })],
          retryPolicy: { maxRetries: 1, delay: 10 },
        })
      ).id,
    ];
    await setup.close();

    let kills = 0;
    const deadline = t0 + SECONDS * 1000;
    while (Date.now() < deadline) {
      const { proc, ready } = startChild(database, eventsLog, 'run');
      await ready;
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 400)));
      proc.kill('SIGKILL');
      await once(proc, 'exit');
      kills++;
    }
    const { proc: drain, ready } = startChild(database, eventsLog, 'drain');
    try {
      await ready;
      const [code] = await once(drain, 'exit');
      expect(code, 'the drain child finished the remaining work').toBe(0);
    } finally {
      if (drain.exitCode === null) drain.kill('SIGKILL');
    }

    const db = new Database(database, { readonly: true });
    const rows = db.prepare('SELECT * FROM executions ORDER BY id').all() as Row[];
    const integrity = db.pragma('integrity_check', { simple: true });
    const oneTimeLeft = db.prepare("SELECT count(*) FROM triggers WHERE kind = 'once'").pluck().get();
    db.close();

    // Every one-time task succeeded exactly once and was then removed.
    for (const id of oneTimeIds) {
      expect(
        rows.filter((r) => r.task_id === id && r.status === 'succeeded'),
        `task ${id}`,
      ).toHaveLength(1);
    }
    expect(oneTimeLeft).toBe(0);
    // Nothing is left running.
    expect(rows.filter((r) => r.status === 'running')).toEqual([]);
    // Each attempt beyond the first follows a failed attempt (next number) or an interrupted one (same number).
    expectAttemptChains(rows);
    // No two executions of one task overlap in time, unless one of them was interrupted.
    const byTask = new Map<number, Row[]>();
    for (const row of rows) byTask.set(row.task_id, [...(byTask.get(row.task_id) ?? []), row]);
    for (const executions of byTask.values()) {
      for (let i = 1; i < executions.length; i++) {
        const [prev, cur] = [executions[i - 1]!, executions[i]!];
        if (prev.status === 'interrupted' || cur.status === 'interrupted') continue;
        expect(cur.started_at, `task ${cur.task_id}`).toBeGreaterThanOrEqual(prev.ended_at!);
      }
    }
    // Every event firing that resolved was delivered to every listener.
    const fired = readFileSync(eventsLog, 'utf8').split('\n').filter(Boolean);
    for (const listener of listeners) {
      const delivered = new Set(
        rows
          .filter((r) => r.task_id === listener && r.status === 'succeeded')
          .map((r) => (JSON.parse(r.event_payload!) as { id: string }).id),
      );
      const missing = fired.filter((id) => !delivered.has(id));
      expect(missing, `listener ${listener}`).toEqual([]);
    }
    expect(integrity).toBe('ok');

    const interrupted = rows.filter((r) => r.status === 'interrupted').length;
    console.log(
      `crash harness: ${kills} kills, ${rows.length} executions checked (${interrupted} interrupted), ` +
        `${fired.length} event firings, ${ONE_TIME_TASKS} one-time tasks, nothing lost`,
    );
    expect(kills).toBeGreaterThan(10);
  },
);
