import { EventEmitter } from 'node:events';
import { dirname, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { systemClock, type Clock } from './clock.js';
import { SchedulerClosedError, TaskNotFoundError, ValidationError } from './errors.js';
import { redriveAllFailed, redriveExecution } from './redrive.js';
import type { ExecutionEvent, SchedulerEventMap } from './events.js';
import type { Execution, ExecutionFilter, WaitForRunOptions } from './execution.js';
import { explain, limitedRunOf, type Explanation } from './explain.js';
import { groupName, validateGroupOptions, type Group, type GroupInfo, type GroupOptions } from './flow.js';
import { heldByLimits, readLimitState } from './runtime/limit-state.js';
import { toJson, type JsonArgsCheck } from './json.js';
import type { Handler } from './runtime/executor.js';
import { systemDevice, type DeviceSource } from './runtime/device.js';
import type { NamedCondition } from './runtime/device-watch.js';
import { conditionName } from './conditions.js';
import { normalizeHistoryPolicy, type HistoryPolicy } from './maintenance/retention.js';
import { Batcher } from './runtime/batcher.js';
import { Loop } from './runtime/loop.js';
import { Telemetry, type HeldRunCount } from './runtime/telemetry.js';
import { createOwner } from './runtime/owner.js';
import { liveDevices, liveHandlers } from './runtime/registration.js';
import { isDefinedHandler, type DefinedHandler } from './define-handler.js';
import { openStore } from './open-store.js';
import { waitForRun } from './run-wait.js';
import type { Durability } from './values.js';
import { isPostgresUrl, type PgPool } from './store/postgres/connection.js';
import type { Store } from './store/store.js';
import { validateDefinition, type NewTask, type NewTaskWithSchedule, type Task, type TaskDefinition } from './task.js';
import {
  DEFAULT_EVENT_KEY_WINDOW_MS,
  MAX_EVENT_KEY_LENGTH,
  MAX_EVENT_KEY_WINDOW_MS,
  MAX_EVENT_NAME_LENGTH,
  type FireEventOptions,
} from './triggers/event.js';
import { initialState } from './triggers/schedule.js';
import { describe, integerIn, MAX_TIMER_MS, nonEmptyString, oneOf } from './validate.js';
import { EXECUTION_STATUSES } from './values.js';

export interface SchedulerOptions {
  /**
   * Path of the SQLite file (created if missing), or `':memory:'`; or a PostgreSQL
   * connection string (`postgres://…`), or a `pg` Pool, for a fleet sharing one schedule.
   */
  database: string | PgPool;
  /** Handlers run at once in this scheduler, at most. Default 4. */
  maxRunningTasks?: number;
  /** A pino logger. Default: warnings and errors to stdout. */
  logger?: Logger;
  /** The source of time. Default: the system clock (on PostgreSQL, corrected to the database server's clock). */
  clock?: Clock;
  /**
   * `'full'` (default) syncs each commit to disk; `'normal'` may lose the latest commits on power loss
   * (on PostgreSQL: synchronous_commit off, for a pool the scheduler opens).
   */
  durability?: Durability;
  /**
   * How long (ms) a write waits for another process's lock before it fails with DATABASE_LOCKED. Default 5000.
   * On PostgreSQL, the lock_timeout of a pool the scheduler opens.
   */
  busyTimeout?: number;
  /** A cap on the SQLite file's size in bytes; writes beyond it fail with DATABASE_FULL. Default: none. */
  maxDatabaseSize?: number;
  /** How much execution history to keep (checked every 5 s, in small batches). Default: all of it. */
  history?: HistoryPolicy;
  /**
   * Where device conditions' readings come from. Default: the operating system
   * (load average, free memory, free space on the database's volume, Linux's power
   * supplies, network interfaces). A function replaces it: fields it leaves out
   * cannot be read, and conditions on them hold. Read every 5 s, every 0.5 s while
   * a run waits for a condition.
   */
  deviceState?: DeviceSource;
  /** How long (ms) `fireEvent`'s `key` is remembered per event. Default 24 h. */
  eventKeyWindow?: number;
}

export interface StopOptions {
  /**
   * Grace period (ms) for running handlers before their signal is aborted. Default
   * 5000. It ends when that much time passes on the scheduler's clock or in real
   * time, whichever is first: under a FakeClock a close does not hang.
   */
  timeout?: number;
}

const DEFAULT_STOP_TIMEOUT_MS = 5_000;
const MAX_RUNNING_LIMIT = 10_000;
const MAX_PAGE = 10_000;

/**
 * The seed's scheduler, durable: tasks, triggers, pending runs and history live
 * in the database, so a new scheduler on the same file carries on where the
 * last one stopped. Handlers are registered by name in each process.
 */
export class Scheduler extends EventEmitter<SchedulerEventMap> {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #handlers = new Map<string, Handler>();
  readonly #conditions = new Map<string, NamedCondition>();
  readonly #loop: Loop;
  readonly #owner = createOwner();
  readonly #maxRunningTasks: number;
  readonly #eventKeyWindowMs: number;
  /** Concurrent addTask calls share one transaction. */
  readonly #adds: Batcher<NewTaskWithSchedule, { task: Task; created: boolean }>;
  #closed = false;

  constructor(options: SchedulerOptions) {
    super();
    if (options === null || typeof options !== 'object') {
      throw new ValidationError('options', `must be an object, got ${describe(options)}`);
    }
    const maxRunningTasks = integerIn(options.maxRunningTasks ?? 4, 'maxRunningTasks', 1, MAX_RUNNING_LIMIT);
    this.#logger = options.logger ?? pino({ name: 'background-tasks', level: 'warn' });
    const history = normalizeHistoryPolicy(options.history);
    this.#eventKeyWindowMs = integerIn(
      options.eventKeyWindow ?? DEFAULT_EVENT_KEY_WINDOW_MS,
      'eventKeyWindow',
      1,
      MAX_EVENT_KEY_WINDOW_MS,
    );
    if (options.deviceState !== undefined && typeof options.deviceState !== 'function') {
      throw new ValidationError('deviceState', `must be a function, got ${describe(options.deviceState)}`);
    }
    this.#store = openStore(options);
    this.#clock = options.clock ?? this.#store.agreedClock ?? systemClock;
    this.#maxRunningTasks = maxRunningTasks;
    this.#adds = new Batcher((tasks) => this.#store.addTasks({ tasks, now: this.#clock.now() }));
    this.#loop = new Loop({
      store: this.#store,
      clock: this.#clock,
      logger: this.#logger,
      owner: this.#owner,
      handlers: this.#handlers,
      maxRunningTasks,
      history,
      telemetry: new Telemetry(
        () => this.#loop.runningCount,
        () => this.#store.countReady({ now: this.#clock.now(), limit: 1_000_000 }),
        () => this.#heldRuns(),
      ),
      emit: (event, ...args) => (this.emit as (name: string, ...rest: unknown[]) => boolean)(event, ...args),
      device:
        options.deviceState === undefined
          ? { source: systemDevice(diskOf(options.database)), system: true }
          : { source: options.deviceState, system: false },
      conditions: this.#conditions,
    });
  }

  /**
   * Defines a condition that tasks name in `conditions.require`: their runs start
   * on this node only while it returns true. Asked with the device's readings
   * (every 5 s, every 0.5 s while a run waits for it); a throw, a rejection or no
   * answer within 2 s counts as false. Defining a name again replaces it.
   */
  defineCondition(name: string, condition: () => boolean | Promise<boolean>): this {
    this.#assertOpen();
    conditionName(name, 'name');
    if (typeof condition !== 'function')
      throw new ValidationError('condition', `must be a function, got ${describe(condition)}`);
    this.#conditions.set(name, condition);
    return this;
  }

  /**
   * Defines a concurrency group (SPEC rules 16 and 17), or replaces its limits: at
   * most `maxRunning` runs of the tasks that name it in `groups` run at once, and at
   * most `rateLimit.max` start in any `rateLimit.per` ms, across every process on
   * the file and every node on PostgreSQL. Stored in the database (`task_groups`),
   * so it holds for every scheduler on it. Runs of a task naming a group that is not
   * defined wait until it is.
   */
  async defineGroup(name: string, options: GroupOptions): Promise<Group> {
    this.#assertOpen();
    const { maxRunning, rateLimit } = validateGroupOptions(options);
    const group = await this.#store.defineGroup({
      name: groupName(name, 'name'),
      maxRunning,
      rateLimit,
      now: await this.#now(),
    });
    this.#loop.wake();
    return group;
  }

  /** Every group, with the runs of its tasks running now (anywhere). */
  async groups(): Promise<GroupInfo[]> {
    this.#assertOpen();
    return this.#store.groups();
  }

  /**
   * Names a handler so tasks can refer to it, or registers one made by
   * `defineHandler`. Registering a name again replaces it.
   */
  register<Args>(defined: DefinedHandler<Args>): this;
  register<Args = unknown>(name: string, handler: Handler<Args>): this;
  register<Args>(nameOrDefined: string | DefinedHandler<Args>, maybeHandler?: Handler<Args>): this {
    this.#assertOpen();
    const [name, handler] =
      typeof nameOrDefined === 'string' || !isDefinedHandler(nameOrDefined)
        ? [nameOrDefined as string, maybeHandler]
        : [nameOrDefined.name, nameOrDefined.handler];
    nonEmptyString(name, 'name', 200);
    if (typeof handler !== 'function')
      throw new ValidationError('handler', `must be a function, got ${describe(handler)}`);
    this.#handlers.set(name, handler as Handler);
    this.#loop.wake();
    return this;
  }

  /** Adds a task, or updates the task with the same `key`, keeping its schedule, counters and history. */
  async addTask<Args = never>(definition: TaskDefinition<Args> & JsonArgsCheck<Args>): Promise<Task> {
    this.#assertOpen();
    const task = validateDefinition(definition);
    // On PostgreSQL, times are taken once the clock agrees with the server's.
    await this.#store.opened();
    return this.#added(await this.#adds.submit(this.#schedule(task)));
  }

  /**
   * Adds a keyed task once in the database's life: declared at every start-up, a
   * "provision once" task runs once, not at every boot. If a task with the key
   * exists it is returned unchanged (not updated); if one existed and is gone (it
   * ran to its end, or was removed) its key is spent, nothing is added, and the
   * result is null. Spent keys are kept in the `spent_keys` table.
   */
  async addTaskOnce<Args = never>(definition: TaskDefinition<Args> & JsonArgsCheck<Args>): Promise<Task | null> {
    this.#assertOpen();
    const task = validateDefinition(definition);
    if (task.key === null) throw new ValidationError('key', 'is required by addTaskOnce: it is what is added once');
    await this.#store.opened();
    const { task: added, created } = await this.#store.addTaskOnce({
      task: { ...this.#schedule(task), key: task.key },
      now: this.#clock.now(),
    });
    if (created && added !== null) return this.#added({ task: added, created });
    return added;
  }

  /**
   * Adds (or, by key, updates) many tasks in one transaction. Every definition is
   * checked first: if one is refused, none is written.
   */
  async addTasks(definitions: readonly TaskDefinition[]): Promise<Task[]> {
    this.#assertOpen();
    if (!Array.isArray(definitions)) throw new ValidationError('definitions', 'must be an array of task definitions');
    const valid = definitions.map((definition, i) => {
      try {
        return validateDefinition(definition);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        throw new ValidationError(`definitions[${i}].${err.field}`, err.reason, { cause: err });
      }
    });
    await this.#store.opened();
    const added = await this.#store.addTasks({
      tasks: valid.map((task) => this.#schedule(task)),
      now: this.#clock.now(),
    });
    return added.map((result) => this.#added(result));
  }

  #schedule(task: NewTask): NewTaskWithSchedule {
    const now = this.#clock.now();
    return { ...task, triggers: task.triggers.map((spec) => initialState(spec, now, Math.random)) };
  }

  #added({ task, created }: { task: Task; created: boolean }): Task {
    this.emit(created ? 'task:added' : 'task:updated', task);
    this.#loop.wake();
    return task;
  }

  /** Removes a task and its pending runs; a running attempt is aborted and recorded `cancelled`. History stays. */
  async removeTask(id: number): Promise<boolean> {
    this.#assertOpen();
    integerIn(id, 'id', 1, Number.MAX_SAFE_INTEGER);
    const removed = await this.#store.removeTask({ taskId: id, now: await this.#now() });
    if (removed) {
      this.#loop.cancelTask(id);
      this.emit('task:removed', id);
    }
    return removed;
  }

  async getTask(id: number): Promise<Task | undefined> {
    this.#assertOpen();
    return this.#store.getTask(integerIn(id, 'id', 1, Number.MAX_SAFE_INTEGER));
  }

  /** Tasks in id order, a page at a time: pass the last id seen as `afterId`. */
  async listTasks(options: { limit?: number; afterId?: number } = {}): Promise<Task[]> {
    this.#assertOpen();
    return this.#store.listTasks({
      limit: integerIn(options.limit ?? 1000, 'limit', 1, MAX_PAGE),
      afterId: integerIn(options.afterId ?? 0, 'afterId', 0, Number.MAX_SAFE_INTEGER),
    });
  }

  /** Holds a task: its runs wait (periodic fires coalesce) until `resumeTask`. */
  async pauseTask(id: number): Promise<void> {
    await this.#setPaused(id, true);
  }

  async resumeTask(id: number): Promise<void> {
    await this.#setPaused(id, false);
    this.#loop.wake();
  }

  /**
   * Queues a run of the task now, outside its triggers, and returns the run's id:
   * its attempts carry it as `runId` in `executions` and in execution events.
   */
  async runNow(id: number): Promise<number> {
    this.#assertOpen();
    const runId = await this.#store.enqueueRun({
      taskId: integerIn(id, 'id', 1, Number.MAX_SAFE_INTEGER),
      now: await this.#now(),
    });
    if (runId === null) throw new TaskNotFoundError(id);
    this.#loop.wake();
    return runId;
  }

  /**
   * Redrive (SPEC rule 19): gives a failed attempt's task a new run, with that
   * attempt's reason, event and payload, from attempt 1, ready now; returns its run
   * id. The execution records it (`redrivenRunId`, column `redriven_run_id`).
   * ExecutionNotFoundError if there is no such execution, ValidationError if it did
   * not fail, TaskNotFoundError if its task is gone.
   */
  async retryExecution(executionId: number): Promise<number> {
    this.#assertOpen();
    integerIn(executionId, 'executionId', 1, Number.MAX_SAFE_INTEGER);
    const runId = await redriveExecution(this.#store, executionId, await this.#now());
    this.#loop.wake();
    return runId;
  }

  /**
   * Redrives every run whose final attempt failed (for good) and that was not
   * redriven already, of one task or all, whose attempt started at `since` (epoch
   * ms) or later; returns how many got a new run. Runs of tasks that are gone are
   * left alone.
   */
  async retryFailed(options: { taskId?: number; since?: number } = {}): Promise<number> {
    this.#assertOpen();
    if (options === null || typeof options !== 'object') {
      throw new ValidationError('options', `must be an object, got ${describe(options)}`);
    }
    const taskId =
      options.taskId === undefined ? null : integerIn(options.taskId, 'taskId', 1, Number.MAX_SAFE_INTEGER);
    const since = integerIn(options.since ?? 0, 'since', 0, Number.MAX_SAFE_INTEGER);
    const total = await redriveAllFailed(this.#store, { taskId, since, now: await this.#now() });
    if (total > 0) this.#loop.wake();
    return total;
  }

  /**
   * Fires an event: every task listening to `name` gets exactly one run, with
   * `payload` (a debounced trigger's firing joins the run it has waiting). Stored
   * before the promise resolves. Returns how many runs it made or joined: 0 for a
   * `key` already fired for `name` within the `eventKeyWindow`.
   */
  async fireEvent(name: string, payload?: unknown, options?: FireEventOptions): Promise<number> {
    return (await this.fireEventRuns(name, payload, options)).length;
  }

  /** Fires an event as `fireEvent` does, and returns the ids of the runs it made or joined. */
  async fireEventRuns(name: string, payload?: unknown, options: FireEventOptions = {}): Promise<number[]> {
    this.#assertOpen();
    nonEmptyString(name, 'name', MAX_EVENT_NAME_LENGTH);
    const payloadJson = payload === undefined ? null : toJson(payload, 'payload');
    if (options === null || typeof options !== 'object') {
      throw new ValidationError('options', `must be an object, got ${describe(options)}`);
    }
    const key = options.key === undefined ? null : nonEmptyString(options.key, 'key', MAX_EVENT_KEY_LENGTH);
    const runIds = await this.#store.fireEvent({
      name,
      payloadJson,
      key,
      keyWindowMs: this.#eventKeyWindowMs,
      now: await this.#now(),
    });
    if (runIds.length > 0) this.#loop.wake();
    return runIds;
  }

  /**
   * Resolves with the attempt that ended a run (the id `runNow` or `fireEventRuns`
   * gave) once it has ended: succeeded, failed for good (after its retries) or
   * cancelled; read its `status`. The run may be taken by any scheduler on the
   * database. Rejects with RunNotFoundError when no such run is pending or ended
   * with a recorded attempt, and WaitTimeoutError after `timeout` real ms.
   */
  async waitForRun(runId: number, options: WaitForRunOptions = {}): Promise<Execution> {
    this.#assertOpen();
    integerIn(runId, 'runId', 1, Number.MAX_SAFE_INTEGER);
    const timeoutMs =
      options.timeout === undefined ? undefined : integerIn(options.timeout, 'timeout', 0, MAX_TIMER_MS);
    return waitForRun(runId, {
      look: () => {
        this.#assertOpen();
        return this.#store.runOutcome(runId);
      },
      onLocalEnd: (listener) => {
        const onEnd = (event: ExecutionEvent): void => listener(event.runId);
        this.on('execution:finished', onEnd);
        return () => this.off('execution:finished', onEnd);
      },
      timeoutMs,
    });
  }

  /**
   * Why a task is, or is not, about to run: paused, waiting for a slot, for a
   * retry or for a handler nobody registered, its next fire times, coalesced fires.
   */
  async explain(id: number): Promise<Explanation> {
    this.#assertOpen();
    integerIn(id, 'id', 1, Number.MAX_SAFE_INTEGER);
    const task = await this.#store.getTask(id);
    if (!task) throw new TaskNotFoundError(id);
    const now = this.#clock.now();
    const runs = await this.#store.runs({ taskId: id, limit: 1000 });
    const schedulers = await this.#store.schedulers();
    const handlers = liveHandlers(schedulers, now);
    for (const name of this.#handlers.keys()) handlers.add(name);
    const freeSlots = this.#loop.isRunning ? this.#maxRunningTasks - this.#loop.runningCount : 0;
    // This scheduler's own reading is fresher than its row.
    const others = schedulers.filter((s) => s.id !== this.#owner.id);
    const devices = liveDevices(others, now, task);
    if (this.#loop.isRunning && (task.module !== null || this.#handlers.has(task.handler))) {
      devices.unshift({
        scheduler: `${this.#owner.host}:${this.#owner.pid} (this one)`,
        device: this.#loop.device.state,
      });
    }
    const limits = await readLimitState(this.#store, [limitedRunOf(task)], now);
    return explain({ task, runs, now, handlers, freeSlots, devices, limits });
  }

  /**
   * Ready runs held back: here by their conditions, counted per unmet condition,
   * and anywhere by groups and rate limits (a run held by two counts in both).
   */
  async #heldRuns(): Promise<HeldRunCount[]> {
    const now = this.#clock.now();
    const counts = new Map<string, number>();
    for (const { conditionsJson, runs } of await this.#store.readyByConditions({ now })) {
      for (const { condition } of this.#loop.device.unmet(conditionsJson))
        counts.set(condition, (counts.get(condition) ?? 0) + runs);
    }
    const held: HeldRunCount[] = [...counts].map(([condition, runs]) => ({ hold: 'condition', condition, runs }));
    for (const { reason, group, runs } of await heldByLimits(this.#store, now))
      held.push({ hold: reason, ...(group === null ? {} : { group }), runs });
    return held;
  }

  /** Handlers running now in this scheduler. */
  runningTasksCount(): number {
    return this.#loop.runningCount;
  }

  /** Recorded attempts, newest first, a page at a time (`limit`, default 100; `beforeId` for the next page). */
  async executions(filter: ExecutionFilter = {}): Promise<Execution[]> {
    this.#assertOpen();
    return this.#store.executions({
      limit: integerIn(filter.limit ?? 100, 'limit', 1, MAX_PAGE),
      ...(filter.taskId === undefined
        ? {}
        : { taskId: integerIn(filter.taskId, 'taskId', 1, Number.MAX_SAFE_INTEGER) }),
      ...(filter.runId === undefined ? {} : { runId: integerIn(filter.runId, 'runId', 1, Number.MAX_SAFE_INTEGER) }),
      ...(filter.status === undefined ? {} : { status: oneOf(filter.status, 'status', EXECUTION_STATUSES) }),
      ...(filter.since === undefined ? {} : { since: integerIn(filter.since, 'since', 0, Number.MAX_SAFE_INTEGER) }),
      ...(filter.beforeId === undefined
        ? {}
        : { beforeId: integerIn(filter.beforeId, 'beforeId', 1, Number.MAX_SAFE_INTEGER) }),
    });
  }

  /** Starts running tasks; after `stop`, resumes. */
  async start(): Promise<void> {
    this.#assertOpen();
    await this.#loop.start();
  }

  /**
   * Starts nothing new, gives running handlers `timeout` ms, then aborts their
   * signal; resolves once they settle. Unfinished attempts are recorded
   * `interrupted` and go again at the next start. Safe to call twice.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const timeout = integerIn(options.timeout ?? DEFAULT_STOP_TIMEOUT_MS, 'timeout', 0, 2 ** 31 - 1);
    await this.#loop.stop(timeout);
  }

  /** Stops (if need be) and releases the database. */
  async close(options: StopOptions = {}): Promise<void> {
    if (this.#closed) return;
    await this.stop(options);
    this.#closed = true;
    await this.#store.close();
  }

  async #setPaused(id: number, paused: boolean): Promise<void> {
    this.#assertOpen();
    if (
      !(await this.#store.setPaused({
        taskId: integerIn(id, 'id', 1, Number.MAX_SAFE_INTEGER),
        paused,
        now: await this.#now(),
      }))
    ) {
      throw new TaskNotFoundError(id);
    }
  }

  /** The time to store: on PostgreSQL, once the clock agrees with the server's. */
  async #now(): Promise<number> {
    await this.#store.opened();
    return this.#clock.now();
  }

  #assertOpen(): void {
    if (this.#closed) throw new SchedulerClosedError();
  }
}

/** A folder on the volume whose free space `minFreeDiskMb` counts: the SQLite file's, else the working directory's. */
function diskOf(database: SchedulerOptions['database']): string {
  if (typeof database !== 'string' || database === ':memory:' || isPostgresUrl(database)) return process.cwd();
  return dirname(resolve(database));
}
