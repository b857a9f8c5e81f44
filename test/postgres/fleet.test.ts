import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { expect, test } from 'vitest';
import { EventTrigger, OneTimeTrigger, Scheduler } from '../../src/index.js';
import { killAll, killBusiest, startNode, stopSurvivors, type FleetNode } from '../helpers/fleet.js';
import { silentLogger, testDatabase } from '../helpers/setup.js';

// Three scheduler processes as three nodes on one PostgreSQL database; one is
// killed with SIGKILL midway. Checked from the tables afterwards: every run
// happened exactly once, except those the kill interrupted, which the survivors
// ran again; every periodic slot fired once across the fleet.

const NODE = fileURLToPath(new URL('../fixtures/fleet-node.mjs', import.meta.url));
const ONE_TIME = 300;
const PERIODIC = 5;
const EVENT_LISTENERS = 3;
const EVENT_FIRES = 60;
const SPREAD_MS = 6_000;
const KILL_AT_MS = 3_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test(
  'three nodes, one killed midway: every run once (interrupted ones retried), every periodic slot once',
  { timeout: 120_000 },
  async () => {
    const database = testDatabase();
    const db = new pg.Pool({ connectionString: database, max: 2 });
    const nodes: FleetNode[] = [];
    // A client of the fleet: it adds work and fires events, and runs nothing.
    const client = new Scheduler({ database, logger: silentLogger });
    try {
      await client.listTasks();
      await db.query(
        'CREATE TABLE fleet_effects (execution_id bigint NOT NULL, task_id bigint NOT NULL, node text NOT NULL)',
      );
      nodes.push(
        ...(await Promise.all(['a', 'b', 'c'].map((name) => startNode(NODE, [database, name, String(PERIODIC)])))),
      );
      const started = Date.now();

      await client.addTasks(
        Array.from({ length: EVENT_LISTENERS }, (_, i) => ({
          name: `listener-${i}`,
          handler: 'ping',
          triggers: [new EventTrigger({ event: 'ping' })],
        })),
      );
      await client.addTasks(
        Array.from({ length: ONE_TIME }, (_, i) => ({
          name: `once-${i}`,
          handler: 'once',
          triggers: [new OneTimeTrigger({ delay: Math.floor((i / ONE_TIME) * SPREAD_MS) })],
        })),
      );
      let victim: FleetNode | undefined;
      for (let i = 0; i < EVENT_FIRES; i++) {
        await client.fireEvent('ping', { i });
        await sleep(SPREAD_MS / EVENT_FIRES);
        // The node with the most handlers in flight dies: the survivors must recover its runs.
        if (Date.now() - started >= KILL_AT_MS) victim ??= await killBusiest(nodes);
      }
      expect(victim).toBeDefined();

      // Until every one-time and event run is done (survivors recover the dead node's
      // runs at their next heartbeat, within 5 s).
      const deadline = Date.now() + 60_000;
      for (;;) {
        const { rows } = await db.query<{ left: string }>(
          `SELECT count(*) AS left FROM background_tasks.runs WHERE reason IN ('once', 'event')`,
        );
        if (Number(rows[0]!.left) === 0) break;
        if (Date.now() > deadline) throw new Error(`${rows[0]!.left} runs never finished`);
        await sleep(200);
      }
      const elapsedMs = Date.now() - started;
      expect(await stopSurvivors(nodes, victim)).toEqual([0, 0]);

      const query = async <R extends pg.QueryResultRow>(text: string) => (await db.query<R>(text)).rows;
      const killedPid = victim!.child.pid!;
      const [totals] = await query<{ executions: number; interrupted: number; running: number; runs: number }>(`
      SELECT count(*)::int AS executions, count(*) FILTER (WHERE status = 'interrupted')::int AS interrupted,
             count(*) FILTER (WHERE status = 'running')::int AS running, count(DISTINCT run_id)::int AS runs
      FROM background_tasks.executions`);
      expect(totals!.running).toBe(0);
      // The kill caught work in flight: the recovery was exercised.
      expect(totals!.interrupted).toBeGreaterThan(0);

      // Per run: one success, and more than one attempt only after an interruption by the kill.
      const perRun = await query<{
        reason: string;
        succeeded: number;
        interrupted: number;
        other: number;
        effects: number;
      }>(`
      SELECT e.reason, count(*) FILTER (WHERE e.status = 'succeeded')::int AS succeeded,
             count(*) FILTER (WHERE e.status = 'interrupted')::int AS interrupted,
             count(*) FILTER (WHERE e.status NOT IN ('succeeded', 'interrupted'))::int AS other,
             (SELECT count(*) FROM fleet_effects f JOIN background_tasks.executions x ON x.id = f.execution_id
              WHERE x.run_id = e.run_id)::int AS effects
      FROM background_tasks.executions e GROUP BY e.run_id, e.reason`);
      const oneTime = perRun.filter((r) => r.reason === 'once');
      const events = perRun.filter((r) => r.reason === 'event');
      expect(oneTime).toHaveLength(ONE_TIME);
      expect(events).toHaveLength(EVENT_LISTENERS * EVENT_FIRES);
      for (const run of perRun) {
        expect(run.other).toBe(0);
        // A periodic run still in flight at the graceful stop is recorded interrupted, not lost.
        if (run.reason === 'interval') expect(run.succeeded + run.interrupted).toBeGreaterThanOrEqual(1);
        else expect(run.succeeded).toBe(1);
        if (run.interrupted === 0) expect(run.effects).toBe(run.reason === 'interval' ? run.succeeded : 1);
      }
      // Every interrupted attempt of a one-time or event run was the killed node's.
      const interruptedBy = await query<{ error: string }>(`
      SELECT error FROM background_tasks.executions WHERE status = 'interrupted' AND reason <> 'interval'`);
      for (const { error } of interruptedBy) expect(error).toContain(`pid ${killedPid} `);
      // No attempt's effect happened twice.
      const [doubled] = await query<{ n: number }>(`
      SELECT count(*)::int AS n FROM (SELECT execution_id FROM fleet_effects GROUP BY execution_id HAVING count(*) > 1) d`);
      expect(doubled!.n).toBe(0);

      // Periodic: one run per (task, slot), and the slots cover the whole test.
      const slots = await query<{ taskId: number; slots: number; runs: number; fires: number; coalesced: number }>(`
      WITH per_run AS (
        -- A run's slot is its first attempt's due time; a retry after the kill is due later.
        SELECT task_id, run_id, min(scheduled_at) AS slot FROM background_tasks.executions
        WHERE reason = 'interval' GROUP BY task_id, run_id)
      SELECT p.task_id AS "taskId", count(DISTINCT p.slot)::int AS slots, count(*)::int AS runs,
             max(g.fire_count)::int AS fires, max(g.coalesced_count)::int AS coalesced
      FROM per_run p JOIN background_tasks.triggers g ON g.task_id = p.task_id GROUP BY p.task_id`);
      expect(slots).toHaveLength(PERIODIC);
      for (const row of slots) {
        expect(row.runs).toBe(row.slots);
        // The last fire may still wait, unclaimed, when the nodes stop.
        expect(row.fires - row.runs).toBeGreaterThanOrEqual(0);
        expect(row.fires - row.runs).toBeLessThanOrEqual(1);
        // Slots not fired were coalesced (a run of the task still waiting or running), never lost.
        expect(row.fires + row.coalesced).toBeGreaterThanOrEqual(Math.floor(elapsedMs / 500) - 4);
      }
      const [nodesUsed] = await query<{ n: number }>(`SELECT count(DISTINCT node)::int AS n FROM fleet_effects`);
      expect(nodesUsed!.n).toBe(3);
      console.log(
        `fleet: ${totals!.runs} runs, ${totals!.executions} executions, ${totals!.interrupted} interrupted ` +
          `(kill of pid ${killedPid} at ${KILL_AT_MS} ms), ${slots.reduce((n, r) => n + r.slots, 0)} periodic slots, ` +
          `${elapsedMs} ms, duplicates: none`,
      );
    } finally {
      killAll(nodes);
      await client.close();
      await db.end();
    }
  },
);
