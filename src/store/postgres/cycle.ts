import { earliest } from '../../clock.js';
import type { FirePlan, TriggerState } from '../../triggers/schedule.js';
import { TRIGGER_COLUMNS } from '../columns.js';
import { fireTrigger, type TriggerAdvance } from '../firing.js';
import { toClaimedRun, type ClaimColumns, type TriggerRow } from '../rows.js';
import type { ClaimBatch, ClaimParams, CompleteRunParams, FireResult } from '../store.js';
import { query, type Queryable } from './connection.js';
import { admitLimited, lockFlow, recordStarts, type Admissions } from './flow.js';

// The steps of one wake of the loop on PostgreSQL, run by PgStore.cycle inside one
// transaction, each a single statement (or three, for firing) whatever the batch
// size: on a network database the round trips are the cost.

/**
 * Due triggers, each locked for this transaction. SKIP LOCKED: a trigger another
 * node is firing right now is its to fire. A trigger fired and committed by
 * another node since this statement's snapshot is re-checked under the lock
 * (READ COMMITTED), finds its next fire moved on, and drops out. The task is
 * held KEY SHARE, so that it cannot be removed under the runs about to be made.
 */
const DUE_TRIGGERS = `
  SELECT ${TRIGGER_COLUMNS}, t.priority, (SELECT count(*) FROM background_tasks.runs r WHERE r.trigger_id = g.id)::int AS pending
  FROM background_tasks.triggers g JOIN background_tasks.tasks t ON t.id = g.task_id
  WHERE g.next_fire_at <= $1 ORDER BY g.next_fire_at LIMIT $2
  FOR UPDATE OF g SKIP LOCKED FOR KEY SHARE OF t`;

/** The unique index on (trigger_id, slot_at) makes a slot one run, whoever fires it. */
const INSERT_FIRES = `
  INSERT INTO background_tasks.runs (task_id, trigger_id, slot_at, reason, state, priority, due_at, created_at)
  SELECT f.task_id, f.trigger_id, f.due_at, f.reason, 'waiting', f.priority, f.due_at, $6
  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::int[])
    AS f(task_id, trigger_id, due_at, reason, priority)
  ON CONFLICT (trigger_id, slot_at) DO NOTHING`;

const ADVANCE_TRIGGERS = `
  UPDATE background_tasks.triggers g
  SET next_slot_at = a.next_slot_at, next_fire_at = a.next_fire_at,
      last_fired_at = coalesce(a.last_fired_at, g.last_fired_at), fire_count = g.fire_count + a.fired,
      missed_count = g.missed_count + a.missed, coalesced_count = g.coalesced_count + a.coalesced
  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::int[], $6::int[], $7::int[])
    AS a(id, next_slot_at, next_fire_at, last_fired_at, fired, missed, coalesced)
  WHERE g.id = a.id`;

/** The columns of ADVANCE_TRIGGERS after the id, in its order. */
const ADVANCE_COLUMNS = ['nextSlotAt', 'nextFireAt', 'lastFiredAt', 'fired', 'missed', 'coalesced'] as const;

export async function fireDue(
  client: Queryable,
  now: number,
  plan: (state: TriggerState) => FirePlan,
  limit: number,
): Promise<FireResult> {
  const result: FireResult = { runs: 0, broken: [] };
  const rows = await query<TriggerRow & { priority: number; pending: number }>(
    client,
    DUE_TRIGGERS,
    [now, limit],
    'bt_due_triggers',
  );
  if (rows.length === 0) return result;
  const fires = { taskId: [] as number[], triggerId: [] as number[], dueAt: [] as number[], reason: [] as string[] };
  const priorities: number[] = [];
  const advances = {
    id: [] as number[],
    nextSlotAt: [] as (number | null)[],
    nextFireAt: [] as (number | null)[],
    lastFiredAt: [] as (number | null)[],
    fired: [] as number[],
    missed: [] as number[],
    coalesced: [] as number[],
  };
  for (const row of rows) {
    const fired = fireTrigger(row, row.pending, now, plan);
    // A broken trigger is disabled where it stands: its next slot stays, for an operator to read.
    const advance: TriggerAdvance = fired.ok
      ? fired.advance
      : { nextSlotAt: row.nextSlotAt, nextFireAt: null, lastFiredAt: null, fired: 0, missed: 0, coalesced: 0 };
    if (!fired.ok) result.broken.push({ triggerId: row.id, taskId: row.taskId, error: fired.error });
    for (const dueAt of fired.ok ? fired.fires : []) {
      fires.taskId.push(row.taskId);
      fires.triggerId.push(row.id);
      fires.dueAt.push(dueAt);
      fires.reason.push(row.kind);
      priorities.push(row.priority);
    }
    advances.id.push(row.id);
    for (const column of ADVANCE_COLUMNS) advances[column].push(advance[column] as never);
    result.runs += advance.fired;
  }
  if (fires.taskId.length > 0) {
    await query(
      client,
      INSERT_FIRES,
      [fires.taskId, fires.triggerId, fires.dueAt, fires.reason, priorities, now],
      'bt_insert_fires',
    );
  }
  await query(
    client,
    ADVANCE_TRIGGERS,
    [advances.id, ...ADVANCE_COLUMNS.map((column) => advances[column])],
    'bt_advance_triggers',
  );
  return result;
}

type ClaimRow = ClaimColumns & { executionId: number };

/**
 * The claim, in one statement. Ready runs are walked in claim order (priority,
 * due time, task) along the runs_claim_order index; each run and its task are
 * locked FOR NO KEY UPDATE SKIP LOCKED (the lock an update of non-key columns
 * takes, which leaves foreign-key checks free), so nodes claiming together take different runs
 * and never wait on each other. A task takes one run, and none while it runs
 * anywhere in the fleet: the claim sets tasks.running_run_id under the task's
 * lock, and a node whose snapshot predates that commit re-checks the condition
 * on the locked row and skips it.
 */
const CLAIM = `
  WITH candidates AS (
    SELECT r.id AS run_id, r.task_id, r.priority, r.due_at, r.attempt, r.interruptions, r.reason, r.event_name,
           r.event_payload, t.key, t.name, t.handler, t.module, t.memory_limit_mb, t.args, t.timeout_ms, t.max_retries,
           t.retry_delay_ms, t.retry_backoff, t.retry_max_delay_ms, t.conditions, t.condition_lost
    FROM background_tasks.runs r JOIN background_tasks.tasks t ON t.id = r.task_id
    WHERE r.state = 'waiting' AND r.due_at <= $1 AND NOT t.paused AND t.running_run_id IS NULL
      AND (t.module IS NOT NULL OR t.handler = ANY($2::text[]))
      AND (t.conditions IS NULL OR t.conditions = ANY($8::text[]))
      AND ((t.groups IS NULL AND t.rate_max IS NULL) OR r.id = ANY($9::bigint[]))
    ORDER BY r.priority DESC, r.due_at, r.task_id, r.id
    LIMIT $3 * 2
    FOR NO KEY UPDATE OF r, t SKIP LOCKED
  ), chosen AS (
    SELECT * FROM (SELECT DISTINCT ON (task_id) * FROM candidates ORDER BY task_id, priority DESC, due_at, run_id) first
    ORDER BY priority DESC, due_at, task_id, run_id LIMIT $3
  ), started AS (
    INSERT INTO background_tasks.executions (task_id, task_name, task_key, run_id, attempt, status, reason, event_name,
                                             event_payload, scheduled_at, started_at, owner)
    SELECT task_id, name, key, run_id, attempt, 'running', reason, event_name, event_payload, due_at, $1, $4 FROM chosen
    RETURNING id, run_id
  ), marked AS (
    -- = ANY(ARRAY(...)): primary-key lookups, where a join on the CTE would scan the table.
    UPDATE background_tasks.runs r
    SET state = 'running', execution_id = s.id, owner = $4, owner_host = $5, owner_pid = $6, lease_expires_at = $7
    FROM started s WHERE r.id = s.run_id AND r.id = ANY(ARRAY(SELECT run_id FROM chosen))
  ), taken AS (
    UPDATE background_tasks.tasks t SET running_run_id = c.run_id
    FROM chosen c WHERE t.id = c.task_id AND t.id = ANY(ARRAY(SELECT task_id FROM chosen))
  )
  SELECT s.id AS "executionId", c.run_id AS "runId", c.task_id AS "taskId", c.attempt, c.interruptions, c.reason,
         c.event_name AS "eventName", c.event_payload AS "eventPayload", c.due_at AS "dueAt", c.name, c.handler,
         c.module, c.memory_limit_mb AS "memoryLimitMb", c.args AS "argsJson", c.timeout_ms AS "timeoutMs",
         c.max_retries AS "maxRetries", c.retry_delay_ms AS "retryDelayMs", c.retry_backoff AS "retryBackoff",
         c.retry_max_delay_ms AS "retryMaxDelayMs", c.conditions AS "conditionsJson", c.condition_lost AS "conditionLost"
  FROM started s JOIN chosen c ON c.run_id = s.run_id
  ORDER BY c.priority DESC, c.due_at, c.task_id, c.run_id`;

/**
 * Claims; `conditionSets` are the distinct conditions tasks have (from `look`): only
 * those that hold here are taken. Runs of tasks in groups or with rate limits are
 * taken only as `admitLimited` allows, and only when `limited` says there are such
 * tasks: a database without them never takes the flow lock.
 */
export async function claim(
  client: Queryable,
  params: ClaimParams,
  { conditionSets, limited }: Pick<Look, 'conditionSets' | 'limited'>,
): Promise<ClaimBatch> {
  const { limit, handlers, owner, leaseUntil, holds } = params;
  const holding = conditionSets.filter(holds);
  let now = params.now;
  let admissions: Admissions = { allowed: new Map(), retryAt: null };
  if (limited) {
    await lockFlow(client);
    // Read under the flow lock: a start is never recorded before the end that made room for it.
    now = Math.max(now, params.time());
    admissions = await admitLimited(client, { now, limit, handlers }, holding);
  }
  const { allowed } = admissions;
  const rows = await query<ClaimRow>(
    client,
    CLAIM,
    [now, handlers, limit, owner.id, owner.host, owner.pid, leaseUntil, holding, [...allowed.keys()]],
    'bt_claim',
  );
  await recordStarts(
    client,
    rows.flatMap((row) => allowed.get(row.runId) ?? []),
    now,
  );
  return { claims: rows.map((row) => toClaimedRun(row, row.executionId, now)), retryAt: admissions.retryAt };
}

/**
 * Every ended attempt of a wake, in one statement. Each change names the state
 * and owner it expects, so a run recovered from a node presumed dead is never
 * written over by that node's late completion (its row lock makes the second
 * writer re-check, and find the owner gone).
 */
const COMPLETE = `
  WITH c AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[],
                         $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::int[], $14::int[])
      AS c(run_id, execution_id, owner, status, ended_at, duration_ms, error, result, cpu_user_us, cpu_system_us,
           rss_bytes, next_due_at, next_attempt, next_interruptions)
  ), recorded AS (
    UPDATE background_tasks.executions e
    SET status = c.status, ended_at = c.ended_at, duration_ms = coalesce(c.duration_ms, c.ended_at - e.started_at),
        error = c.error, result = c.result, cpu_user_us = c.cpu_user_us, cpu_system_us = c.cpu_system_us,
        rss_bytes = c.rss_bytes, final = c.next_due_at IS NULL
    FROM c WHERE e.id = c.execution_id AND e.id = ANY($2::bigint[]) AND e.status = 'running' AND e.owner = c.owner
    RETURNING c.run_id, c.owner, c.status, c.next_due_at, c.next_attempt, c.next_interruptions
  ), requeued AS (
    UPDATE background_tasks.runs r
    SET state = 'waiting', due_at = x.next_due_at, attempt = x.next_attempt, interruptions = x.next_interruptions,
        execution_id = NULL, owner = NULL, owner_host = NULL, owner_pid = NULL, lease_expires_at = NULL
    FROM recorded x
    WHERE r.id = x.run_id AND r.id = ANY($1::bigint[]) AND x.next_due_at IS NOT NULL AND r.state = 'running'
      AND r.owner = x.owner
    RETURNING r.id, r.task_id
  ), deleted AS (
    DELETE FROM background_tasks.runs r USING recorded x
    WHERE r.id = x.run_id AND r.id = ANY($1::bigint[]) AND x.next_due_at IS NULL AND r.state = 'running'
      AND r.owner = x.owner
    RETURNING r.id, r.task_id
  ), freed AS (
    UPDATE background_tasks.tasks t SET running_run_id = NULL
    FROM (SELECT id, task_id FROM requeued UNION ALL SELECT id, task_id FROM deleted) f
    WHERE t.id = f.task_id AND t.running_run_id = f.id
      AND t.id = ANY(ARRAY(SELECT task_id FROM requeued UNION ALL SELECT task_id FROM deleted))
  )
  -- A spent one-time task whose run failed for good stays, a dead letter that
  -- retryExecution or retryFailed can run again (rule 19); its next end removes it.
  SELECT x.run_id AS "runId", CASE WHEN x.status <> 'failed' THEN d.task_id END AS "spentTaskId"
  FROM recorded x LEFT JOIN deleted d ON d.id = x.run_id`;

const LOCK_TASKS = 'SELECT id FROM background_tasks.tasks WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE';

/** A task whose triggers are all one-time and spent, with no run left, has done its work. */
const REMOVE_SPENT = `
  DELETE FROM background_tasks.tasks t WHERE t.id = ANY($1::bigint[])
    AND EXISTS (SELECT 1 FROM background_tasks.triggers WHERE task_id = t.id)
    AND NOT EXISTS (SELECT 1 FROM background_tasks.triggers
                    WHERE task_id = t.id AND (kind <> 'once' OR next_fire_at IS NOT NULL))
    AND NOT EXISTS (SELECT 1 FROM background_tasks.runs WHERE task_id = t.id)`;

/** Records attempts' ends and their runs' fates; per completion, whether it was still this owner's to record. */
export async function complete(client: Queryable, completions: CompleteRunParams[]): Promise<boolean[]> {
  if (completions.length === 0) return [];
  const column = <T>(pick: (c: CompleteRunParams) => T): T[] => completions.map(pick);
  const rows = await query<{ runId: number; spentTaskId: number | null }>(
    client,
    COMPLETE,
    [
      column((c) => c.runId),
      column((c) => c.executionId),
      column((c) => c.owner),
      column((c) => c.status),
      column((c) => c.endedAt),
      column((c) => c.usage?.durationMs ?? null),
      // A handler's error text may hold NUL, which a text column cannot: it becomes U+FFFD.
      column((c) => c.error?.replaceAll('\u0000', '\ufffd') ?? null),
      column((c) => c.resultJson),
      column((c) => c.usage?.cpuUserUs ?? null),
      column((c) => c.usage?.cpuSystemUs ?? null),
      column((c) => c.usage?.rssBytes ?? null),
      column((c) => (c.next.kind === 'again' ? c.next.dueAt : null)),
      column((c) => (c.next.kind === 'again' ? c.next.attempt : null)),
      column((c) => (c.next.kind === 'again' ? c.next.interruptions : null)),
    ],
    'bt_complete',
  );
  const spent = rows.flatMap((row) => (row.spentTaskId === null ? [] : [row.spentTaskId]));
  if (spent.length > 0) {
    // Locked first, checked in a statement of its own: a runNow or event committed
    // meanwhile is then seen, and keeps its task.
    await query(client, LOCK_TASKS, [spent], 'bt_lock_tasks');
    await query(client, REMOVE_SPENT, [spent], 'bt_remove_spent');
  }
  const recorded = new Set(rows.map((row) => row.runId));
  return completions.map((c) => recorded.has(c.runId));
}

/**
 * Whether a wake has anything to write, when the next thing comes due, and the
 * distinct conditions tasks have (the claim takes only runs whose conditions the
 * device watch says hold here): read without a transaction. The condition sets come
 * by a loose index scan over tasks_conditions, one lookup per distinct set: nothing
 * without conditions, little with many tasks sharing a few sets, and no round trip
 * of their own.
 */
const LOOK = `
  SELECT EXISTS (SELECT 1 FROM background_tasks.triggers WHERE next_fire_at <= $1) AS "triggerDue",
         EXISTS (SELECT 1 FROM background_tasks.runs WHERE state = 'waiting' AND due_at <= $1) AS "runReady",
         (SELECT min(due_at) FROM background_tasks.runs WHERE state = 'waiting' AND due_at > $1) AS run,
         (SELECT min(next_fire_at) FROM background_tasks.triggers WHERE next_fire_at IS NOT NULL) AS "trigger",
         ARRAY(
           WITH RECURSIVE sets AS (
             (SELECT conditions FROM background_tasks.tasks WHERE conditions IS NOT NULL ORDER BY conditions LIMIT 1)
             UNION ALL
             SELECT (SELECT t.conditions FROM background_tasks.tasks t WHERE t.conditions > sets.conditions
                     ORDER BY t.conditions LIMIT 1)
             FROM sets WHERE sets.conditions IS NOT NULL
           )
           SELECT conditions FROM sets WHERE conditions IS NOT NULL
         ) AS "conditionSets",
         EXISTS (SELECT 1 FROM background_tasks.tasks WHERE groups IS NOT NULL OR rate_max IS NOT NULL) AS limited`;

export interface Look {
  triggerDue: boolean;
  runReady: boolean;
  nextWakeAt: number | null;
  conditionSets: string[];
  /** Whether any task is in a group or has a rate limit (tasks_limited). */
  limited: boolean;
}

export async function look(client: Queryable, now: number): Promise<Look> {
  const [row] = await query<Omit<Look, 'nextWakeAt'> & { run: number | null; trigger: number | null }>(
    client,
    LOOK,
    [now],
    'bt_look',
  );
  return {
    triggerDue: row!.triggerDue,
    runReady: row!.runReady,
    nextWakeAt: earliest(row!.run, row!.trigger),
    conditionSets: row!.conditionSets,
    limited: row!.limited,
  };
}
