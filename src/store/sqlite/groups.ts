import { sql } from 'drizzle-orm';
import { groupLimiter, type Group, type GroupInfo } from '../../flow.js';
import type { DefineGroupParams, RecentStartsParams } from '../params.js';
import { groupOf, toReadyLimited, type GroupRow, type ReadyLimitedRow } from '../rows.js';
import type { ReadyLimited } from '../store.js';
import type { SqliteDb } from './open.js';

// Concurrency groups and rate limits as operators and explain read them, on SQLite.
// The claim's side is in cycle.ts.

const GROUP_COLUMNS = sql`name, max_running AS maxRunning, rate_max AS rateMax, rate_per_ms AS ratePerMs,
  created_at AS createdAt, updated_at AS updatedAt`;

export function defineGroup(db: SqliteDb, { name, maxRunning, rateLimit, now }: DefineGroupParams): Group {
  const [row] = db.all<GroupRow>(sql`
    INSERT INTO task_groups (name, max_running, rate_max, rate_per_ms, created_at, updated_at)
    VALUES (${name}, ${maxRunning}, ${rateLimit?.max ?? null}, ${rateLimit?.per ?? null}, ${now}, ${now})
    ON CONFLICT (name) DO UPDATE SET max_running = excluded.max_running, rate_max = excluded.rate_max,
      rate_per_ms = excluded.rate_per_ms, updated_at = excluded.updated_at
    RETURNING ${GROUP_COLUMNS}`);
  if (rateLimit === null) db.run(sql`DELETE FROM rate_starts WHERE limiter = ${groupLimiter(name)}`);
  return groupOf(row!);
}

export function groupsOf(db: SqliteDb): GroupInfo[] {
  return db
    .all<GroupRow & { running: number }>(
      sql`
      SELECT ${GROUP_COLUMNS},
        (SELECT count(*) FROM runs r JOIN tasks t ON t.id = r.task_id, json_each(t.groups) j
         WHERE r.state = 'running' AND t.groups IS NOT NULL AND j.value = g.name) AS running
      FROM task_groups g ORDER BY name`,
    )
    .map((row) => ({ ...groupOf(row), running: row.running }));
}

export function recentStarts(db: SqliteDb, { limiters, now }: RecentStartsParams): Map<string, number[]> {
  const starts = new Map<string, number[]>();
  for (const { limiter, per } of limiters) {
    const times = db.all<{ startedAt: number }>(sql`
      SELECT started_at AS startedAt FROM rate_starts WHERE limiter = ${limiter} AND started_at > ${now - per}
      ORDER BY started_at`);
    starts.set(
      limiter,
      times.map((row) => row.startedAt),
    );
  }
  return starts;
}

export function readyLimited(db: SqliteDb, now: number): ReadyLimited[] {
  return db
    .all<ReadyLimitedRow>(
      sql`
    SELECT t.id AS taskId, t.groups AS groupsJson, t.rate_max AS rateMax, t.rate_per_ms AS ratePerMs, count(*) AS runs
    FROM runs r JOIN tasks t ON t.id = r.task_id
    WHERE r.state = 'waiting' AND r.due_at <= ${now} AND NOT t.paused AND (t.groups IS NOT NULL OR t.rate_max IS NOT NULL)
      AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.task_id = t.id AND x.state = 'running')
    GROUP BY t.id ORDER BY t.id`,
    )
    .map(toReadyLimited);
}
