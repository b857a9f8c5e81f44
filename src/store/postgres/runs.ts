import type { TriggerState } from '../../triggers/schedule.js';
import { RETRY_COLUMNS, TRIGGER_COLUMNS } from '../columns.js';
import { toRunningRun, triggerState, type RunningRow, type TriggerRow } from '../rows.js';
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

export async function fireEvent(
  client: Queryable,
  name: string,
  payloadJson: string | null,
  now: number,
): Promise<number[]> {
  // One run per listening task, even if it listens to the event twice. Each task
  // is held KEY SHARE, so that a removal at the same moment waits, or is seen.
  const inserted = await query<{ id: string | number }>(
    client,
    `WITH listeners AS (
       SELECT g.task_id, g.id AS trigger_id, t.priority
       FROM background_tasks.triggers g JOIN background_tasks.tasks t ON t.id = g.task_id
       WHERE g.kind = 'event' AND g.event_name = $1
       FOR KEY SHARE OF t
     )
     INSERT INTO background_tasks.runs (task_id, trigger_id, reason, event_name, event_payload, state, priority,
                                        due_at, created_at)
     SELECT task_id, min(trigger_id), 'event', $1, $2, 'waiting', priority, $3, $3
     FROM listeners GROUP BY task_id, priority ORDER BY task_id RETURNING id`,
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
