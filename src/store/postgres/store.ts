import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { DatabaseError } from '../../errors.js';
import type { Execution } from '../../execution.js';
import type { Group, GroupInfo } from '../../flow.js';
import type { Task } from '../../task.js';
import type * as Params from '../params.js';
import type {
  ActivityBucket,
  CompleteRunParams,
  CycleParams,
  CycleResult,
  DatabaseInfo,
  RunInfo,
  RunningRun,
  ReadyLimited,
  RunOutcome,
  SchedulerInfo,
  Store,
  TaskCounts,
} from '../store.js';
import { track } from '../in-flight.js';
import { AgreedClock } from './agreed-clock.js';
import {
  migratePostgres,
  NOTIFY_CHANNEL,
  query,
  readServerClock,
  toPgDatabaseError,
  type PgPool,
  type Queryable,
} from './connection.js';
import { complete } from './cycle.js';
import { defineGroup, groupsOf, readyLimited, recentStarts } from './groups.js';
import { wake } from './wake.js';
import { activity, inspect, pruneExecutions, readExecutions, runOutcome, taskCounts } from './history.js';
import {
  countReady,
  latestRecordedTime,
  removeScheduler,
  runsOf,
  saveScheduler,
  schedulersOf,
  taskIdByKey,
  readyByConditions,
  unservedHandlers,
} from './operators.js';
import {
  enqueueRun,
  redrive,
  redriveFailed,
  fireEvent,
  rebaseAfterClockJump,
  removeTask,
  renewLeases,
  runningRuns,
  setPaused,
} from './runs.js';
import { Listener } from './listener.js';
import { openPool, type PgStoreOptions } from './pool.js';

export type { PgStoreOptions } from './pool.js';
import { addTask, addTaskOnce, listTasks, readTask } from './tasks.js';

/** Tries of a transaction that meets a deadlock or a lock timeout. */
const LOCKED_ATTEMPTS = 3;
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
  readonly #listener = new Listener(() => this.#connect(), this.#id);
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
        if (this.#listener.watched) void this.#listener.listen();
      },
      (err: unknown) => {
        this.#opening = undefined;
        throw err;
      },
    );
    return this.#opening;
  }

  async #open(): Promise<void> {
    this.#pool ??= await openPool(this.#target, this.#options);
    const client = await this.#connect();
    try {
      await migratePostgres(client);
      await this.#measureClock(client, 3);
    } finally {
      client.release();
    }
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
   * With `notifyOthers`, the other nodes are told at commit that there is work.
   */
  #tx<T>(fn: (client: PoolClient) => Promise<T>, { notifyOthers = false } = {}): Promise<T> {
    return track(this.#transaction(fn, notifyOthers));
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

  /** Runs `fn` on the pool, outside a transaction: reads, and writes of one statement. */
  #pooled<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    return track(this.#ready().then(() => fn(this.#pool!)));
  }

  async addTasks({ tasks: batch, now }: Params.AddTasksParams): Promise<{ task: Task; created: boolean }[]> {
    const added = await this.#tx(
      async (client) => {
        const results: { task: Task; created: boolean }[] = [];
        for (const task of batch) results.push(await addTask(client, task, now));
        return results;
      },
      { notifyOthers: true },
    );
    // Statistics as of before a bulk load would have the planner sort every ready run
    // at each claim instead of walking the claim-order index, until autovacuum
    // analyzes (up to a minute later). A few milliseconds now saves that.
    if (batch.length >= ANALYZE_AFTER_TASKS) {
      await this.#pooled((client) =>
        query(client, 'ANALYZE background_tasks.tasks, background_tasks.triggers, background_tasks.runs'),
      );
    }
    return added;
  }

  addTaskOnce({ task, now }: Params.AddTaskOnceParams): Promise<{ task: Task | null; created: boolean }> {
    return this.#tx((client) => addTaskOnce(client, task, now), { notifyOthers: true });
  }

  getTask(id: number): Promise<Task | undefined> {
    return this.#pooled((client) => readTask(client, id));
  }

  listTasks({ limit, afterId }: Params.ListTasksParams): Promise<Task[]> {
    return this.#pooled((client) => listTasks(client, limit, afterId));
  }

  removeTask({ taskId, now }: Params.TaskAt): Promise<boolean> {
    return this.#tx((client) => removeTask(client, taskId, now));
  }

  setPaused({ taskId, paused, now }: Params.SetPausedParams): Promise<boolean> {
    // A task resumed has runs that other nodes may take.
    return this.#tx((client) => setPaused(client, taskId, paused, now), { notifyOthers: !paused });
  }

  enqueueRun({ taskId, now }: Params.TaskAt): Promise<number | null> {
    return this.#tx((client) => enqueueRun(client, taskId, now), { notifyOthers: true });
  }

  redrive(params: Params.RedriveParams): Promise<Params.RedriveResult> {
    return this.#tx((client) => redrive(client, params), { notifyOthers: true });
  }

  redriveFailed(params: Params.RedriveFailedParams): Promise<number> {
    return this.#tx((client) => redriveFailed(client, params), { notifyOthers: true });
  }

  fireEvent(params: Params.FireEventParams): Promise<number[]> {
    return this.#tx((client) => fireEvent(client, params), { notifyOthers: true });
  }

  defineGroup(params: Params.DefineGroupParams): Promise<Group> {
    // A limit raised may let other nodes start what they hold back.
    return this.#tx((client) => defineGroup(client, params), { notifyOthers: true });
  }

  groups(): Promise<GroupInfo[]> {
    return this.#pooled((client) => groupsOf(client));
  }

  recentStarts(params: Params.RecentStartsParams): Promise<Map<string, number[]>> {
    return this.#pooled((client) => recentStarts(client, params));
  }

  readyLimited({ now }: { now: number }): Promise<ReadyLimited[]> {
    return this.#pooled((client) => readyLimited(client, now));
  }

  cycle(params: CycleParams): Promise<CycleResult> {
    return wake(params, {
      read: (fn) => this.#pooled(fn),
      transaction: (fn) => this.#tx(fn),
      selfId: this.#id,
    });
  }

  completeRun(params: CompleteRunParams): Promise<boolean> {
    return this.#tx(async (client) => (await complete(client, [params]))[0]!);
  }

  runningRuns(): Promise<RunningRun[]> {
    return this.#pooled((client) => runningRuns(client));
  }

  renewLeases({ owner: ownerId, until }: Params.RenewLeasesParams): Promise<number[]> {
    return this.#pooled((client) => renewLeases(client, ownerId, until));
  }

  rebaseAfterClockJump({ now, jumpMs, replan }: Params.RebaseParams): Promise<number> {
    return this.#tx((client) => rebaseAfterClockJump(client, now, jumpMs, replan), { notifyOthers: true });
  }

  latestRecordedTime(): Promise<number | null> {
    return this.#pooled((client) => latestRecordedTime(client));
  }

  readyByConditions({ now }: { now: number }): Promise<{ conditionsJson: string; runs: number }[]> {
    return this.#pooled((client) => readyByConditions(client, now));
  }

  unservedHandlers({ now, handlers }: Params.UnservedParams): Promise<string[]> {
    return this.#pooled((client) => unservedHandlers(client, now, handlers));
  }

  executions(filter: Params.ExecutionsParams): Promise<Execution[]> {
    return this.#pooled((client) => readExecutions(client, filter));
  }

  runOutcome(runId: number): Promise<RunOutcome> {
    return this.#pooled((client) => runOutcome(client, runId));
  }

  pruneExecutions(params: Params.PruneParams): Promise<number> {
    return this.#pooled((client) => pruneExecutions(client, params));
  }

  /** PostgreSQL's autovacuum gives dead rows' space back; nothing to do here. */
  async reclaimSpace(): Promise<void> {}

  saveScheduler(params: Params.SaveSchedulerParams): Promise<void> {
    return this.#pooled((client) => saveScheduler(client, params));
  }

  removeScheduler({ owner: ownerId, staleBefore }: Params.RemoveSchedulerParams): Promise<void> {
    return this.#pooled((client) => removeScheduler(client, ownerId, staleBefore));
  }

  schedulers(): Promise<SchedulerInfo[]> {
    return this.#pooled((client) => schedulersOf(client));
  }

  runs(params: Params.RunsParams): Promise<RunInfo[]> {
    return this.#pooled((client) => runsOf(client, params));
  }

  countReady({ now, limit }: Params.CountReadyParams): Promise<number> {
    return this.#pooled((client) => countReady(client, now, limit));
  }

  taskIdByKey(key: string): Promise<number | undefined> {
    return this.#pooled((client) => taskIdByKey(client, key));
  }

  activity({ since, bucketMs }: { since: number; bucketMs: number }): Promise<ActivityBucket[]> {
    return this.#pooled((client) => activity(client, since, bucketMs));
  }

  taskCounts(taskIds: number[]): Promise<Map<number, TaskCounts>> {
    return this.#pooled((client) => taskCounts(client, taskIds));
  }

  inspect(): Promise<DatabaseInfo> {
    return this.#pooled((client) => inspect(client));
  }

  watchOthers(onChange: () => void): () => void {
    const unwatch = this.#listener.add(onChange);
    // Before the store is open, it starts listening once it is.
    if (this.#isOpen) void this.#listener.listen();
    return unwatch;
  }

  opened(): Promise<void> {
    return this.#ready();
  }

  checkHealth(): Promise<void> {
    // Each heartbeat refines the agreed clock (the fastest round trips weigh most).
    return this.#pooled((client) => this.#measureClock(client, 1));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#opening?.catch(() => undefined);
    this.#listener.close();
    // A pool the application passed in stays the application's to end.
    if (typeof this.#target === 'string') await this.#pool?.end();
  }
}
