import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { and, asc, desc, eq, sql } from 'drizzle-orm';
import type { Execution, ExecutionFilter, ExecutionStatus } from '../../execution.js';
import { toExecution, toSchedulerInfo } from '../rows.js';
import type { SaveSchedulerParams } from '../params.js';
import type { ActivityBucket, DatabaseInfo, RunInfo, RunOutcome, SchedulerInfo, TaskCounts } from '../store.js';
import { MIGRATIONS_TABLE, type SqliteDb } from './open.js';
import { executions, runs, schedulers } from './schema.js';
import type { Statements } from './statements.js';
import { formatSchemaVersion } from '../migrations.js';

// History, the schedulers' rows and operators' questions, on SQLite.

export function executionsOf(db: SqliteDb, filter: ExecutionFilter & { limit: number }): Execution[] {
  return db
    .select()
    .from(executions)
    .where(
      and(
        filter.taskId === undefined ? undefined : eq(executions.taskId, filter.taskId),
        filter.runId === undefined ? undefined : eq(executions.runId, filter.runId),
        filter.status === undefined ? undefined : eq(executions.status, filter.status),
        filter.beforeId === undefined ? undefined : sql`${executions.id} < ${filter.beforeId}`,
        filter.since === undefined ? undefined : sql`${executions.startedAt} >= ${filter.since}`,
      ),
    )
    .orderBy(desc(executions.id))
    .limit(filter.limit)
    .all()
    .map(toExecution);
}

export function runOutcome(db: SqliteDb, runId: number): RunOutcome {
  const pending = db.select({ id: runs.id }).from(runs).where(eq(runs.id, runId)).get() !== undefined;
  const final = db
    .select()
    .from(executions)
    .where(and(eq(executions.runId, runId), eq(executions.final, true)))
    .orderBy(desc(executions.id))
    .limit(1)
    .get();
  return { pending, final: final === undefined ? undefined : toExecution(final) };
}

/** Executions the retention policy no longer keeps, found by reads: a reader never blocks the writer. */
export function pruneCandidates(
  q: Statements,
  { endedBefore, keepLast, limit }: { endedBefore: number | null; keepLast: number | null; limit: number },
): Set<number> {
  const ids = new Set<number>(endedBefore === null ? [] : q.endedBefore.all(endedBefore, limit));
  if (keepLast !== null && ids.size < limit) {
    for (const id of q.beyondKeepLast.all(keepLast, limit - ids.size)) ids.add(id);
  }
  return ids;
}

export function readyByConditions(db: SqliteDb, now: number): { conditionsJson: string; runs: number }[] {
  return db.all<{ conditionsJson: string; runs: number }>(
    sql`
      SELECT t.conditions AS conditionsJson, count(*) AS runs FROM runs r JOIN tasks t ON t.id = r.task_id
      WHERE r.state = 'waiting' AND r.due_at <= ${now} AND t.conditions IS NOT NULL AND NOT t.paused
      GROUP BY t.conditions`,
  );
}

export function unservedHandlers(db: SqliteDb, now: number, handlers: string[]): string[] {
  return db
    .all<{ handler: string }>(
      sql`
        SELECT DISTINCT t.handler FROM runs r JOIN tasks t ON t.id = r.task_id
        WHERE r.state = 'waiting' AND r.due_at <= ${now}
          AND t.module IS NULL
          AND t.handler NOT IN (SELECT value FROM json_each(${JSON.stringify(handlers)}))
        LIMIT 20`,
    )
    .map((row) => row.handler);
}

export function saveScheduler(db: SqliteDb, { owner, handlers, device, now }: SaveSchedulerParams): void {
  const row = {
    id: owner.id,
    host: owner.host,
    pid: owner.pid,
    handlers: JSON.stringify(handlers),
    device: JSON.stringify(device),
    lastSeenAt: now,
  };
  db.insert(schedulers)
    .values({ ...row, startedAt: now })
    .onConflictDoUpdate({ target: schedulers.id, set: { handlers: row.handlers, device: row.device, lastSeenAt: now } })
    .run();
}

export function removeScheduler(db: SqliteDb, ownerId: string, staleBefore: number): void {
  db.delete(schedulers)
    .where(sql`${schedulers.id} = ${ownerId} OR ${schedulers.lastSeenAt} < ${staleBefore}`)
    .run();
}

export function schedulersOf(db: SqliteDb): SchedulerInfo[] {
  return db.select().from(schedulers).orderBy(desc(schedulers.lastSeenAt)).all().map(toSchedulerInfo);
}

export function runsOf(
  db: SqliteDb,
  { taskId, readyAt, limit }: { taskId?: number; readyAt?: number; limit: number },
): RunInfo[] {
  return db
    .select({
      id: runs.id,
      taskId: runs.taskId,
      reason: runs.reason,
      state: runs.state,
      dueAt: runs.dueAt,
      attempt: runs.attempt,
      interruptions: runs.interruptions,
      owner: runs.owner,
    })
    .from(runs)
    .where(
      and(
        taskId === undefined ? undefined : eq(runs.taskId, taskId),
        readyAt === undefined ? undefined : and(sql`${runs.state} = 'waiting'`, sql`${runs.dueAt} <= ${readyAt}`),
      ),
    )
    .orderBy(asc(runs.dueAt), asc(runs.id))
    .limit(limit)
    .all();
}

export function activity(db: SqliteDb, since: number, bucketMs: number): ActivityBucket[] {
  return db.all<ActivityBucket>(sql`
    SELECT (started_at / ${bucketMs}) * ${bucketMs} AS at, count(*) AS started, sum(status = 'failed') AS failed
    FROM executions WHERE started_at >= ${since} GROUP BY 1 ORDER BY 1`);
}

export function taskCounts(db: SqliteDb, taskIds: number[]): Map<number, TaskCounts> {
  const rows = db.all<{
    taskId: number;
    total: number;
    succeeded: number;
    failed: number;
    lastStatus: ExecutionStatus;
  }>(sql`
    SELECT task_id AS taskId, count(*) AS total, sum(status = 'succeeded') AS succeeded,
           sum(status = 'failed') AS failed,
           (SELECT status FROM executions l WHERE l.task_id = e.task_id ORDER BY id DESC LIMIT 1) AS lastStatus
    FROM executions e WHERE task_id IN (SELECT value FROM json_each(${JSON.stringify(taskIds)}))
    GROUP BY task_id`);
  return new Map(rows.map((row) => [row.taskId, row]));
}

export function inspect(sqlite: Database.Database, path: string | undefined): DatabaseInfo {
  const size = (path: string) => {
    try {
      return statSync(path).size;
    } catch {
      return 0;
    }
  };
  const version = sqlite
    .prepare(`SELECT hash, created_at FROM ${MIGRATIONS_TABLE} ORDER BY created_at DESC LIMIT 1`)
    .get() as { hash: string; created_at: number } | undefined;
  return {
    integrity: sqlite.pragma('integrity_check', { simple: true }) as string,
    schemaVersion: formatSchemaVersion(version && { hash: version.hash, createdAt: version.created_at }),
    sizeBytes: path ? size(path) : 0,
    details: {
      walBytes: path ? size(`${path}-wal`) : 0,
      freePages: sqlite.pragma('freelist_count', { simple: true }) as number,
      // 2 (incremental) lets pruning give space back; 0 means it cannot.
      autoVacuum: sqlite.pragma('auto_vacuum', { simple: true }) as number,
    },
  };
}
