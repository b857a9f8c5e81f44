import { toJson } from './json.js';
import type { Store } from './store/store.js';
import { MAX_EVENT_KEY_LENGTH, MAX_EVENT_NAME_LENGTH } from './triggers/event.js';
import { nonEmptyString } from './validate.js';

// What an operator changes from outside a scheduler (the CLI, the dashboard): stored
// for the running scheduler to act on at its next wake, through the same store
// calls the scheduler's API makes.

export const TASK_ACTIONS = ['run-now', 'pause', 'resume', 'remove'] as const;
export type TaskAction = (typeof TASK_ACTIONS)[number];

/** One action on one task; `run-now` gives the run it queued (null if the task is gone). */
export async function steerTask(
  store: Store,
  action: TaskAction,
  taskId: number,
  now: number,
): Promise<{ runId: number | null } | undefined> {
  switch (action) {
    case 'run-now':
      return { runId: await store.enqueueRun({ taskId, now }) };
    case 'pause':
    case 'resume':
      await store.setPaused({ taskId, paused: action === 'pause', now });
      return undefined;
    case 'remove':
      await store.removeTask({ taskId, now });
      return undefined;
  }
}

/** Fires an event with the API's rules (a name, JSON, a key); the ids of the runs it made or joined. */
export function fireEventFromOutside(
  store: Store,
  params: { name: string; payload: unknown; key: string | null; keyWindowMs: number; now: number },
): Promise<number[]> {
  return store.fireEvent({
    name: nonEmptyString(params.name, 'event', MAX_EVENT_NAME_LENGTH),
    payloadJson: params.payload === undefined ? null : toJson(params.payload, 'payload'),
    key: params.key === null ? null : nonEmptyString(params.key, 'key', MAX_EVENT_KEY_LENGTH),
    keyWindowMs: params.keyWindowMs,
    now: params.now,
  });
}
