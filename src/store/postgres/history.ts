import type { Execution, ExecutionFilter } from '../../execution.js';
import { toExecution, type ExecutionRow } from '../rows.js';
import type { ActivityBucket, DatabaseInfo, RunOutcome, TaskCounts } from '../store.js';
import { query, schemaVersion, type Queryable } from './connection.js';

// What operators read and prune: the execution history, and the database's state.

const EXECUTION_COLUMNS = `id, task_id AS "taskId", task_name AS "taskName", task_key AS "taskKey", run_id AS "runId", attempt, status, final, reason,
  event_name AS "eventName", event_payload AS "eventPayload", scheduled_at AS "scheduledAt", started_at AS "startedAt",
  ended_at AS "endedAt", duration_ms AS "durationMs", error, result, cpu_user_us AS "cpuUserUs",
  cpu_system_us AS "cpuSystemUs", rss_bytes AS "rssBytes", owner, redriven_run_id AS "redrivenRunId"`;

export async function readExecutions(
  client: Queryable,
  filter: ExecutionFilter & { limit: number },
): Promise<Execution[]> {
  const rows = await query<ExecutionRow>(
    client,
    `SELECT ${EXECUTION_COLUMNS} FROM background_tasks.executions
     WHERE ($1::bigint IS NULL OR task_id = $1) AND ($2::text IS NULL OR status = $2)
       AND ($3::bigint IS NULL OR id < $3) AND ($4::bigint IS NULL OR started_at >= $4)
       AND ($6::bigint IS NULL OR run_id = $6)
     ORDER BY id DESC LIMIT $5`,
    [
      filter.taskId ?? null,
      filter.status ?? null,
      filter.beforeId ?? null,
      filter.since ?? null,
      filter.limit,
      filter.runId ?? null,
    ],
  );
  return rows.map(toExecution);
}

/** Whether run `runId` is pending, and its ending attempt: one statement, so one snapshot. */
export async function runOutcome(client: Queryable, runId: number): Promise<RunOutcome> {
  const rows = await query<ExecutionRow & { pending: boolean; id: number | null }>(
    client,
    `SELECT EXISTS (SELECT 1 FROM background_tasks.runs WHERE id = $1) AS pending, e.*
     FROM (SELECT 1) one LEFT JOIN LATERAL (
       SELECT ${EXECUTION_COLUMNS} FROM background_tasks.executions
       WHERE run_id = $1 AND final ORDER BY id DESC LIMIT 1) e ON true`,
    [runId],
  );
  const row = rows[0]!;
  return { pending: row.pending, final: row.id === null ? undefined : toExecution(row) };
}

/** Ended executions older than `endedBefore`, or beyond the newest `keepLast` of their task: up to `limit`. */
export async function pruneExecutions(
  client: Queryable,
  { endedBefore, keepLast, limit }: { endedBefore: number | null; keepLast: number | null; limit: number },
): Promise<number> {
  const ids = new Set<number>();
  if (endedBefore !== null) {
    const rows = await query<{ id: number }>(
      client,
      `SELECT id FROM background_tasks.executions
       WHERE started_at < $1 AND status <> 'running' AND ended_at IS NOT NULL ORDER BY started_at LIMIT $2`,
      [endedBefore, limit],
    );
    for (const row of rows) ids.add(row.id);
  }
  if (keepLast !== null && ids.size < limit) {
    const rows = await query<{ id: number }>(
      client,
      `SELECT id FROM (SELECT id, status, row_number() OVER (PARTITION BY task_id ORDER BY id DESC) AS newer
                       FROM background_tasks.executions) e
       WHERE newer > $1 AND status <> 'running' LIMIT $2`,
      [keepLast, limit - ids.size],
    );
    for (const row of rows) ids.add(row.id);
  }
  if (ids.size === 0) return 0;
  const deleted = await query(
    client,
    "DELETE FROM background_tasks.executions WHERE id = ANY($1::bigint[]) AND status <> 'running' RETURNING id",
    [[...ids]],
  );
  return deleted.length;
}

export function activity(client: Queryable, since: number, bucketMs: number): Promise<ActivityBucket[]> {
  return query<ActivityBucket>(
    client,
    `SELECT (started_at / $2) * $2 AS at, count(*)::int AS started, (count(*) FILTER (WHERE status = 'failed'))::int AS failed
     FROM background_tasks.executions WHERE started_at >= $1 GROUP BY 1 ORDER BY 1`,
    [since, bucketMs],
  );
}

export async function taskCounts(client: Queryable, taskIds: number[]): Promise<Map<number, TaskCounts>> {
  const rows = await query<TaskCounts & { taskId: number }>(
    client,
    `SELECT task_id AS "taskId", count(*)::int AS total, count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded,
            count(*) FILTER (WHERE status = 'failed')::int AS failed,
            (SELECT status FROM background_tasks.executions l WHERE l.task_id = e.task_id ORDER BY id DESC LIMIT 1)
              AS "lastStatus"
     FROM background_tasks.executions e WHERE task_id = ANY($1::bigint[]) GROUP BY task_id`,
    [taskIds],
  );
  return new Map(rows.map(({ taskId, ...counts }) => [taskId, counts]));
}

export async function inspect(client: Queryable): Promise<DatabaseInfo> {
  const [size] = await query<{ bytes: number }>(
    client,
    `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'background_tasks' AND c.relkind = 'r'`,
  );
  // PostgreSQL checks its own pages; there is no cheap whole-database check to run here.
  return {
    integrity: 'ok',
    schemaVersion: await schemaVersion(client),
    sizeBytes: size?.bytes ?? 0,
    details: {},
  };
}
