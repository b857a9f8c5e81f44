import { taskLimiter } from '../../flow.js';
import type { TriggerState } from '../../triggers/schedule.js';
import { RETRY_COLUMNS, TRIGGER_COLUMNS } from '../columns.js';
import { toRunningRun, triggerState, type FailedAttempt, type RunningRow, type TriggerRow } from '../rows.js';
import type { FireEventParams, RedriveFailedParams, RedriveParams, RedriveResult } from '../params.js';
import type { RunningRun } from '../store.js';
import { query, type Queryable } from './connection.js';

// Runs made outside the wake (a manual run, an event's runs), holding a task, and the
// rebase after the wall clock went back. Each runs in the transaction PgStore opened.

export async function removeTask(client: Queryable, id: number, now: number): Promise<boolean> {
  // Locked first: a claim of this task committing meanwhile is then seen, and its
  // execution recorded cancelled rather than left running.
  await query(client, 'SELECT id FROM background_tasks.tasks WHERE id = $1 FOR UPDATE', [id]);
  await query(
    client,
    `UPDATE background_tasks.executions SET status = 'cancelled', ended_at = $2, duration_ms = $2 - started_at,
       error = 'task removed', final = true
     WHERE status = 'running'
       AND id IN (SELECT execution_id FROM background_tasks.runs WHERE task_id = $1 AND state = 'running')`,
    [id, now],
  );
  await query(client, 'DELETE FROM background_tasks.rate_starts WHERE limiter = $1', [taskLimiter(id)]);
  const removed = await query(client, 'DELETE FROM background_tasks.tasks WHERE id = $1 RETURNING id', [id]);
  return removed.length > 0;
}

export async function setPaused(client: Queryable, id: number, paused: boolean, now: number): Promise<boolean> {
  const rows = await query(
    client,
    'UPDATE background_tasks.tasks SET paused = $2, updated_at = $3 WHERE id = $1 RETURNING id',
    [id, paused, now],
  );
  return rows.length > 0;
}

export async function enqueueRun(client: Queryable, taskId: number, now: number): Promise<number | null> {
  const rows = await query<{ id: number }>(
    client,
    `WITH task AS (SELECT id, priority FROM background_tasks.tasks WHERE id = $1 FOR KEY SHARE)
     INSERT INTO background_tasks.runs (task_id, reason, state, priority, due_at, created_at)
     SELECT id, 'manual', 'waiting', priority, $2, $2 FROM task RETURNING id`,
    [taskId, now],
  );
  return rows.length > 0 ? Number(rows[0]!.id) : null;
}

async function redriveOne(client: Queryable, attempt: FailedAttempt, now: number): Promise<number> {
  const [run] = await query<{ id: number }>(
    client,
    `INSERT INTO background_tasks.runs (task_id, trigger_id, reason, event_name, event_payload, state, priority,
                                        due_at, created_at)
     VALUES ($1, NULL, $2, $3, $4, 'waiting', $5, $6, $6) RETURNING id`,
    [attempt.taskId, attempt.reason, attempt.eventName, attempt.eventPayload, attempt.priority, now],
  );
  await query(client, 'UPDATE background_tasks.executions SET redriven_run_id = $1 WHERE id = $2', [
    run!.id,
    attempt.id,
  ]);
  return Number(run!.id);
}

// The execution is locked (retryFailed on another node skips it meanwhile, and waits
// for no one); its task KEY SHARE, so that a removal at the same moment waits, or is seen.
const FAILED_ATTEMPT = `
  SELECT e.id, e.task_id AS "taskId", e.reason, e.event_name AS "eventName", e.event_payload AS "eventPayload",
         t.priority
  FROM background_tasks.executions e JOIN background_tasks.tasks t ON t.id = e.task_id`;

export async function redrive(client: Queryable, { executionId, now }: RedriveParams): Promise<RedriveResult> {
  const [execution] = await query<{ status: string; taskId: number }>(
    client,
    'SELECT status, task_id AS "taskId" FROM background_tasks.executions WHERE id = $1',
    [executionId],
  );
  if (execution === undefined) return { refused: 'not-found' };
  if (execution.status !== 'failed') return { refused: 'not-failed', status: execution.status };
  const [attempt] = await query<FailedAttempt>(
    client,
    `${FAILED_ATTEMPT} WHERE e.id = $1 FOR NO KEY UPDATE OF e FOR KEY SHARE OF t`,
    [executionId],
  );
  if (attempt === undefined) return { refused: 'task-gone', taskId: Number(execution.taskId) };
  return { runId: await redriveOne(client, attempt, now) };
}

export async function redriveFailed(
  client: Queryable,
  { taskId, since, limit, now }: RedriveFailedParams,
): Promise<number> {
  // SKIP LOCKED: another node redriving the same failures at once takes the others.
  const attempts = await query<FailedAttempt>(
    client,
    `${FAILED_ATTEMPT}
     WHERE e.status = 'failed' AND e.final AND e.redriven_run_id IS NULL AND e.started_at >= $1
       AND ($2::bigint IS NULL OR e.task_id = $2)
     ORDER BY e.id LIMIT $3 FOR NO KEY UPDATE OF e SKIP LOCKED`,
    [since, taskId, limit],
  );
  for (const attempt of attempts) await redriveOne(client, attempt, now);
  return attempts.length;
}

/** How many expired event keys a keyed firing deletes: the table stays as small as the window's traffic. */
const EXPIRED_KEYS_PER_FIRE = 100;

export async function fireEvent(
  client: Queryable,
  { name, payloadJson, key, keyWindowMs, now }: FireEventParams,
): Promise<number[]> {
  if (key !== null) {
    await query(
      client,
      `DELETE FROM background_tasks.event_keys WHERE ctid = ANY(ARRAY(
         SELECT ctid FROM background_tasks.event_keys WHERE fired_at <= $1 LIMIT ${EXPIRED_KEYS_PER_FIRE}))`,
      [now - keyWindowMs],
    );
    // The first firing of a key wins its window; a repeat neither fires nor extends it.
    // Two nodes firing one key at once: the second waits on the first's row, then finds it.
    const fresh = await query(
      client,
      `INSERT INTO background_tasks.event_keys (event_name, key, fired_at) VALUES ($1, $2, $3)
       ON CONFLICT (event_name, key) DO UPDATE SET fired_at = excluded.fired_at
         WHERE background_tasks.event_keys.fired_at <= $4
       RETURNING 1`,
      [name, key, now, now - keyWindowMs],
    );
    if (fresh.length === 0) return [];
  }
  // Each listening trigger is locked in a statement of its own, first: two firings
  // of a debounced event at once then see each other's run (the next statement's
  // snapshot is taken after the wait), and a removal of the task waits, or is seen.
  await query(
    client,
    `SELECT 1 FROM background_tasks.triggers g JOIN background_tasks.tasks t ON t.id = g.task_id
     WHERE g.kind = 'event' AND g.event_name = $1 ORDER BY g.id FOR NO KEY UPDATE OF g FOR KEY SHARE OF t`,
    [name],
  );
  // One run per listening task, even if it listens to the event twice: its first
  // trigger on the event decides. A debounced one (delay_ms) joins the run it has
  // waiting (due anew, with this payload), or makes one due after the debounce.
  const inserted = await query<{ id: string | number }>(
    client,
    `WITH first AS (
       SELECT DISTINCT ON (g.task_id) g.task_id, g.id AS trigger_id, g.delay_ms AS debounce, t.priority
       FROM background_tasks.triggers g JOIN background_tasks.tasks t ON t.id = g.task_id
       WHERE g.kind = 'event' AND g.event_name = $1
       ORDER BY g.task_id, g.id
     ), joined AS (
       UPDATE background_tasks.runs r SET due_at = $3 + f.debounce, event_payload = $2
       FROM first f WHERE f.debounce IS NOT NULL AND r.trigger_id = f.trigger_id AND r.state = 'waiting'
       RETURNING r.id, r.trigger_id
     ), made AS (
       INSERT INTO background_tasks.runs (task_id, trigger_id, reason, event_name, event_payload, state, priority,
                                          due_at, created_at)
       SELECT task_id, trigger_id, 'event', $1, $2, 'waiting', priority, $3 + coalesce(debounce, 0), $3
       FROM first f WHERE NOT EXISTS (SELECT 1 FROM joined j WHERE j.trigger_id = f.trigger_id)
       ORDER BY task_id RETURNING id
     )
     SELECT id FROM joined UNION ALL SELECT id FROM made`,
    [name, payloadJson, now],
  );
  await query(
    client,
    `UPDATE background_tasks.triggers SET fire_count = fire_count + 1, last_fired_at = $2
     WHERE kind = 'event' AND event_name = $1`,
    [name, now],
  );
  return inserted.map((row) => Number(row.id)).sort((a, b) => a - b);
}

export async function rebaseAfterClockJump(
  client: Queryable,
  now: number,
  jumpMs: number,
  replan: (state: TriggerState) => TriggerState | null,
): Promise<number> {
  let changed = 0;
  const future = await query<TriggerRow>(
    client,
    `SELECT ${TRIGGER_COLUMNS} FROM background_tasks.triggers g
     WHERE g.next_fire_at > $1 AND g.kind IN ('interval', 'cron') FOR UPDATE`,
    [now],
  );
  for (const row of future) {
    const next = replan(triggerState(row));
    if (next === null) continue;
    await query(
      client,
      'UPDATE background_tasks.triggers SET anchor_at = $2, next_slot_at = $3, next_fire_at = $4 WHERE id = $1',
      [row.id, next.anchorAt, next.nextSlotAt, next.nextFireAt],
    );
    changed++;
  }
  changed += (
    await query(
      client,
      `UPDATE background_tasks.triggers SET next_slot_at = greatest($1, next_fire_at - $2),
         next_fire_at = greatest($1, next_fire_at - $2)
       WHERE kind = 'once' AND delay_ms IS NOT NULL AND next_fire_at > $1 RETURNING id`,
      [now, jumpMs],
    )
  ).length;
  changed += (
    await query(
      client,
      `UPDATE background_tasks.runs SET due_at = greatest($1, due_at - $2)
       WHERE state = 'waiting' AND due_at > $1 RETURNING id`,
      [now, jumpMs],
    )
  ).length;
  return changed;
}

/** Every running run, with its owner and lease. */
export async function runningRuns(client: Queryable): Promise<RunningRun[]> {
  const rows = await query<RunningRow>(
    client,
    `SELECT r.id AS "runId", r.execution_id AS "executionId", r.attempt, r.interruptions, r.owner,
            r.owner_host AS "ownerHost", r.owner_pid AS "ownerPid", r.lease_expires_at AS "leaseExpiresAt",
            ${RETRY_COLUMNS}
     FROM background_tasks.runs r JOIN background_tasks.tasks t ON t.id = r.task_id WHERE r.state = 'running'`,
    [],
    'bt_running_runs',
  );
  return rows.map(toRunningRun);
}

/** Extends the leases of the runs `ownerId` holds; returns their ids. */
export async function renewLeases(client: Queryable, ownerId: string, until: number): Promise<number[]> {
  const rows = await query<{ id: number }>(
    client,
    "UPDATE background_tasks.runs SET lease_expires_at = $2 WHERE state = 'running' AND owner = $1 RETURNING id",
    [ownerId, until],
    'bt_renew_leases',
  );
  return rows.map((row) => row.id);
}
