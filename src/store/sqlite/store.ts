import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { and, eq, sql } from 'drizzle-orm';
import { earliest } from '../../clock.js';
import { DatabaseError, toDatabaseError } from '../../errors.js';
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
  FireResult,
  RunInfo,
  SchedulerInfo,
  RunningRun,
  RunOutcome,
  ReadyLimited,
  Store,
  TaskCounts,
} from '../store.js';
import { openSqlite, type OpenOptions, type SqliteDb } from './open.js';
import { toRunningRun } from '../rows.js';
import { runs } from './schema.js';
import { claim, complete, fireDue, nextWake } from './cycle.js';
import { defineGroup, groupsOf, readyLimited, recentStarts } from './groups.js';
import { prepareStatements, type Statements } from './statements.js';
import {
  executionsOf,
  inspect,
  pruneCandidates,
  removeScheduler,
  runOutcome,
  runsOf,
  saveScheduler,
  schedulersOf,
  activity,
  taskCounts,
  readyByConditions,
  unservedHandlers,
} from './history.js';
import {
  addTask,
  enqueueRun,
  redrive,
  redriveFailed,
  addTaskOnce,
  fireEvent,
  listTasks,
  readTask,
  rebaseAfterClockJump,
  removeTask,
  setPaused,
} from './tasks.js';

/** Tries of a write transaction that finds the database locked beyond the busy timeout. */
const BUSY_ATTEMPTS = 3;
const BUSY_BACKOFF_MS = 100;
/**
 * How often to ask SQLite whether another process committed (a new task, an
 * event, a run queued by the CLI). A real timer, not the injected clock: it only
 * decides when to look, never what is due.
 */
const WATCH_OTHERS_MS = 1_000;

function isLocked(error: unknown): boolean {
  return error instanceof DatabaseError && error.code === 'DATABASE_LOCKED';
}

/**
 * The store on one SQLite file. better-sqlite3 is synchronous: each method runs
 * one transaction to its end before it returns, and the loop's whole wake
 * (recording finished runs, firing due triggers, claiming) is one transaction,
 * so that full durability costs one disk sync per wake, not one per run.
 */
export class SqliteStore implements Store {
  readonly #sqlite: Database.Database;
  readonly #db: SqliteDb;
  readonly #q: Statements;
  readonly #immediate: (fn: () => unknown) => unknown;

  readonly #file: { path: string; ino: number } | null;
  #dataVersion: number;

  constructor(filename: string, options: OpenOptions = {}) {
    const { sqlite, db } = openSqlite(filename, options);
    this.#file = sqlite.memory ? null : { path: filename, ino: statSync(filename).ino };
    this.#dataVersion = sqlite.pragma('data_version', { simple: true }) as number;
    this.#sqlite = sqlite;
    this.#db = db;
    this.#q = prepareStatements(sqlite);
    const transaction = sqlite.transaction((fn: () => unknown) => fn());
    this.#immediate = (fn) => transaction.immediate(fn);
  }

  /**
   * Runs `fn` in a write transaction taken at BEGIN (BEGIN IMMEDIATE), so readers
   * never have to upgrade their lock. SQLite's busy timeout waits for another
   * process's lock; if that runs out, the transaction is retried a few times
   * before the caller gets DATABASE_LOCKED. Drizzle queries on `db` inside `fn`
   * run on the same connection, inside the transaction.
   */
  async #write<T>(fn: (db: SqliteDb) => T): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return this.#immediate(() => fn(this.#db)) as T;
      } catch (err) {
        const error = toDatabaseError(err);
        if (!isLocked(error) || attempt >= BUSY_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, BUSY_BACKOFF_MS * attempt * (0.5 + Math.random())));
      }
    }
  }

  /** Runs `fn` outside a write transaction: reads, and pragmas that manage the file. */
  #direct<T>(fn: (db: SqliteDb) => T): Promise<T> {
    try {
      return Promise.resolve(fn(this.#db));
    } catch (err) {
      return Promise.reject(toDatabaseError(err));
    }
  }

  addTasks({ tasks, now }: Params.AddTasksParams): Promise<{ task: Task; created: boolean }[]> {
    return this.#write((db) => tasks.map((task) => addTask(db, this.#q, task, now)));
  }

  addTaskOnce({ task, now }: Params.AddTaskOnceParams): Promise<{ task: Task | null; created: boolean }> {
    return this.#write((db) => addTaskOnce(db, this.#q, task, now));
  }

  getTask(id: number): Promise<Task | undefined> {
    return this.#direct((db) => readTask(db, id));
  }

  listTasks(page: Params.ListTasksParams): Promise<Task[]> {
    return this.#direct((db) => listTasks(db, page));
  }

  removeTask({ taskId, now }: Params.TaskAt): Promise<boolean> {
    return this.#write((db) => removeTask(db, taskId, now));
  }

  setPaused({ taskId, paused, now }: Params.SetPausedParams): Promise<boolean> {
    return this.#write((db) => setPaused(db, taskId, paused, now));
  }

  enqueueRun({ taskId, now }: Params.TaskAt): Promise<number | null> {
    return this.#write((db) => enqueueRun(db, taskId, now));
  }

  redrive(params: Params.RedriveParams): Promise<Params.RedriveResult> {
    return this.#write((db) => redrive(db, params));
  }

  redriveFailed(params: Params.RedriveFailedParams): Promise<number> {
    return this.#write((db) => redriveFailed(db, params));
  }

  fireEvent(params: Params.FireEventParams): Promise<number[]> {
    return this.#write((db) => fireEvent(db, params));
  }

  defineGroup(params: Params.DefineGroupParams): Promise<Group> {
    return this.#write((db) => defineGroup(db, params));
  }

  groups(): Promise<GroupInfo[]> {
    return this.#direct((db) => groupsOf(db));
  }

  recentStarts(params: Params.RecentStartsParams): Promise<Map<string, number[]>> {
    return this.#direct((db) => recentStarts(db, params));
  }

  readyLimited({ now }: { now: number }): Promise<ReadyLimited[]> {
    return this.#direct((db) => readyLimited(db, now));
  }

  cycle(params: CycleParams): Promise<CycleResult> {
    const { now, completions } = params;
    const q = this.#q;
    const wanted = params.claim;
    // Even with no handler registered: module tasks need none.
    const wantClaims = wanted !== null && wanted.limit > 0;
    const work =
      completions.length > 0 ||
      q.anyTriggerDue.get(now) !== undefined ||
      (wantClaims && q.anyRunReady.get(now) !== undefined);
    const empty: FireResult = { runs: 0, broken: [] };
    if (!work) return this.#direct(() => ({ completed: [], fired: empty, claims: [], nextWakeAt: nextWake(q, now) }));
    return this.#write(() => {
      const completed = completions.map((completion) => complete(q, completion));
      const fired = fireDue(q, now, params.plan, params.triggerLimit);
      const batch = wanted !== null && wantClaims ? claim(q, { ...wanted, now }) : { claims: [], retryAt: null };
      return { completed, fired, claims: batch.claims, nextWakeAt: earliest(nextWake(q, now), batch.retryAt) };
    });
  }

  completeRun(params: CompleteRunParams): Promise<boolean> {
    return this.#write(() => complete(this.#q, params));
  }

  runningRuns(): Promise<RunningRun[]> {
    return this.#direct(() => this.#q.runningRuns.all().map(toRunningRun));
  }

  renewLeases({ owner: ownerId, until }: Params.RenewLeasesParams): Promise<number[]> {
    return this.#write((tx) =>
      tx
        .update(runs)
        .set({ leaseExpiresAt: until })
        .where(and(sql`${runs.state} = 'running'`, eq(runs.owner, ownerId)))
        .returning({ id: runs.id })
        .all()
        .map((row) => row.id),
    );
  }

  rebaseAfterClockJump({ now, jumpMs, replan }: Params.RebaseParams): Promise<number> {
    return this.#write((db) => rebaseAfterClockJump(db, now, jumpMs, replan));
  }

  latestRecordedTime(): Promise<number | null> {
    return this.#direct(() => {
      const row = this.#q.latestRecorded.get()!;
      const times = [row.execution, row.run, row.task].filter((t): t is number => t !== null);
      return times.length === 0 ? null : Math.max(...times);
    });
  }

  readyByConditions({ now }: { now: number }): Promise<{ conditionsJson: string; runs: number }[]> {
    return this.#direct((db) => readyByConditions(db, now));
  }

  unservedHandlers({ now, handlers }: Params.UnservedParams): Promise<string[]> {
    return this.#direct((db) => unservedHandlers(db, now, handlers));
  }

  executions(filter: Params.ExecutionsParams): Promise<Execution[]> {
    return this.#direct((db) => executionsOf(db, filter));
  }

  runOutcome(runId: number): Promise<RunOutcome> {
    // One read transaction: an attempt's end and its run's removal commit together.
    return this.#direct((db) => this.#sqlite.transaction(() => runOutcome(db, runId)).deferred());
  }

  async pruneExecutions(params: Params.PruneParams): Promise<number> {
    const q = this.#q;
    // Found by reads, deleted by id in one short transaction.
    const ids = pruneCandidates(q, params);
    if (ids.size === 0) return 0;
    return this.#write(() => {
      let deleted = 0;
      for (const id of ids) deleted += q.deleteExecution.run(id).changes;
      return deleted;
    });
  }

  reclaimSpace(): Promise<void> {
    return this.#direct(() => {
      this.#sqlite.pragma('incremental_vacuum');
      this.#sqlite.pragma('wal_checkpoint(TRUNCATE)');
    });
  }

  saveScheduler(params: Params.SaveSchedulerParams): Promise<void> {
    return this.#write((db) => saveScheduler(db, params));
  }

  removeScheduler({ owner: ownerId, staleBefore }: Params.RemoveSchedulerParams): Promise<void> {
    return this.#write((db) => removeScheduler(db, ownerId, staleBefore));
  }

  schedulers(): Promise<SchedulerInfo[]> {
    return this.#direct((db) => schedulersOf(db));
  }

  runs(params: Params.RunsParams): Promise<RunInfo[]> {
    return this.#direct((db) => runsOf(db, params));
  }

  countReady({ now, limit }: Params.CountReadyParams): Promise<number> {
    return this.#direct(() => this.#q.countReady.get(now, limit) ?? 0);
  }

  taskIdByKey(key: string): Promise<number | undefined> {
    return this.#direct(() => this.#q.taskIdByKey.get(key));
  }

  activity({ since, bucketMs }: { since: number; bucketMs: number }): Promise<ActivityBucket[]> {
    return this.#direct((db) => activity(db, since, bucketMs));
  }

  taskCounts(taskIds: number[]): Promise<Map<number, TaskCounts>> {
    return this.#direct((db) => taskCounts(db, taskIds));
  }

  inspect(): Promise<DatabaseInfo> {
    return this.#direct(() => inspect(this.#sqlite, this.#file?.path));
  }

  /** SQLite bumps data_version when another connection commits (its own commits do not count): polled every second. */
  watchOthers(onChange: () => void): () => void {
    const timer = setInterval(() => {
      try {
        const version = this.#sqlite.pragma('data_version', { simple: true }) as number;
        if (version === this.#dataVersion) return;
        this.#dataVersion = version;
        onChange();
      } catch {
        // The next wake meets the same problem and reports it.
      }
    }, WATCH_OTHERS_MS).unref();
    return () => clearInterval(timer);
  }

  opened(): Promise<void> {
    return Promise.resolve();
  }

  checkHealth(): Promise<void> {
    if (this.#file === null) return Promise.resolve();
    let ino: number | undefined;
    try {
      ino = statSync(this.#file.path).ino;
    } catch {
      ino = undefined;
    }
    if (ino === this.#file.ino) return Promise.resolve();
    // SQLite would go on writing into the unlinked file, and all of it would be lost at close.
    return Promise.reject(
      new DatabaseError('DATABASE_GONE', `the database file ${this.#file.path} was deleted or replaced while in use`),
    );
  }

  close(): Promise<void> {
    this.#sqlite.close();
    return Promise.resolve();
  }
}
