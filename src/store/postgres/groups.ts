import { groupLimiter, type Group, type GroupInfo } from '../../flow.js';
import type { DefineGroupParams, RecentStartsParams } from '../params.js';
import { groupOf, toReadyLimited, type GroupRow, type ReadyLimitedRow } from '../rows.js';
import type { ReadyLimited } from '../store.js';
import { query, type Queryable } from './connection.js';

// Concurrency groups and rate limits as operators and explain read them, on
// PostgreSQL. The claim's side is in flow.ts.

const GROUP_COLUMNS = `name, max_running AS "maxRunning", rate_max AS "rateMax", rate_per_ms AS "ratePerMs",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

export async function defineGroup(
  client: Queryable,
  { name, maxRunning, rateLimit, now }: DefineGroupParams,
): Promise<Group> {
  const [row] = await query<GroupRow>(
    client,
    `INSERT INTO background_tasks.task_groups (name, max_running, rate_max, rate_per_ms, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $5)
     ON CONFLICT (name) DO UPDATE SET max_running = excluded.max_running, rate_max = excluded.rate_max,
       rate_per_ms = excluded.rate_per_ms, updated_at = excluded.updated_at
     RETURNING ${GROUP_COLUMNS}`,
    [name, maxRunning, rateLimit?.max ?? null, rateLimit?.per ?? null, now],
  );
  if (rateLimit === null) {
    await query(client, 'DELETE FROM background_tasks.rate_starts WHERE limiter = $1', [groupLimiter(name)]);
  }
  return groupOf(row!);
}

export async function groupsOf(client: Queryable): Promise<GroupInfo[]> {
  const rows = await query<GroupRow & { running: number }>(
    client,
    `SELECT ${GROUP_COLUMNS}, coalesce(r.running, 0)::int AS running
     FROM background_tasks.task_groups g LEFT JOIN (
       SELECT jsonb_array_elements_text(t.groups::jsonb) AS group_name, count(*) AS running
       FROM background_tasks.runs r JOIN background_tasks.tasks t ON t.id = r.task_id
       WHERE r.state = 'running' AND t.groups IS NOT NULL GROUP BY 1
     ) r ON r.group_name = g.name
     ORDER BY g.name`,
  );
  return rows.map((row) => ({ ...groupOf(row), running: row.running }));
}

export async function recentStarts(
  client: Queryable,
  { limiters, now }: RecentStartsParams,
): Promise<Map<string, number[]>> {
  const rows = await query<{ limiter: string; startedAt: number }>(
    client,
    `SELECT s.limiter, s.started_at AS "startedAt"
     FROM unnest($1::text[], $2::bigint[]) AS x(limiter, since)
     JOIN background_tasks.rate_starts s ON s.limiter = x.limiter AND s.started_at > x.since
     ORDER BY s.started_at`,
    [limiters.map((l) => l.limiter), limiters.map((l) => now - l.per)],
  );
  const starts = new Map<string, number[]>(limiters.map(({ limiter }) => [limiter, []]));
  for (const { limiter, startedAt } of rows) starts.get(limiter)!.push(startedAt);
  return starts;
}

export async function readyLimited(client: Queryable, now: number): Promise<ReadyLimited[]> {
  const rows = await query<ReadyLimitedRow>(
    client,
    `SELECT t.id AS "taskId", t.groups AS "groupsJson", t.rate_max AS "rateMax", t.rate_per_ms AS "ratePerMs",
            count(*)::int AS runs
     FROM background_tasks.runs r JOIN background_tasks.tasks t ON t.id = r.task_id
     WHERE r.state = 'waiting' AND r.due_at <= $1 AND NOT t.paused AND t.running_run_id IS NULL
       AND (t.groups IS NOT NULL OR t.rate_max IS NOT NULL)
     GROUP BY t.id ORDER BY t.id`,
    [now],
  );
  return rows.map(toReadyLimited);
}
