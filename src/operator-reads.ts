import { explain, limitedRunOf, type Explanation } from './explain.js';
import { readLimitState } from './runtime/limit-state.js';
import { liveDevices, liveHandlers } from './runtime/registration.js';
import type { Execution } from './execution.js';
import type { ExecutionsParams, Store } from './store/store.js';
import type { Task } from './task.js';

/**
 * `explain` as asked from outside every scheduler (the CLI's `show`, the dashboard):
 * from what live schedulers registered, their devices' latest readings, and the
 * task's groups and limits, with no free slots of its own to count.
 */
export async function explainFromOutside(store: Store, task: Task, now: number): Promise<Explanation> {
  const schedulers = await store.schedulers();
  return explain({
    task,
    runs: await store.runs({ taskId: task.id, limit: 1000 }),
    now,
    handlers: liveHandlers(schedulers, now),
    freeSlots: null,
    devices: liveDevices(schedulers, now, task),
    limits: await readLimitState(store, [limitedRunOf(task)], now),
  });
}

/**
 * Every execution matching `filter`, newest first, read a page of 10,000 at a time
 * until there are no more or at least `max` were read (the newest, when there are more).
 */
export async function readExecutions(
  store: Store,
  filter: Omit<ExecutionsParams, 'limit' | 'beforeId'>,
  max: number,
): Promise<Execution[]> {
  const all: Execution[] = [];
  for (let page = await store.executions({ limit: 10_000, ...filter }); page.length > 0 && all.length < max;) {
    all.push(...page);
    page = await store.executions({ limit: 10_000, ...filter, beforeId: page.at(-1)!.id });
  }
  return all;
}

/** A task as an operator names it: an id (digits, taken as it is), or a key; undefined for a key no task has. */
export async function taskIdOf(store: Store, ref: string): Promise<number | undefined> {
  return /^\d+$/.test(ref) ? Number(ref) : store.taskIdByKey(ref);
}

/** The task an operator names by id or key, if it exists. */
export async function taskOf(store: Store, ref: string): Promise<Task | undefined> {
  const id = await taskIdOf(store, ref);
  return id === undefined ? undefined : store.getTask(id);
}
