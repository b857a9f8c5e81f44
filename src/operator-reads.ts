import { explain, limitedRunOf, type Explanation } from './explain.js';
import { readLimitState } from './runtime/limit-state.js';
import { liveDevices, liveHandlers } from './runtime/registration.js';
import type { Store } from './store/store.js';
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
