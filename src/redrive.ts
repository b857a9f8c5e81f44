import { ExecutionNotFoundError, TaskNotFoundError, ValidationError } from './errors.js';
import type { Store } from './store/store.js';

// Redrive (SPEC rule 19), as both the scheduler and the CLI ask it of the store.

/** How many failures one transaction redrives: a long history does not hold the write lock for long. */
const REDRIVE_BATCH = 500;

/** Gives a failed attempt's task a new run and returns its id; a typed error says why it cannot. */
export async function redriveExecution(store: Store, executionId: number, now: number): Promise<number> {
  const result = await store.redrive({ executionId, now });
  if (!('refused' in result)) return result.runId;
  if (result.refused === 'not-found') throw new ExecutionNotFoundError(executionId);
  if (result.refused === 'task-gone') throw new TaskNotFoundError(result.taskId);
  throw new ValidationError(
    'executionId',
    `execution ${executionId} is ${result.status}: only a failed attempt can be retried`,
  );
}

/** Redrives every run that failed for good and was not redriven (of one task, since a time), in batches; returns how many. */
export async function redriveAllFailed(
  store: Store,
  params: { taskId: number | null; since: number; now: number },
): Promise<number> {
  let total = 0;
  for (;;) {
    const made = await store.redriveFailed({ ...params, limit: REDRIVE_BATCH });
    total += made;
    if (made < REDRIVE_BATCH) return total;
  }
}
