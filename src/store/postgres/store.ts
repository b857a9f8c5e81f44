import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { DatabaseError } from '../../errors.js';
import type { Execution, ExecutionFilter } from '../../execution.js';
import type { NewTaskWithSchedule, Task } from '../../task.js';
import type { TriggerState } from '../../triggers/schedule.js';
import { toRunningRun, triggerState, type RunningRow, type TriggerRow } from '../rows.js';
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
  toPgDatabaseError,
  type PgPool,
  type Queryable,
} from './connection.js';
import { RETRY_COLUMNS, TRIGGER_COLUMNS } from '../columns.js';
import { claim, complete, fireDue, look } from './cycle.js';
import { inspect, pruneExecutions, readExecutions, taskCounts } from './history.js';
import { addTask, listTasks, readTask } from './tasks.js';

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
  readonly #target: string | PgPool;
  readonly #options: PgStoreOptions;
  #pool: PgPool | undefined;
  #opening: Promise<void> | undefined;
  #isOpen = false;
  /** The listening connection; 'connecting' while it is being opened. */
  #listener: PoolClient | 'connecting' | undefined;
  #watchers = new Set<() => void>();
  #closed = false;

  constructor(target: string | PgPool, options: PgStoreOptions = {}) {
    this.#target = target;
    this.#options = options;
    // Reported by the first method that waits for it, not as an unhandled rejection.
    this.#ready().catch(() => undefined);
  }

  /**
   * Opens (connects, migrates, reads the server's clock) once. If that fails, as
   * when the server is down, the error goes to the callers of the moment, and the
   * next call tries again.
   */
  #ready(): Promise<void> {
    if (this.#isOpen) return Promise.resolve();
    this.#opening ??= track(this.#open()).then(
      () => {
        this.#isOpen = true;
        if (this.#watchers.size > 0) void this.#listen();
      },
      (err: unknown) => {
        this.#opening = undefined;
        throw err;
      },
    );
    return this.#opening;
  }

  async #open(): Promise<void> {
    this.#pool ??= await this.#createPool();
    const client = await this.#connect();
    try {
      await migratePostgres(client);
      await this.#measureClock(client, 3);
    } finally {
      client.release();
    }
  }

  async #createPool(): Promise<PgPool> {
    // Loaded with a pool of the application's too: its type parsers are the base of ours.
    const pg = await loadPg();
    if (typeof this.#target !== 'string') return this.#target;
    const settings = [`-c lock_timeout=${this.#options.lockTimeout ?? 5000}`];
    if (this.#options.durability === 'normal') settings.push('-c synchronous_commit=off');
    const pool = new pg.Pool({
      connectionString: this.#target,
      max: POOL_SIZE,
      options: settings.join(' '),
      application_name: 'background-tasks',
    });
    // An idle client's lost connection: the next query on the pool reports it.
    pool.on('error', () => undefined);
    return pool;
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
    await this.#ready();
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
    return track(this.#ready().then(() => fn(this.#pool!)));
  }

  async addTasks(batch: NewTaskWithSchedule[], now: number): Promise<{ task: Task; created: boolean }[]> {
    const added = await this.#tx(async (client) => {
      const results: { task: Task; created: boolean }[] = [];
      for (const task of batch) results.push(await addTask(client, task, now));
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

  getTask(id: number): Promise<Task | undefined> {
    return this.#read((client) => readTask(client, id));
  }

  listTasks({ limit, afterId }: { limit: number; afterId: number }): Promise<Task[]> {
    return this.#read((client) => listTasks(client, limit, afterId));
  }

  removeTask(id: number, now: number): Promise<boolean> {
    return this.#tx(async (client) => {
      // Locked first: a claim of this task committing meanwhile is then seen, and its
      // execution recorded cancelled rather than left running.
      await query(client, 'SELECT id FROM background_tasks.tasks WHERE id = $1 FOR UPDATE', [id]);
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
        `WITH task AS (SELECT id, priority FROM background_tasks.tasks WHERE id = $1 FOR KEY SHARE)
         INSERT INTO background_tasks.runs (task_id, reason, state, priority, due_at, created_at)
         SELECT id, 'manual', 'waiting', priority, $2, $2 FROM task RETURNING id`,
        [taskId, now],
      );
      return rows.length > 0;
    }, true);
  }

  fireEvent(name: string, payloadJson: string | null, now: number): Promise<number> {
    return this.#tx(async (client) => {
      // One run per listening task, even if it listens to the event twice. Each task
      // is held KEY SHARE, so that a removal at the same moment waits, or is seen.
      const inserted = await query(
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
    });
  }

  renewLeases(ownerId: string, until: number): Promise<number[]> {
    return this.#read(async (client) => {
      const rows = await query<{ id: number }>(
        client,
        "UPDATE background_tasks.runs SET lease_expires_at = $2 WHERE state = 'running' AND owner = $1 RETURNING id",
        [ownerId, until],
        'bt_renew_leases',
      );
      return rows.map((row) => row.id);
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
    return this.#read((client) => readExecutions(client, filter));
  }

  pruneExecutions(params: { endedBefore: number | null; keepLast: number | null; limit: number }): Promise<number> {
    return this.#read((client) => pruneExecutions(client, params));
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
    return this.#read((client) => taskCounts(client, taskIds));
  }

  inspect(): Promise<DatabaseInfo> {
    return this.#read((client) => inspect(client));
  }

  watchOthers(onChange: () => void): () => void {
    this.#watchers.add(onChange);
    // Before the store is open, it starts listening once it is.
    if (this.#isOpen) void this.#listen();
    return () => this.#watchers.delete(onChange);
  }

  /**
   * A connection of its own LISTENs for other nodes' notices. Lost (the server
   * restarted, the connection was cut), it is opened again a second later;
   * meanwhile the loop's timer (at most 10 s) is the fallback.
   */
  async #listen(): Promise<void> {
    if (this.#listener !== undefined || this.#closed || this.#watchers.size === 0) return;
    const again = () => {
      if (!this.#closed) setTimeout(() => void this.#listen(), RELISTEN_MS).unref();
    };
    this.#listener = 'connecting';
    let client: PoolClient;
    try {
      client = await this.#connect();
    } catch {
      this.#listener = undefined;
      again();
      return;
    }
    if (this.#closed) {
      client.release(true);
      return;
    }
    this.#listener = client;
    const lost = (): void => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      client.release(new Error('the listening connection was lost'));
      again();
    };
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
    return this.#ready();
  }

  checkHealth(): Promise<void> {
    // Each heartbeat refines the agreed clock (the fastest round trips weigh most).
    return this.#read((client) => this.#measureClock(client, 1));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#opening?.catch(() => undefined);
    const listener = this.#listener;
    this.#listener = undefined;
    if (typeof listener === 'object') listener.release(true);
    // A pool the application passed in stays the application's to end.
    if (typeof this.#target === 'string') await this.#pool?.end();
  }
}

function noFires(): FireResult {
  return { runs: 0, broken: [] };
}
