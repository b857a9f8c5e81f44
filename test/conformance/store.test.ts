import { expect, test } from 'vitest';
import { validateDefinition } from '../../src/task.js';
import { initialState, planFires } from '../../src/triggers/schedule.js';
import { EventTrigger, OneTimeTrigger, PeriodicTrigger, type TaskDefinition } from '../../src/index.js';
import { PgStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { ClaimedRun, CompleteRunParams, Owner, Store } from '../../src/store/store.js';
import { onPostgres, testDatabase } from '../helpers/setup.js';

// Store-level rules, on each store: several connections to one database (as
// several processes or nodes have) working at once.

const NOW = Date.UTC(2026, 0, 1);
const owners: Owner[] = ['a', 'b', 'c'].map((id, i) => ({ id, host: 'test-host', pid: 1_000_000 + i }));

async function openStores(count: number): Promise<Store[]> {
  const database = testDatabase();
  const stores: Store[] = [];
  for (let i = 0; i < count; i++) {
    const store = onPostgres ? new PgStore(database) : new SqliteStore(database);
    await store.opened();
    stores.push(store);
  }
  return stores;
}

async function closeAll(stores: Store[]): Promise<void> {
  await Promise.all(stores.map((store) => store.close()));
}

function newTask(definition: TaskDefinition, now = NOW) {
  const task = validateDefinition(definition);
  return { ...task, triggers: task.triggers.map((spec) => initialState(spec, now, () => 0)) };
}

function cycleOnce(store: Store, owner: Owner, now: number, limit: number) {
  return store.cycle({
    now,
    completions: [],
    plan: (state) => planFires(state, now, () => 0),
    triggerLimit: 100,
    claim: {
      limit,
      handlers: ['work'],
      owner,
      leaseUntil: now + 15_000,
      holds: () => true,
      held: () => [],
      time: () => now,
    },
  });
}

test('connections claiming at once never take the same run, nor two runs of one task', async () => {
  const stores = await openStores(3);
  try {
    const tasks = await stores[0]!.addTasks({
      tasks: Array.from({ length: 60 }, (_, i) => newTask({ name: `t${i}`, handler: 'work' })),
      now: NOW,
    });
    // Two runs of every task are ready: a task may still run only once at a time.
    for (const { task } of tasks) {
      await stores[0]!.enqueueRun({ taskId: task.id, now: NOW });
      await stores[0]!.enqueueRun({ taskId: task.id, now: NOW });
    }
    const claimed: ClaimedRun[] = [];
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all(stores.map((store, i) => cycleOnce(store, owners[i]!, NOW, 8)));
      claimed.push(...results.flatMap((result) => result.claims));
    }
    const runIds = claimed.map((c) => c.runId);
    expect(new Set(runIds).size).toBe(runIds.length);
    const taskIds = claimed.map((c) => c.task.id);
    expect(new Set(taskIds).size).toBe(taskIds.length);
    // Every task got one of its runs: nothing was skipped for good.
    expect(new Set(taskIds).size).toBe(60);
  } finally {
    await closeAll(stores);
  }
});

test('connections firing one due periodic trigger at once make one run per slot', async () => {
  const stores = await openStores(3);
  try {
    const [added] = await stores[0]!.addTasks({
      tasks: [newTask({ name: 'tick', handler: 'work', triggers: [new PeriodicTrigger({ interval: 1000 })] })],
      now: NOW,
    });
    const task = added!.task;
    for (let slot = 1; slot <= 20; slot++) {
      const now = NOW + slot * 1000;
      // Nobody claims: the run waits, and a later slot coalesces into it.
      const fired = await Promise.all(
        stores.map((store) =>
          store.cycle({
            now,
            completions: [],
            plan: (state) => planFires(state, now, () => 0),
            triggerLimit: 100,
            claim: null,
          }),
        ),
      );
      expect(fired.reduce((sum, result) => sum + result.fired.runs, 0)).toBe(slot === 1 ? 1 : 0);
    }
    const read = await stores[1]!.getTask(task.id);
    expect(read?.triggers[0]).toMatchObject({ fireCount: 1, coalescedCount: 19 });
    expect(await stores[2]!.runs({ taskId: task.id, limit: 10 })).toHaveLength(1);
  } finally {
    await closeAll(stores);
  }
});

test('a due one-time trigger fired by several connections at once runs once', async () => {
  const stores = await openStores(3);
  try {
    await stores[0]!.addTasks({
      tasks: Array.from({ length: 30 }, (_, i) =>
        newTask({ name: `once${i}`, handler: 'work', triggers: [new OneTimeTrigger({ delay: 1000 + i })] }),
      ),
      now: NOW,
    });
    const now = NOW + 5000;
    const results = await Promise.all(stores.map((store, i) => cycleOnce(store, owners[i]!, now, 64)));
    expect(results.reduce((sum, result) => sum + result.fired.runs, 0)).toBe(30);
    expect(results.flatMap((result) => result.claims)).toHaveLength(30);
  } finally {
    await closeAll(stores);
  }
});

test('after a run is recovered from an owner presumed dead, that owner cannot record it', async () => {
  const [store, other] = await openStores(2);
  try {
    const [added] = await store!.addTasks({ tasks: [newTask({ name: 'slow', handler: 'work' })], now: NOW });
    const task = added!.task;
    await store!.enqueueRun({ taskId: task.id, now: NOW });
    const [run] = (await cycleOnce(store!, owners[0]!, NOW, 1)).claims;
    const end = (owner: string, status: 'interrupted' | 'succeeded'): CompleteRunParams => ({
      runId: run!.runId,
      executionId: run!.executionId,
      owner,
      status,
      endedAt: NOW + 20_000,
      error: null,
      resultJson: null,
      usage: null,
      next:
        status === 'interrupted'
          ? { kind: 'again', dueAt: NOW + 20_000, attempt: 1, interruptions: 1 }
          : { kind: 'done' },
    });
    // The other node recovers it, twice at once (two survivors): one write wins.
    const recovered = await Promise.all([
      other!.completeRun(end(owners[0]!.id, 'interrupted')),
      store!.completeRun(end(owners[0]!.id, 'interrupted')),
    ]);
    expect(recovered.filter(Boolean)).toHaveLength(1);
    // The presumed-dead owner wakes up and reports success: refused.
    expect(await store!.completeRun(end(owners[0]!.id, 'succeeded'))).toBe(false);
    const [again] = (await cycleOnce(other!, owners[1]!, NOW + 20_000, 1)).claims;
    expect(again).toMatchObject({ runId: run!.runId, attempt: 1, interruptions: 1 });
  } finally {
    await closeAll([store!, other!]);
  }
});

test('removing a task while others fire its event, run it now and claim it: no error, and nothing left behind', async () => {
  const stores = await openStores(3);
  const [a, b, c] = stores as [Store, Store, Store];
  try {
    for (let round = 0; round < 20; round++) {
      const [added] = await a.addTasks({
        tasks: [newTask({ name: `r${round}`, handler: 'work', triggers: [new EventTrigger({ event: `e${round}` })] })],
        now: NOW,
      });
      const id = added!.task.id;
      await a.enqueueRun({ taskId: id, now: NOW });
      const [removed] = await Promise.all([
        a.removeTask({ taskId: id, now: NOW }),
        b.fireEvent({ name: `e${round}`, payloadJson: null, key: null, keyWindowMs: 1, now: NOW }),
        c.enqueueRun({ taskId: id, now: NOW }),
        cycleOnce(b, owners[1]!, NOW, 4),
      ]);
      expect(removed).toBe(true);
      expect(await c.runs({ taskId: id, limit: 10 })).toEqual([]);
      expect((await c.executions({ taskId: id, limit: 10 })).filter((e) => e.status === 'running')).toEqual([]);
    }
  } finally {
    await closeAll(stores);
  }
});

test('connections opening a new database together migrate it once, and all open', async () => {
  const database = testDatabase();
  const stores: Store[] = Array.from({ length: 4 }, () =>
    onPostgres ? new PgStore(database) : new SqliteStore(database),
  );
  try {
    await Promise.all(stores.map((store) => store.opened()));
    const infos = await Promise.all(stores.map((store) => store.inspect()));
    expect(new Set(infos.map((info) => info.schemaVersion)).size).toBe(1);
    expect(infos[0]!.schemaVersion).not.toBe('none');
    const [added] = await stores[3]!.addTasks({ tasks: [newTask({ name: 'after', handler: 'work' })], now: NOW });
    expect(await stores[0]!.getTask(added!.task.id)).toMatchObject({ name: 'after' });
  } finally {
    await closeAll(stores);
  }
});
