import type Database from 'better-sqlite3';
import type { RunReason } from '../../execution.js';
import { RETRY_COLUMNS, TRIGGER_COLUMNS } from '../columns.js';
import type { ClaimColumns, RunningRow, TriggerInsertValues, TriggerRow } from '../rows.js';

// The statements of the hot path (every wake, every run), prepared once per
// connection. Everything else goes through drizzle's query builder in store.ts.

export type ReadyRow = ClaimColumns & {
  paused: number;
  taskKey: string | null;
  groupsJson: string | null;
  rateMax: number | null;
  ratePerMs: number | null;
};

/** @internal */
export type Statements = ReturnType<typeof prepareStatements>;

/** A prepared statement, under a name that declaration files can use. */
export type Stmt<P extends unknown[] = [], R = unknown> = Database.Statement<P, R>;

function prepare<P extends unknown[] = [], R = unknown>(db: Database.Database, source: string): Stmt<P, R> {
  return db.prepare<P, R>(source);
}

/** A statement that returns the first column's value instead of a row object. */
function pluck<P extends unknown[], R>(db: Database.Database, source: string): Stmt<P, R> {
  return db.prepare<P, R>(source).pluck();
}

/** Ready runs in claim order, walked along the runs_claim_order index, with `also` among the conditions. */
const readyInOrder = (also = '') => `
  SELECT r.id AS runId, r.task_id AS taskId, r.attempt, r.interruptions, r.reason,
         r.event_name AS eventName, r.event_payload AS eventPayload, r.due_at AS dueAt,
         t.key AS taskKey, t.name, t.handler, t.module, t.memory_limit_mb AS memoryLimitMb, t.paused, t.args AS argsJson,
         t.timeout_ms AS timeoutMs, ${RETRY_COLUMNS}, t.conditions AS conditionsJson, t.condition_lost AS conditionLost,
         t.groups AS groupsJson, t.rate_max AS rateMax, t.rate_per_ms AS ratePerMs
  FROM runs r INDEXED BY runs_claim_order JOIN tasks t ON t.id = r.task_id
  WHERE r.state = 'waiting' AND r.due_at <= ? ${also}
  ORDER BY r.priority DESC, r.due_at, r.task_id, r.id`;

/** Leaves out runs whose conditions are known not to hold here. */
const NOT_HELD = 'AND (t.conditions IS NULL OR t.conditions NOT IN (SELECT value FROM json_each(?)))';

/** @internal */
export function prepareStatements(db: Database.Database) {
  return {
    // Most wakes find nothing due: these answer that without the write lock.
    anyTriggerDue: prepare<[number]>(db, 'SELECT 1 FROM triggers WHERE next_fire_at <= ? LIMIT 1'),
    anyRunReady: prepare<[number]>(db, "SELECT 1 FROM runs WHERE state = 'waiting' AND due_at <= ? LIMIT 1"),

    dueTriggers: prepare<[number, number], TriggerRow & { priority: number }>(
      db,
      `
      SELECT ${TRIGGER_COLUMNS}, t.priority
      FROM triggers g JOIN tasks t ON t.id = g.task_id
      WHERE g.next_fire_at <= ? ORDER BY g.next_fire_at LIMIT ?`,
    ),
    // `reason <> 'once'` lets it use runs_trigger, which holds no one-time runs (it is asked only of others).
    pendingOfTrigger: pluck<[number], number>(
      db,
      "SELECT count(*) FROM runs WHERE trigger_id = ? AND reason <> 'once'",
    ),
    advanceTrigger: prepare<[number | null, number | null, number | null, number, number, number, number]>(
      db,
      `
      UPDATE triggers SET next_slot_at = ?, next_fire_at = ?, last_fired_at = ?,
        fire_count = fire_count + ?, missed_count = missed_count + ?, coalesced_count = coalesced_count + ?
      WHERE id = ?`,
    ),
    disableTrigger: prepare<[number]>(db, 'UPDATE triggers SET next_fire_at = NULL WHERE id = ?'),
    insertRun: prepare<[number, number | null, RunReason, string | null, string | null, number, number, number]>(
      db,
      `
      INSERT INTO runs (task_id, trigger_id, reason, event_name, event_payload, state, priority, due_at, created_at)
      VALUES (?, ?, ?, ?, ?, 'waiting', ?, ?, ?)`,
    ),

    runningTaskIds: pluck<[], number>(db, "SELECT task_id FROM runs WHERE state = 'running'"),
    // Ready runs in claim order, walked along the runs_claim_order index.
    readyInOrder: prepare<[number], ReadyRow>(db, readyInOrder()),
    // The same, leaving out (in SQL, without making a row object of each) runs whose
    // conditions are known not to hold here: a backlog of held runs costs little.
    readyInOrderExcept: prepare<[number, string], ReadyRow>(db, readyInOrder(NOT_HELD)),
    // And runs of tasks whose groups are known to be full (or out of starts) in this claim.
    readyInOrderExceptGroups: prepare<[number, string, string], ReadyRow>(
      db,
      readyInOrder(`${NOT_HELD} AND (t.groups IS NULL OR t.groups NOT IN (SELECT value FROM json_each(?)))`),
    ),
    // What a claim needs only once it meets a task in a group or with a rate limit.
    groupLimits: prepare<
      [],
      { name: string; maxRunning: number | null; rateMax: number | null; ratePerMs: number | null }
    >(db, 'SELECT name, max_running AS maxRunning, rate_max AS rateMax, rate_per_ms AS ratePerMs FROM task_groups'),
    runningGroups: pluck<[], string>(
      db,
      "SELECT t.groups FROM runs r JOIN tasks t ON t.id = r.task_id WHERE r.state = 'running' AND t.groups IS NOT NULL",
    ),
    startsAfter: prepare<[string, number], { count: number; oldest: number | null }>(
      db,
      'SELECT count(*) AS count, min(started_at) AS oldest FROM rate_starts WHERE limiter = ? AND started_at > ?',
    ),
    recordStart: prepare<[string, number]>(db, 'INSERT INTO rate_starts (limiter, started_at) VALUES (?, ?)'),
    forgetStarts: prepare<[string, number]>(db, 'DELETE FROM rate_starts WHERE limiter = ? AND started_at <= ?'),
    insertExecution: prepare<
      [number, string, string | null, number, number, RunReason, string | null, string | null, number, number, string]
    >(
      db,
      `
      INSERT INTO executions (task_id, task_name, task_key, run_id, attempt, status, reason, event_name, event_payload,
                              scheduled_at, started_at, owner)
      VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)`,
    ),
    markRunning: prepare<[number, string, string, number, number, number]>(
      db,
      `
      UPDATE runs SET state = 'running', execution_id = ?, owner = ?, owner_host = ?, owner_pid = ?,
                      lease_expires_at = ?
      WHERE id = ?`,
    ),

    // Every change to a running run names the state and owner it expects, so a
    // run recovered from a process presumed dead is never written over.
    finishExecution: prepare<
      [
        string,
        number,
        number | null,
        number,
        string | null,
        string | null,
        number | null,
        number | null,
        number | null,
        number,
        number,
        string,
      ]
    >(
      db,
      `
      UPDATE executions SET status = ?, ended_at = ?, duration_ms = coalesce(?, ? - started_at), error = ?,
                            result = ?, cpu_user_us = ?, cpu_system_us = ?, rss_bytes = ?, final = ?
      WHERE id = ? AND status = 'running' AND owner = ?`,
    ),
    requeueRun: prepare<[number, number, number, number, string]>(
      db,
      `
      UPDATE runs SET state = 'waiting', due_at = ?, attempt = ?, interruptions = ?, execution_id = NULL,
                      owner = NULL, owner_host = NULL, owner_pid = NULL, lease_expires_at = NULL
      WHERE id = ? AND state = 'running' AND owner = ?`,
    ),
    deleteRun: pluck<[number, string], number>(
      db,
      "DELETE FROM runs WHERE id = ? AND state = 'running' AND owner = ? RETURNING task_id",
    ),
    // A task whose triggers are all one-time and spent, with no run left, has done its work.
    removeIfSpent: prepare<[number, number, number, number]>(
      db,
      `
      DELETE FROM tasks WHERE id = ?
        AND EXISTS (SELECT 1 FROM triggers WHERE task_id = ?)
        AND NOT EXISTS (SELECT 1 FROM triggers WHERE task_id = ? AND (kind <> 'once' OR next_fire_at IS NOT NULL))
        AND NOT EXISTS (SELECT 1 FROM runs WHERE task_id = ?)`,
    ),

    runningRuns: prepare<[], RunningRow>(
      db,
      `
      SELECT r.id AS runId, r.execution_id AS executionId, r.attempt, r.interruptions, r.owner,
             r.owner_host AS ownerHost, r.owner_pid AS ownerPid, r.lease_expires_at AS leaseExpiresAt, ${RETRY_COLUMNS}
      FROM runs r JOIN tasks t ON t.id = r.task_id WHERE r.state = 'running'`,
    ),
    nextWake: prepare<[number], { run: number | null; trigger: number | null }>(
      db,
      `
      SELECT (SELECT min(due_at) FROM runs WHERE state = 'waiting' AND due_at > ?) AS run,
             (SELECT min(next_fire_at) FROM triggers WHERE next_fire_at IS NOT NULL) AS "trigger"`,
    ),
    // The newest row of each table, by primary key: no scan.
    latestRecorded: prepare<[], { execution: number | null; run: number | null; task: number | null }>(
      db,
      `
      SELECT (SELECT started_at FROM executions ORDER BY id DESC LIMIT 1) AS execution,
             (SELECT created_at FROM runs ORDER BY id DESC LIMIT 1) AS run,
             (SELECT max(created_at, updated_at) FROM tasks ORDER BY id DESC LIMIT 1) AS task`,
    ),

    endedBefore: pluck<[number, number], number>(
      db,
      "SELECT id FROM executions WHERE started_at < ? AND status <> 'running' AND ended_at IS NOT NULL ORDER BY started_at LIMIT ?",
    ),
    // A pass over the history, but a read: it holds no lock a writer waits for.
    beyondKeepLast: pluck<[number, number], number>(
      db,
      `SELECT id FROM (SELECT id, status, row_number() OVER (PARTITION BY task_id ORDER BY id DESC) AS newer
                       FROM executions)
       WHERE newer > ? AND status <> 'running' LIMIT ?`,
    ),
    deleteExecution: prepare<[number]>(db, "DELETE FROM executions WHERE id = ? AND status <> 'running'"),
    countReady: pluck<[number, number], number>(
      db,
      "SELECT count(*) FROM (SELECT 1 FROM runs WHERE state = 'waiting' AND due_at <= ? LIMIT ?)",
    ),
    insertTask: prepare<
      [
        string | null,
        string,
        string,
        string | null,
        number | null,
        string | null,
        string,
        number,
        number | null,
        number | null,
        number | null,
        string | null,
        number | null,
        string | null,
        string,
        string | null,
        number | null,
        number | null,
        number,
        number,
        number,
      ]
    >(
      db,
      `
      INSERT INTO tasks (key, name, handler, module, memory_limit_mb, description, args, priority, timeout_ms,
                         max_retries, retry_delay_ms, retry_backoff, retry_max_delay_ms, conditions, condition_lost,
                         groups, rate_max, rate_per_ms, paused, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    taskIdByKey: pluck<[string], number>(db, 'SELECT id FROM tasks WHERE key = ?'),
    insertTrigger: prepare<TriggerInsertValues>(
      db,
      `
      INSERT INTO triggers (task_id, kind, interval_ms, cron, timezone, jitter_ms, misfire, max_catch_up, event_name,
                            delay_ms, at, anchor_at, next_slot_at, next_fire_at, last_fired_at, fire_count)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
  };
}
