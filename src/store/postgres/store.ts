import { randomUUID } from 'node:crypto';
import type { Client, PoolClient } from 'pg';
import { DatabaseError } from '../../errors.js';
import type { Execution, ExecutionFilter } from '../../execution.js';
import type { NewTaskWithSchedule, Task } from '../../task.js';
import type { TriggerState } from '../../triggers/schedule.js';
import { retryPolicyOf, specKey, specOf, toExecution, toTask, triggerState, type TaskRow, type TriggerRow, type ExecutionRow } from '../rows.js';
import type {
  CompleteRunParams,
  CycleParams,
  CycleResult,
  DatabaseInfo,
  FireResult,
  Owner,
  RunInfo,
  RunningRun,
  SchedulerInfo,
  Store,
  TaskCounts,
} from '../store.js';
import { track } from '../in-flight.js';
import { AgreedClock } from './agreed-clock.js';
import {
  loadPg,
  migratePostgres,
  NOTIFY_CHANNEL,
  query,
  readServerClock,
  schemaVersion,
  toPgDatabaseError,
  type PgPool,
  type Queryable,
} from './connection.js';
import { claim, complete, fireDue, look, RETRY_COLUMNS, TRIGGER_COLUMNS } from './cycle.js';

export interface PgStoreOptions {
  /** `'normal'` commits without waiting for PostgreSQL's WAL flush (synchronous_commit off). Own pools only. */
  durability?: 'full' | 'normal';
  /** How long (ms) a statement waits for a row lock before DATABASE_LOCKED (lock_timeout). Own pools only. */
  lockTimeout?: number;
}

/** Tries of a transaction that meets a deadlock or a lock timeout. */
const LOCKED_ATTEMPTS = 3;
const RELISTEN_MS = 1_000;
const POOL_SIZE = 10;
/** An addTasks batch at least this large refreshes the planner's statistics. */
const ANALYZE_AFTER_TASKS = 1_000;

const TASK_COLUMNS = `t.id, t.key, t.name, t.handler, t.module, t.memory_limit_mb AS "memoryLimitMb", t.description,
  t.args, t.priority, t.timeout_ms AS "timeoutMs", ${RETRY_COLUMNS}, t.paused, t.created_at AS "createdAt",
  t.updated_at AS "updatedAt"`;

const EXECUTION_COLUMNS = `id, task_id AS "taskId", task_name AS "taskName", run_id AS "runId", attempt, status, reason,
  event_name AS "eventName", event_payload AS "eventPayload", scheduled_at AS "scheduledAt", started_at AS "startedAt",
  ended_at AS "endedAt", duration_ms AS "durationMs", error, result, cpu_user_us AS "cpuUserUs",
  cpu_system_us AS "cpuSystemUs", rss_bytes AS "rssBytes", owner`;

/**
 * The store on a PostgreSQL database, for a fleet of schedulers sharing one
 * schedule. The same transactions as on SQLite; PostgreSQL's row locks (FOR
 * UPDATE SKIP LOCKED), a unique index per trigger slot and LISTEN/NOTIFY do the
 * coordination. The connection opens in the background: every method waits for
 * it, and the first one reports it if it failed.
 */
export class PgStore implements Store {
  readonly agreedClock = new AgreedClock();
  readonly #id = randomUUID();
  readonly #ready: Promise<void>;
  readonly #ownsPool: boolean;
  #pool: PgPool | undefined;
  #listener: { client: Client | PoolClient; release: () => void } | undefined;
  #watchers = new Set<() => void>();
  #closed = false;

  constructor(target: string | PgPool, options: PgStoreOptions = {}) {
    this.#ownsPool = typeof target === 'string';
    this.#ready = track(this.#open(target, options));
    // Reported by the first method that waits for it, not as an unhandled rejection.
    this.#ready.catch(() => undefined);
  }

  async #open(target: string | PgPool, options: PgStoreOptions): Promise<void> {
    const pg = await loadPg();
    let pool: PgPool;
    if (typeof target === 'string') {
      const settings = [`-c lock_timeout=${options.lockTimeout ?? 5000}`];
      if (options.durability === 'normal') settings.push('-c synchronous_commit=off');
      const owned = new pg.Pool({
        connectionString: target,
        max: POOL_SIZE,
        options: settings.join(' '),
        application_name: 'background-tasks',
      });
      // An idle client's lost connection: the next query on the pool reports it.
      owned.on('error', () => undefined);
      pool = owned;
    } else {
      pool = target;
    }
    this.#pool = pool;
    const client = await this.#connect();
    try {
      await migratePostgres(client);
      await this.#measureClock(client, 3);
    } finally {
      client.release();
    }
    if (this.#watchers.size > 0) await this.#listen();
  }

  async #connect(): Promise<PoolClient> {
    try {
      return await this.#pool!.connect();
    } catch (err) {
      throw toPgDatabaseError(err);
    }
  }

  async #measureClock(client: Queryable, samples: number): Promise<void> {
    for (let i = 0; i < samples; i++) this.agreedClock.sample(await readServerClock(client));
  }

  /**
   * Runs `fn` in a READ COMMITTED transaction on one pooled connection. A deadlock
   * or lock timeout rolls back and goes again, a few times, before DATABASE_LOCKED.
   */
  #tx<T>(fn: (client: PoolClient) => Promise<T>, notify = false): Promise<T> {
    return track(this.#transaction(fn, notify));
  }

  async #transaction<T>(fn: (client: PoolClient) => Promise<T>, notify: boolean): Promise<T> {
    await this.#ready;
    for (let attempt = 1; ; attempt++) {
      const client = await this.#connect();
      let broken: Error | undefined;
      try {
        await query(client, 'BEGIN');
        const result = await fn(client);
        if (notify) await query(client, 'SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, this.#id], 'bt_notify');
        await query(client, 'COMMIT');
        return result;
      } catch (err) {
        const error = toPgDatabaseError(err);
        await client.query('ROLLBACK').catch((rollbackError: unknown) => (broken = rollbackError as Error));
        const retry = error instanceof DatabaseError && error.code === 'DATABASE_LOCKED' && attempt < LOCKED_ATTEMPTS;
        if (!retry) throw error;
      } finally {
        client.release(broken);
      }
    }
  }

  #read<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    return track(this.#ready.then(() => fn(this.#pool!)));
  }

  async addTasks(batch: NewTaskWithSchedule[], now: number): Promise<{ task: Task; created: boolean }[]> {
    const added = await this.#tx(async (client) => {
      const results: { task: Task; created: boolean }[] = [];
      for (const task of batch) results.push(await this.#addTask(client, task, now));
      return results;
    }, true);
    // Statistics as of before a bulk load would have the planner sort every ready run
    // at each claim instead of walking the claim-order index, until autovacuum
    // analyzes (up to a minute later). A few milliseconds now saves that.
    if (batch.length >= ANALYZE_AFTER_TASKS) {
      await this.#read((client) =>
        query(client, 'ANALYZE background_tasks.tasks, background_tasks.triggers, background_tasks.runs'),
      );
    }
    return added;
  }

  async #addTask(client: PoolClient, task: NewTaskWithSchedule, now: number): Promise<{ task: Task; created: boolean }> {
    const retry = task.retryPolicy;
    const definition = [
      task.name,
      task.handler,
      task.module,
      task.memoryLimitMb,
      task.description,
      task.argsJson,
      task.priority,
      task.timeoutMs,
      retry?.maxRetries ?? null,
      retry?.delay ?? null,
      retry?.backoff ?? null,
      retry?.maxDelay ?? null,
      now,
    ];
    // Nodes declaring the same keyed task at start-up: the first inserts it, the
    // others wait on the key and update it in place.
    let id: number | undefined;
    if (task.key !== null) {
      const [inserted] = await query<{ id: number }>(
        client,
        `INSERT INTO background_tasks.tasks (name, handler, module, memory_limit_mb, description, args, priority,
           timeout_ms, max_retries, retry_delay_ms, retry_backoff, retry_max_delay_ms, updated_at, key, paused, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $13)
         ON CONFLICT (key) DO NOTHING RETURNING id`,
        [...definition, task.key, task.paused],
      );
      id = inserted?.id;
      if (id === undefined) {
        const [existing] = await query<{ id: number }>(
          client,
          `UPDATE background_tasks.tasks SET name = $1, handler = $2, module = $3, memory_limit_mb = $4,
             description = $5, args = $6, priority = $7, timeout_ms = $8, max_retries = $9, retry_delay_ms = $10,
             retry_backoff = $11, retry_max_delay_ms = $12, updated_at = $13
           WHERE key = $14 RETURNING id`,
          [...definition, task.key],
        );
        const taskId = existing!.id;
        await query(client, 'UPDATE background_tasks.runs SET priority = $1 WHERE task_id = $2', [task.priority, taskId]);
        await this.#syncTriggers(client, taskId, task.triggers, task.priority, now);
        return { task: (await readTask(client, taskId))!, created: false };
      }
    } else {
      const [inserted] = await query<{ id: number }>(
        client,
        `INSERT INTO background_tasks.tasks (name, handler, module, memory_limit_mb, description, args, priority,
           timeout_ms, max_retries, retry_delay_ms, retry_backoff, retry_max_delay_ms, updated_at, paused, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $13) RETURNING id`,
        [...definition, task.paused],
        'bt_insert_task',
      );
      id = inserted!.id;
    }
    const row: TaskRow = {
      id,
      key: task.key,
      name: task.name,
      handler: task.handler,
      module: task.module,
      memoryLimitMb: task.memoryLimitMb,
      description: task.description,
      args: task.argsJson,
      priority: task.priority,
      timeoutMs: task.timeoutMs,
      maxRetries: retry?.maxRetries ?? null,
      retryDelayMs: retry?.delay ?? null,
      retryBackoff: retry?.backoff ?? null,
      retryMaxDelayMs: retry?.maxDelay ?? null,
      paused: task.paused,
      createdAt: now,
      updatedAt: now,
    };
    const triggerRows: TriggerRow[] = [];
    for (const state of task.triggers) triggerRows.push(await this.#insertTrigger(client, id, state, task.priority, now));
    return { task: toTask(row, triggerRows), created: true };
  }

  /** A one-time trigger already due becomes a run at once, rather than at the next wake. */
  async #insertTrigger(
    client: PoolClient,
    taskId: number,
    state: TriggerState,
    priority: number,
    now: number,
  ): Promise<TriggerRow> {
    const { spec } = state;
    const periodic = spec.kind === 'interval' || spec.kind === 'cron';
    const firesNow = spec.kind === 'once' && state.nextFireAt !== null && state.nextFireAt <= now;
    const row: TriggerRow = {
      id: 0,
      taskId,
      kind: spec.kind,
      intervalMs: spec.kind === 'interval' ? spec.interval : null,
      cron: spec.kind === 'cron' ? spec.cron : null,
      timezone: spec.kind === 'cron' ? spec.timezone : null,
      jitterMs: periodic ? spec.jitter : 0,
      misfire: periodic ? spec.misfire : null,
      maxCatchUp: periodic ? spec.maxCatchUp : null,
      eventName: spec.kind === 'event' ? spec.event : null,
      delayMs: spec.kind === 'once' ? spec.delay : null,
      at: spec.kind === 'once' ? spec.at : null,
      anchorAt: state.anchorAt,
      nextSlotAt: firesNow ? null : state.nextSlotAt,
      nextFireAt: firesNow ? null : state.nextFireAt,
      lastFiredAt: firesNow ? now : null,
      fireCount: firesNow ? 1 : 0,
      missedCount: 0,
      coalescedCount: 0,
    };
    // The trigger and (when due) its run in one statement: one round trip per task.
    const [inserted] = await query<{ id: number }>(
      client,
      `WITH g AS (
         INSERT INTO background_tasks.triggers (task_id, kind, interval_ms, cron, timezone, jitter_ms, misfire,
           max_catch_up, event_name, delay_ms, at, anchor_at, next_slot_at, next_fire_at, last_fired_at, fire_count)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id
       ), r AS (
         INSERT INTO background_tasks.runs (task_id, trigger_id, slot_at, reason, state, priority, due_at, created_at)
         SELECT $1, g.id, $17::bigint, 'once', 'waiting', $18, $17::bigint, $19 FROM g WHERE $17::bigint IS NOT NULL
       )
       SELECT id FROM g`,
      [
        taskId,
        row.kind,
        row.intervalMs,
        row.cron,
        row.timezone,
        row.jitterMs,
        row.misfire,
        row.maxCatchUp,
        row.eventName,
        row.delayMs,
        row.at,
        row.anchorAt,
        row.nextSlotAt,
        row.nextFireAt,
        row.lastFiredAt,
        row.fireCount,
        firesNow ? state.nextFireAt : null,
        priority,
        now,
      ],
      'bt_insert_trigger',
    );
    row.id = inserted!.id;
    return row;
  }

  /** On a keyed update, triggers that are unchanged keep their schedule and counters. */
  async #syncTriggers(
    client: PoolClient,
    taskId: number,
    wanted: TriggerState[],
    priority: number,
    now: number,
  ): Promise<void> {
    const existing = await query<TriggerRow>(
      client,
      `SELECT ${TRIGGER_COLUMNS} FROM background_tasks.triggers g WHERE g.task_id = $1 ORDER BY g.id FOR UPDATE`,
      [taskId],
    );
    const unmatched = [...existing];
    for (const state of wanted) {
      const key = specKey(state.spec);
      const i = unmatched.findIndex((row) => specKey(specOf(row)) === key);
      if (i >= 0) unmatched.splice(i, 1);
      else await this.#insertTrigger(client, taskId, state, priority, now);
    }
    if (unmatched.length > 0) {
      await query(client, 'DELETE FROM background_tasks.triggers WHERE id = ANY($1::bigint[])', [
        unmatched.map((row) => row.id),
      ]);
    }
  }

  getTask(id: number): Promise<Task | undefined> {
    return this.#read((client) => readTask(client, id));
  }

  listTasks({ limit, afterId }: { limit: number; afterId: number }): Promise<Task[]> {
    return this.#read(async (client) => {
      const rows = await query<TaskRow>(
        client,
        `SELECT ${TASK_COLUMNS} FROM background_tasks.tasks t WHERE t.id > $1 ORDER BY t.id LIMIT $2`,
        [afterId, limit],
      );
      if (rows.length === 0) return [];
      const triggerRows = await query<TriggerRow>(
        client,
        `SELECT ${TRIGGER_COLUMNS} FROM background_tasks.triggers g WHERE g.task_id = ANY($1::bigint[]) ORDER BY g.id`,
        [rows.map((row) => row.id)],
      );
      return rows.map((row) =>
        toTask(
          row,
          triggerRows.filter((t) => t.taskId === row.id),
        ),
      );
    });
  }

  removeTask(id: number, now: number): Promise<boolean> {
    return this.#tx(async (client) => {
      await query(
        client,
        `UPDATE background_tasks.executions SET status = 'cancelled', ended_at = $2, duration_ms = $2 - started_at,
           error = 'task removed'
         WHERE status = 'running'
           AND id IN (SELECT execution_id FROM background_tasks.runs WHERE task_id = $1 AND state = 'running')`,
        [id, now],
      );
      const removed = await query(client, 'DELETE FROM background_tasks.tasks WHERE id = $1 RETURNING id', [id]);
      return removed.length > 0;
    });
  }

  setPaused(id: number, paused: boolean, now: number): Promise<boolean> {
    return this.#tx(async (client) => {
      const rows = await query(
        client,
        'UPDATE background_tasks.tasks SET paused = $2, updated_at = $3 WHERE id = $1 RETURNING id',
        [id, paused, now],
      );
      return rows.length > 0;
    }, !paused);
  }

  enqueueRun(taskId: number, now: number): Promise<boolean> {
    return this.#tx(async (client) => {
      const rows = await query(
        client,
        `INSERT INTO background_tasks.runs (task_id, reason, state, priority, due_at, created_at)
         SELECT id, 'manual', 'waiting', priority, $2, $2 FROM background_tasks.tasks WHERE id = $1 RETURNING id`,
        [taskId, now],
      );
      return rows.length > 0;
    }, true);
  }

  fireEvent(name: string, payloadJson: string | null, now: number): Promise<number> {
    return this.#tx(async (client) => {
      // One run per listening task, even if it listens to the event twice.
      const inserted = await query(
        client,
        `INSERT INTO background_tasks.runs (task_id, trigger_id, reason, event_name, event_payload, state, priority,
                                            due_at, created_at)
         SELECT g.task_id, min(g.id), 'event', $1, $2, 'waiting', t.priority, $3, $3
         FROM background_tasks.triggers g JOIN background_tasks.tasks t ON t.id = g.task_id
         WHERE g.kind = 'event' AND g.event_name = $1
         GROUP BY g.task_id, t.priority ORDER BY g.task_id RETURNING id`,
        [name, payloadJson, now],
      );
      await query(
        client,
        `UPDATE background_tasks.triggers SET fire_count = fire_count + 1, last_fired_at = $2
         WHERE kind = 'event' AND event_name = $1`,
        [name, now],
      );
      return inserted.length;
    }, true);
  }

  async cycle(params: CycleParams): Promise<CycleResult> {
    const { now, completions } = params;
    const wanted = params.claim;
    const wantClaims = wanted !== null && wanted.limit > 0;
    // Most wakes find nothing due: one read answers that, without a transaction.
    let seen = completions.length === 0 ? await this.#read((client) => look(client, now)) : null;
    if (seen !== null && !seen.triggerDue && !(wantClaims && seen.runReady)) {
      return { completed: [], fired: { runs: 0, broken: [] }, claims: [], nextWakeAt: seen.nextWakeAt };
    }
    return this.#tx(async (client) => {
      const completed = await complete(client, completions);
      seen ??= await look(client, now);
      const fired = seen.triggerDue ? await fireDue(client, now, params.plan, params.triggerLimit) : noFires();
      const claims = wanted !== null && wantClaims ? await claim(client, { ...wanted, now }) : [];
      // Claims take runs already due, so only firing (which moves triggers on) changes the next wake.
      if (seen.triggerDue) seen = await look(client, now);
      // Runs made or put back that this node did not take: the others are told at commit.
      const made = fired.runs > claims.length || completions.some((c, i) => completed[i] && c.next.kind === 'again');
      if (made) await query(client, 'SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, this.#id], 'bt_notify');
      return { completed, fired, claims, nextWakeAt: seen.nextWakeAt };
    });
  }

  completeRun(params: CompleteRunParams): Promise<boolean> {
    return this.#tx(async (client) => (await complete(client, [params]))[0]!);
  }

  runningRuns(): Promise<RunningRun[]> {
    return this.#read(async (client) => {
      const rows = await query<{
        runId: number;
        executionId: number | null;
        attempt: number;
        interruptions: number;
        owner: string | null;
        ownerHost: string | null;
        ownerPid: number | null;
        leaseExpiresAt: number | null;
        maxRetries: number | null;
        retryDelayMs: number | null;
        retryBackoff: 'fixed' | 'exponential' | null;
        retryMaxDelayMs: number | null;
      }>(
        client,
        `SELECT r.id AS "runId", r.execution_id AS "executionId", r.attempt, r.interruptions, r.owner,
                r.owner_host AS "ownerHost", r.owner_pid AS "ownerPid", r.lease_expires_at AS "leaseExpiresAt",
                ${RETRY_COLUMNS}
         FROM background_tasks.runs r JOIN background_tasks.tasks t ON t.id = r.task_id WHERE r.state = 'running'`,
        [],
        'bt_running_runs',
      );
      return rows.map((row) => ({
        runId: row.runId,
        executionId: row.executionId ?? 0,
        attempt: row.attempt,
        interruptions: row.interruptions,
        owner: { id: row.owner ?? '', host: row.ownerHost ?? '', pid: row.ownerPid ?? 0 },
        leaseExpiresAt: row.leaseExpiresAt ?? 0,
        retryPolicy: retryPolicyOf(row),
      }));
    });
  }

  renewLeases(ownerId: string, until: number): Promise<void> {
    return this.#read(async (client) => {
      await query(
        client,
        "UPDATE background_tasks.runs SET lease_expires_at = $2 WHERE state = 'running' AND owner = $1",
        [ownerId, until],
        'bt_renew_leases',
      );
    });
  }

  rebaseAfterClockJump(
    now: number,
    jumpMs: number,
    replan: (state: TriggerState) => TriggerState | null,
  ): Promise<number> {
    return this.#tx(async (client) => {
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
    }, true);
  }

  latestRecordedTime(): Promise<number | null> {
    return this.#read(async (client) => {
      const [row] = await query<{ latest: number | null }>(
        client,
        `SELECT greatest(
           (SELECT started_at FROM background_tasks.executions ORDER BY id DESC LIMIT 1),
           (SELECT created_at FROM background_tasks.runs ORDER BY id DESC LIMIT 1),
           (SELECT greatest(created_at, updated_at) FROM background_tasks.tasks ORDER BY id DESC LIMIT 1)) AS latest`,
      );
      return row?.latest ?? null;
    });
  }

  unservedHandlers(now: number, handlers: string[]): Promise<string[]> {
    return this.#read(async (client) => {
      const rows = await query<{ handler: string }>(
        client,
        `SELECT DISTINCT t.handler FROM background_tasks.runs r JOIN background_tasks.tasks t ON t.id = r.task_id
         WHERE r.state = 'waiting' AND r.due_at <= $1 AND t.module IS NULL AND t.handler <> ALL($2::text[])
         LIMIT 20`,
        [now, handlers],
      );
      return rows.map((row) => row.handler);
    });
  }

  executions(filter: ExecutionFilter & { limit: number }): Promise<Execution[]> {
    return this.#read(async (client) => {
      const rows = await query<ExecutionRow>(
        client,
        `SELECT ${EXECUTION_COLUMNS} FROM background_tasks.executions
         WHERE ($1::bigint IS NULL OR task_id = $1) AND ($2::text IS NULL OR status = $2)
           AND ($3::bigint IS NULL OR id < $3) AND ($4::bigint IS NULL OR started_at >= $4)
         ORDER BY id DESC LIMIT $5`,
        [filter.taskId ?? null, filter.status ?? null, filter.beforeId ?? null, filter.since ?? null, filter.limit],
      );
      return rows.map(toExecution);
    });
  }

  pruneExecutions({
    endedBefore,
    keepLast,
    limit,
  }: {
    endedBefore: number | null;
    keepLast: number | null;
    limit: number;
  }): Promise<number> {
    return this.#read(async (client) => {
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
    });
  }

  /** PostgreSQL's autovacuum gives dead rows' space back; nothing to do here. */
  async compact(): Promise<void> {}

  saveScheduler(owner: Owner, handlers: string[], now: number): Promise<void> {
    return this.#read(async (client) => {
      await query(
        client,
        `INSERT INTO background_tasks.schedulers (id, host, pid, handlers, started_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (id) DO UPDATE SET handlers = excluded.handlers, last_seen_at = excluded.last_seen_at`,
        [owner.id, owner.host, owner.pid, JSON.stringify(handlers), now],
      );
    });
  }

  removeScheduler(ownerId: string, staleBefore: number): Promise<void> {
    return this.#read(async (client) => {
      await query(client, 'DELETE FROM background_tasks.schedulers WHERE id = $1 OR last_seen_at < $2', [
        ownerId,
        staleBefore,
      ]);
    });
  }

  schedulers(): Promise<SchedulerInfo[]> {
    return this.#read(async (client) => {
      const rows = await query<Omit<SchedulerInfo, 'handlers'> & { handlers: string }>(
        client,
        `SELECT id, host, pid, handlers, started_at AS "startedAt", last_seen_at AS "lastSeenAt"
         FROM background_tasks.schedulers ORDER BY last_seen_at DESC`,
      );
      return rows.map((row) => ({ ...row, handlers: JSON.parse(row.handlers) as string[] }));
    });
  }

  runs({ taskId, readyAt, limit }: { taskId?: number; readyAt?: number; limit: number }): Promise<RunInfo[]> {
    return this.#read((client) =>
      query<RunInfo>(
        client,
        `SELECT id, task_id AS "taskId", reason, state, due_at AS "dueAt", attempt, interruptions, owner
         FROM background_tasks.runs
         WHERE ($1::bigint IS NULL OR task_id = $1) AND ($2::bigint IS NULL OR (state = 'waiting' AND due_at <= $2))
         ORDER BY due_at, id LIMIT $3`,
        [taskId ?? null, readyAt ?? null, limit],
      ),
    );
  }

  countReady(now: number, limit: number): Promise<number> {
    return this.#read(async (client) => {
      const [row] = await query<{ count: number }>(
        client,
        `SELECT count(*)::int AS count FROM (SELECT 1 FROM background_tasks.runs
                                             WHERE state = 'waiting' AND due_at <= $1 LIMIT $2) ready`,
        [now, limit],
      );
      return row?.count ?? 0;
    });
  }

  taskIdByKey(key: string): Promise<number | undefined> {
    return this.#read(async (client) => {
      const [row] = await query<{ id: number }>(client, 'SELECT id FROM background_tasks.tasks WHERE key = $1', [key]);
      return row?.id;
    });
  }

  taskCounts(taskIds: number[]): Promise<Map<number, TaskCounts>> {
    return this.#read(async (client) => {
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
    });
  }

  inspect(): Promise<DatabaseInfo> {
    return this.#read(async (client) => {
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
        fileBytes: size?.bytes ?? 0,
        walBytes: 0,
        freePages: 0,
      };
    });
  }

  watchOthers(onChange: () => void): () => void {
    this.#watchers.add(onChange);
    if (this.#watchers.size === 1) {
      this.#ready.then(
        () => this.#listen(),
        () => undefined,
      );
    }
    return () => this.#watchers.delete(onChange);
  }

  /**
   * A connection of its own LISTENs for other nodes' notices; lost, it is
   * opened again a second later. Meanwhile the loop's timer (at most 10 s) is the
   * fallback.
   */
  async #listen(): Promise<void> {
    if (this.#listener !== undefined || this.#closed || this.#watchers.size === 0) return;
    let client: PoolClient;
    try {
      client = await this.#connect();
    } catch {
      setTimeout(() => void this.#listen(), RELISTEN_MS).unref();
      return;
    }
    const lost = (): void => {
      if (this.#listener?.client !== client) return;
      this.#listener = undefined;
      client.release(new Error('listener lost'));
      if (!this.#closed) setTimeout(() => void this.#listen(), RELISTEN_MS).unref();
    };
    this.#listener = { client, release: () => client.release(true) };
    client.on('notification', (message) => {
      if (message.payload === this.#id) return;
      for (const watcher of this.#watchers) watcher();
    });
    client.on('error', lost);
    client.on('end', lost);
    try {
      await query(client, `LISTEN ${NOTIFY_CHANNEL}`);
    } catch {
      lost();
      return;
    }
    // Work made while no one listened would otherwise wait for the timer.
    for (const watcher of this.#watchers) watcher();
  }

  opened(): Promise<void> {
    return this.#ready;
  }

  checkHealth(): Promise<void> {
    // Each heartbeat refines the agreed clock (the fastest round trips weigh most).
    return this.#read((client) => this.#measureClock(client, 1));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#ready.catch(() => undefined);
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.release();
    if (this.#ownsPool) await this.#pool?.end();
  }
}

async function readTask(client: Queryable, id: number): Promise<Task | undefined> {
  const [row] = await query<TaskRow>(client, `SELECT ${TASK_COLUMNS} FROM background_tasks.tasks t WHERE t.id = $1`, [
    id,
  ]);
  if (!row) return undefined;
  const triggerRows = await query<TriggerRow>(
    client,
    `SELECT ${TRIGGER_COLUMNS} FROM background_tasks.triggers g WHERE g.task_id = $1 ORDER BY g.id`,
    [id],
  );
  return toTask(row, triggerRows);
}

function noFires(): FireResult {
  return { runs: 0, broken: [] };
}
