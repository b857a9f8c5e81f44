import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { expect, test } from 'vitest';
import { EventTrigger, OneTimeTrigger, Scheduler, type Execution } from 'background-tasks';
import { killAll, killBusiest, startNode, stopSurvivors, type FleetNode } from '../helpers/fleet.js';
import { createTestDatabase } from '../helpers/pg-database.js';

// The fleet check, written against the public API only: three nodes on one
// PostgreSQL database, one killed midway, and the outcome read back through
// `executions()` and `listTasks()` and the handlers' own reports.

const NODE = fileURLToPath(new URL('./fixtures/fleet-node.mjs', import.meta.url));
const ONE_TIME = 200;
const PERIODIC = 3;
const LISTENERS = 2;
const FIRES = 40;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function allExecutions(scheduler: Scheduler): Promise<Execution[]> {
  const all: Execution[] = [];
  for (let beforeId: number | undefined; ;) {
    const page = await scheduler.executions({ limit: 1000, ...(beforeId === undefined ? {} : { beforeId }) });
    all.push(...page);
    if (page.length < 1000) return all;
    beforeId = page.at(-1)!.id;
  }
}

test(
  'public API: a fleet of three, one killed, runs each run once and each periodic slot once',
  { timeout: 120_000 },
  async () => {
    const { url, drop } = await createTestDatabase();
    const effects: string[] = [];
    const nodes: FleetNode[] = [];
    const client = new Scheduler({ database: url, logger: pino({ level: 'silent' }) });
    try {
      nodes.push(
        ...(await Promise.all([0, 1, 2].map(() => startNode(NODE, [url, String(PERIODIC)], (id) => effects.push(id))))),
      );
      const started = Date.now();
      await client.addTasks(
        Array.from({ length: LISTENERS }, (_, i) => ({
          name: `listener-${i}`,
          handler: 'ping',
          triggers: [new EventTrigger({ event: 'ping' })],
        })),
      );
      await client.addTasks(
        Array.from({ length: ONE_TIME }, (_, i) => ({
          name: `once-${i}`,
          handler: 'once',
          triggers: [new OneTimeTrigger({ delay: Math.floor((i / ONE_TIME) * 5000) })],
        })),
      );
      // Midway, the node with handlers in flight dies: its runs must be recovered by the others.
      let victim: FleetNode | undefined;
      for (let i = 0; i < FIRES; i++) {
        await client.fireEvent('ping', { i });
        await sleep(5000 / FIRES);
        if (i >= FIRES / 2) victim ??= await killBusiest(nodes);
      }
      expect(victim).toBeDefined();
      const expected = ONE_TIME + LISTENERS * FIRES;
      let history: Execution[] = [];
      for (const deadline = Date.now() + 60_000; ; await sleep(250)) {
        history = await allExecutions(client);
        const done = history.filter((e) => e.reason !== 'interval' && e.status === 'succeeded').length;
        if (done >= expected) break;
        if (Date.now() > deadline) throw new Error(`only ${done} of ${expected} runs finished`);
      }
      const elapsedMs = Date.now() - started;
      await stopSurvivors(nodes, victim);
      history = await allExecutions(client);

      expect(history.filter((e) => e.status === 'running')).toEqual([]);
      const interrupted = history.filter((e) => e.status === 'interrupted');
      expect(interrupted.length).toBeGreaterThan(0);
      const byRun = new Map<number, Execution[]>();
      for (const e of history.toReversed()) byRun.set(e.runId, [...(byRun.get(e.runId) ?? []), e]);
      const reported = new Set(effects);
      expect(reported.size).toBe(effects.length); // no attempt reported twice
      for (const attempts of byRun.values()) {
        const succeeded = attempts.filter((e) => e.status === 'succeeded');
        expect(attempts.every((e) => e.status === 'succeeded' || e.status === 'interrupted')).toBe(true);
        if (attempts[0]!.reason !== 'interval') expect(succeeded).toHaveLength(1);
        // Only an interrupted run may have run its handler more than once.
        const ran = attempts.filter((e) => reported.has(String(e.id)));
        if (!attempts.some((e) => e.status === 'interrupted')) expect(ran).toHaveLength(succeeded.length);
      }
      const runsOf = (reason: string) => [...byRun.values()].filter((attempts) => attempts[0]!.reason === reason);
      expect(runsOf('once')).toHaveLength(ONE_TIME);
      expect(runsOf('event')).toHaveLength(LISTENERS * FIRES);

      // Each periodic slot (a run's first due time) made one run, fleet-wide.
      const tasks = await client.listTasks();
      const periodic = tasks.filter((t) => t.name.startsWith('tick-'));
      expect(periodic).toHaveLength(PERIODIC);
      for (const task of periodic) {
        const runs = runsOf('interval').filter((attempts) => attempts[0]!.taskId === task.id);
        const slots = new Set(runs.map((attempts) => Math.min(...attempts.map((e) => e.scheduledAt))));
        expect(slots.size).toBe(runs.length);
        const trigger = task.triggers[0]!;
        expect(trigger.fireCount - runs.length).toBeGreaterThanOrEqual(0);
        expect(trigger.fireCount - runs.length).toBeLessThanOrEqual(1);
        expect(trigger.fireCount + trigger.coalescedCount).toBeGreaterThanOrEqual(Math.floor(elapsedMs / 400) - 4);
      }
    } finally {
      killAll(nodes);
      await client.close();
      await drop();
    }
  },
);
