import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { expect } from 'vitest';
import { OneTimeTrigger, Scheduler } from '../../src/index.js';
import { killAll, startNode, stopSurvivors, type FleetNode } from './fleet.js';
import { mostAtOnce, mostInWindow } from './limits.js';
import { silentLogger } from './setup.js';

// Groups and rate limits under contention (SPEC rules 16 and 17): three scheduler
// processes on one database (a SQLite file, or PostgreSQL as three nodes), each
// with more free slots than the groups allow. Checked afterwards from the recorded
// start and end times alone: no moment with more than maxRunning of a group
// running, no window with more starts than a rate limit allows, and every run done.

const NODE = fileURLToPath(new URL('../fixtures/flow-node.mjs', import.meta.url));

const MODEM = { maxRunning: 3 };
const API = { rateLimit: { max: 10, per: 500 } };
const BEACON = { max: 2, per: 300 };
const COUNTS = { modem: 40, api: 30, both: 10, beacon: 12 };
const TOTAL = COUNTS.modem + COUNTS.api + COUNTS.both + COUNTS.beacon;

interface Row {
  name: string;
  status: string;
  startedAt: number;
  endedAt: number | null;
  owner: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function contend(database: string): Promise<void> {
  const client = new Scheduler({ database, logger: silentLogger });
  const nodes: FleetNode[] = [];
  try {
    await client.defineGroup('modem', MODEM);
    await client.defineGroup('api', API);
    nodes.push(...(await Promise.all([0, 1, 2].map(() => startNode(NODE, [database])))));
    const once = () => [new OneTimeTrigger({ delay: 0 })];
    const add = (prefix: keyof typeof COUNTS, handler: string, groups: string[]) =>
      client.addTasks(
        Array.from({ length: COUNTS[prefix] }, (_, i) => ({
          name: `${prefix}-${i}`,
          handler,
          groups,
          triggers: once(),
        })),
      );
    await add('modem', 'modem', ['modem']);
    await add('both', 'modem', ['api', 'modem']);
    await add('api', 'api', ['api']);
    const beacon = await client.addTask({ name: 'beacon', rateLimit: BEACON });
    for (let i = 0; i < COUNTS.beacon; i++) await client.runNow(beacon.id);

    const deadline = Date.now() + 60_000;
    let rows: Row[] = [];
    while (Date.now() < deadline) {
      rows = await executionsOf(database);
      if (rows.filter((r) => r.status === 'succeeded').length >= TOTAL) break;
      await sleep(100);
    }
    expect(await stopSurvivors(nodes, undefined)).toEqual([0, 0, 0]);
    rows = await executionsOf(database);

    expect(rows.filter((r) => r.status === 'succeeded')).toHaveLength(TOTAL);
    expect(rows).toHaveLength(TOTAL);
    const of = (...prefixes: string[]) => rows.filter((r) => prefixes.some((p) => r.name.startsWith(`${p}-`)));
    expect(mostAtOnce(of('modem', 'both'))).toBeLessThanOrEqual(MODEM.maxRunning);
    // Each limit was reached, or the test would not show it held.
    expect(mostAtOnce(of('modem', 'both'))).toBe(MODEM.maxRunning);
    expect(mostInWindow(of('api', 'both'), API.rateLimit.per)).toBe(API.rateLimit.max);
    expect(
      mostInWindow(
        rows.filter((r) => r.name === 'beacon'),
        BEACON.per,
      ),
    ).toBe(BEACON.max);
    // The work was shared (a group's places need not be: the process that frees one takes it in the same transaction).
    expect(new Set(rows.map((r) => r.owner)).size).toBeGreaterThanOrEqual(2);
  } finally {
    killAll(nodes);
    await client.close();
  }
}

async function executionsOf(database: string): Promise<Row[]> {
  const columns = 'task_name AS name, status, started_at AS "startedAt", ended_at AS "endedAt", owner';
  if (database.startsWith('postgres')) {
    const db = new pg.Client({ connectionString: database });
    await db.connect();
    try {
      const { rows } = await db.query<Row>(`SELECT ${columns} FROM background_tasks.executions`);
      return rows.map((r) => ({
        ...r,
        startedAt: Number(r.startedAt),
        endedAt: r.endedAt === null ? null : Number(r.endedAt),
      }));
    } finally {
      await db.end();
    }
  }
  const db = new Database(database, { readonly: true });
  try {
    return db.prepare(`SELECT ${columns} FROM executions`).all() as Row[];
  } finally {
    db.close();
  }
}
