import { toSchedulerInfo } from '../rows.js';
import type { SaveSchedulerParams } from '../params.js';
import type { RunInfo, SchedulerInfo } from '../store.js';
import { query, type Queryable } from './connection.js';

// The schedulers' rows, and operators' questions (explain, the CLI, doctor, the
// unserved report), on PostgreSQL.

export async function latestRecordedTime(client: Queryable): Promise<number | null> {
  const [row] = await query<{ latest: number | null }>(
    client,
    `SELECT greatest(
       (SELECT started_at FROM background_tasks.executions ORDER BY id DESC LIMIT 1),
       (SELECT created_at FROM background_tasks.runs ORDER BY id DESC LIMIT 1),
       (SELECT greatest(created_at, updated_at) FROM background_tasks.tasks ORDER BY id DESC LIMIT 1)) AS latest`,
  );
  return row?.latest ?? null;
}

export function readyByConditions(client: Queryable, now: number): Promise<{ conditionsJson: string; runs: number }[]> {
  return query<{ conditionsJson: string; runs: number }>(
    client,
    `SELECT t.conditions AS "conditionsJson", count(*)::int AS runs
     FROM background_tasks.runs r JOIN background_tasks.tasks t ON t.id = r.task_id
     WHERE r.state = 'waiting' AND r.due_at <= $1 AND t.conditions IS NOT NULL AND NOT t.paused
     GROUP BY t.conditions`,
    [now],
  );
}

export async function unservedHandlers(client: Queryable, now: number, handlers: string[]): Promise<string[]> {
  const rows = await query<{ handler: string }>(
    client,
    `SELECT DISTINCT t.handler FROM background_tasks.runs r JOIN background_tasks.tasks t ON t.id = r.task_id
     WHERE r.state = 'waiting' AND r.due_at <= $1 AND t.module IS NULL AND t.handler <> ALL($2::text[])
     LIMIT 20`,
    [now, handlers],
  );
  return rows.map((row) => row.handler);
}

export async function saveScheduler(
  client: Queryable,
  { owner, handlers, device, now }: SaveSchedulerParams,
): Promise<void> {
  await query(
    client,
    `INSERT INTO background_tasks.schedulers (id, host, pid, handlers, device, started_at, last_seen_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6)
     ON CONFLICT (id) DO UPDATE SET handlers = excluded.handlers, device = excluded.device,
       last_seen_at = excluded.last_seen_at`,
    [owner.id, owner.host, owner.pid, JSON.stringify(handlers), JSON.stringify(device), now],
  );
}

export async function removeScheduler(client: Queryable, ownerId: string, staleBefore: number): Promise<void> {
  await query(client, 'DELETE FROM background_tasks.schedulers WHERE id = $1 OR last_seen_at < $2', [
    ownerId,
    staleBefore,
  ]);
}

export async function schedulersOf(client: Queryable): Promise<SchedulerInfo[]> {
  const rows = await query<Omit<SchedulerInfo, 'handlers' | 'device'> & { handlers: string; device: string | null }>(
    client,
    `SELECT id, host, pid, handlers, device, started_at AS "startedAt", last_seen_at AS "lastSeenAt"
     FROM background_tasks.schedulers ORDER BY last_seen_at DESC`,
  );
  return rows.map(toSchedulerInfo);
}

export function runsOf(
  client: Queryable,
  { taskId, readyAt, limit }: { taskId?: number; readyAt?: number; limit: number },
): Promise<RunInfo[]> {
  return query<RunInfo>(
    client,
    `SELECT id, task_id AS "taskId", reason, state, due_at AS "dueAt", attempt, interruptions, owner
       FROM background_tasks.runs
       WHERE ($1::bigint IS NULL OR task_id = $1) AND ($2::bigint IS NULL OR (state = 'waiting' AND due_at <= $2))
       ORDER BY due_at, id LIMIT $3`,
    [taskId ?? null, readyAt ?? null, limit],
  );
}

export async function countReady(client: Queryable, now: number, limit: number): Promise<number> {
  const [row] = await query<{ count: number }>(
    client,
    `SELECT count(*)::int AS count FROM (SELECT 1 FROM background_tasks.runs
                                         WHERE state = 'waiting' AND due_at <= $1 LIMIT $2) ready`,
    [now, limit],
  );
  return row?.count ?? 0;
}

export async function taskIdByKey(client: Queryable, key: string): Promise<number | undefined> {
  const [row] = await query<{ id: number }>(client, 'SELECT id FROM background_tasks.tasks WHERE key = $1', [key]);
  return row?.id;
}
