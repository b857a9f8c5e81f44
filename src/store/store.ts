import type { Clock } from '../clock.js';
import type { DeviceSnapshot } from '../conditions.js';
import type { Execution, ExecutionStatus, FiredEvent, RunReason } from '../execution.js';
import type { NormalizedRetryPolicy } from '../retry-policy.js';
import type { Task } from '../task.js';
import type { ConditionLostPolicy } from '../values.js';
import type { FirePlan, TriggerState } from '../triggers/schedule.js';
import type {
  ListTasksParams,
  ExecutionsParams,
  PruneParams,
  RunsParams,
  AddTaskOnceParams,
  AddTasksParams,
  TaskAt,
  SetPausedParams,
  FireEventParams,
  RedriveParams,
  RedriveResult,
  RedriveFailedParams,
  RenewLeasesParams,
  RebaseParams,
  UnservedParams,
  SaveSchedulerParams,
  RemoveSchedulerParams,
  CountReadyParams,
  DefineGroupParams,
  RecentStartsParams,
} from './params.js';
import type { Group, GroupInfo, LimitedRun } from '../flow.js';

export type * from './params.js';

export interface FireResult {
  runs: number;
  /** Triggers whose plan threw (a stored cron that no longer parses): disabled, not retried. */
  broken: { triggerId: number; taskId: number; error: Error }[];
}

/** A scheduler that registered itself on the database. */
export interface SchedulerInfo {
  id: string;
  host: string;
  pid: number;
  handlers: string[];
  /** Its latest device readings; null from a scheduler of a release before device conditions. */
  device: DeviceSnapshot | null;
  startedAt: number;
  lastSeenAt: number;
}

/** A pending or running run, as `explain` and the CLI show it. */
export interface RunInfo {
  id: number;
  taskId: number;
  reason: RunReason;
  state: 'waiting' | 'running';
  dueAt: number;
  attempt: number;
  interruptions: number;
  owner: string | null;
}

/** A task in groups or with a rate limit that has ready runs, as the operator reports weigh it. */
export interface ReadyLimited extends LimitedRun {
  runs: number;
}

export interface ActivityBucket {
  at: number;
  started: number;
  failed: number;
}

export interface TaskCounts {
  total: number;
  succeeded: number;
  failed: number;
  lastStatus: ExecutionStatus | null;
}

/** What `doctor` reports about the database. */
export interface DatabaseInfo {
  integrity: string;
  schemaVersion: string;
  /** Bytes the scheduler's data takes: the SQLite file, or its PostgreSQL tables. */
  sizeBytes: number;
  /** What this kind of database adds (SQLite: `walBytes`, `freePages`). */
  details: Record<string, number>;
}

/** Who holds a running run: one scheduler instance in one process. */
export interface Owner {
  id: string;
  host: string;
  pid: number;
}

/** A run the store handed to this process, with an execution row already written. */
export interface ClaimedRun {
  runId: number;
  executionId: number;
  attempt: number;
  interruptions: number;
  reason: RunReason;
  event: FiredEvent | null;
  dueAt: number;
  startedAt: number;
  task: {
    id: number;
    name: string;
    handler: string;
    module: string | null;
    memoryLimitMb: number | null;
    argsJson: string;
    timeoutMs: number | null;
    retryPolicy: NormalizedRetryPolicy | null;
    /** Its device conditions as stored (JSON), and what an attempt does when they stop holding. */
    conditionsJson: string | null;
    conditionLost: ConditionLostPolicy;
  };
}

/** What becomes of a run after an attempt ends. */
export type RunNext = { kind: 'again'; dueAt: number; attempt: number; interruptions: number } | { kind: 'done' };

export interface CompleteRunParams {
  runId: number;
  executionId: number;
  /** The owner the run must still have; a run recovered from it is left alone. */
  owner: string;
  status: Exclude<ExecutionStatus, 'running'>;
  endedAt: number;
  error: string | null;
  resultJson: string | null;
  /** Measured by the runner on a monotonic clock; null when the attempt was not watched (recovery). */
  usage: { durationMs: number; cpuUserUs: number; cpuSystemUs: number; rssBytes: number } | null;
  next: RunNext;
}

/** A running run whose owner may be gone. */
export interface RunningRun {
  runId: number;
  executionId: number;
  attempt: number;
  interruptions: number;
  owner: Owner;
  leaseExpiresAt: number;
  retryPolicy: NormalizedRetryPolicy | null;
}

export interface CycleParams {
  now: number;
  completions: CompleteRunParams[];
  plan: (state: TriggerState) => FirePlan;
  /** How many due triggers to fire at most; more wait for the next wake. */
  triggerLimit: number;
  /** Null claims nothing (the scheduler is stopping). */
  claim: Omit<ClaimParams, 'now'> | null;
}

export interface CycleResult {
  /** Per completion: false if the run was no longer this owner's to finish. */
  completed: boolean[];
  fired: FireResult;
  claims: ClaimedRun[];
  /** The earliest time after `now` when a run or a trigger comes due. */
  nextWakeAt: number | null;
}

export interface ClaimParams {
  now: number;
  limit: number;
  handlers: string[];
  owner: Owner;
  leaseUntil: number;
  /** Whether a run whose task has these conditions (as stored) may start on this node: the device watch's answer. */
  holds: (conditionsJson: string) => boolean;
  /** Condition sets known not to hold here on the current reading: a store may leave their runs out unread. */
  held: () => string[];
  /**
   * The clock, read again once the claim holds its lock: starts are recorded at
   * that time, never before the end (in another process) that made room for them.
   */
  time: () => number;
}

/** What one claim took, and when a run it passed over for a rate limit may start (a time to look again). */
export interface ClaimBatch {
  claims: ClaimedRun[];
  retryAt: number | null;
}

/** Tasks and what makes their runs: the public API's writes and reads of tasks. */
export interface TaskStore {
  /**
   * Adds tasks in one transaction; a task with a known key updates that task in
   * place, keeping its trigger state and history.
   */
  addTasks(params: AddTasksParams): Promise<{ task: Task; created: boolean }[]>;
  /**
   * Adds a keyed task in one transaction unless a task with its key exists (returned
   * unchanged) or existed and is gone: its key is spent (task null).
   */
  addTaskOnce(params: AddTaskOnceParams): Promise<{ task: Task | null; created: boolean }>;
  getTask(id: number): Promise<Task | undefined>;
  listTasks(params: ListTasksParams): Promise<Task[]>;
  /** Deletes a task and its pending runs; its running executions become `cancelled`. */
  removeTask(params: TaskAt): Promise<boolean>;
  setPaused(params: SetPausedParams): Promise<boolean>;
  /** Queues a manual run due now; its id, or null if the task does not exist. */
  enqueueRun(params: TaskAt): Promise<number | null>;
  /**
   * Gives a failed attempt's task a new run, with its reason, event and payload, from
   * attempt 1 (ready now), and records it in the execution's `redriven_run_id`.
   */
  redrive(params: RedriveParams): Promise<RedriveResult>;
  /** Redrives the final failures not redriven yet (oldest first, at most `limit`); returns how many. */
  redriveFailed(params: RedriveFailedParams): Promise<number>;
  /** Stores one run per task listening to `name`; returns their ids, ascending. */
  fireEvent(params: FireEventParams): Promise<number[]>;
  /** Adds or replaces a concurrency group (`task_groups`); a rate limit removed forgets its recorded starts. */
  defineGroup(params: DefineGroupParams): Promise<Group>;
}

/** What the producer needs: the wake, and a nudge when another connection stored work. */
export interface WakeStore {
  /**
   * One wake of the loop, in one transaction: records the ends of attempts, turns
   * due trigger fires into runs (`plan` decides what each due trigger makes; fires
   * beyond a trigger's pending limit are coalesced), and claims the best ready runs
   * (one per task, none of a task already running), writing their executions.
   */
  cycle(params: CycleParams): Promise<CycleResult>;
  /**
   * Calls `onChange` when another connection (another process or node, the CLI)
   * may have stored work; returns a function that stops watching.
   */
  watchOthers(onChange: () => void): () => void;
}

/** What leases and recovery need: the runs held, their renewal, and a guarded end. */
export interface LeaseStore {
  /** Records an attempt's end and the run's fate, if the run is still running under `owner`. */
  completeRun(params: CompleteRunParams): Promise<boolean>;
  /** Every running run, with its owner and lease: recovery decides whose owner is gone. */
  runningRuns(): Promise<RunningRun[]>;
  /**
   * Extends the leases of the runs `ownerId` holds; returns their ids. A run it
   * believes it holds and that is missing was cancelled or taken over elsewhere.
   */
  renewLeases(params: RenewLeasesParams): Promise<number[]>;
  getTask: TaskStore['getTask'];
}

/** What the clock watch needs. */
export interface ClockStore {
  /**
   * After the wall clock went back by `jumpMs`: retries and one-time delays come
   * due that much sooner (never before `now`), and `replan` pulls in periodic
   * triggers. Returns how many rows changed.
   */
  rebaseAfterClockJump(params: RebaseParams): Promise<number>;
  /** The latest wall-clock time recorded by any scheduler on this database, or null if none. */
  latestRecordedTime(): Promise<number | null>;
}

/** Where a run stands: `final` is its last attempt once one ended it. */
export interface RunOutcome {
  pending: boolean;
  final: Execution | undefined;
}

/** Execution history: reading it, and keeping it within its policy. */
export interface HistoryStore {
  executions(params: ExecutionsParams): Promise<Execution[]>;
  /** Whether a run is still pending, and the attempt that ended it if one did: read at one moment. */
  runOutcome(runId: number): Promise<RunOutcome>;
  /**
   * Deletes up to `limit` ended executions that ended before `endedBefore`, or are
   * beyond the newest `keepLast` of their task. Returns how many.
   */
  pruneExecutions(params: PruneParams): Promise<number>;
  /**
   * Gives the space pruning freed back to the disk, where the database must be told
   * (SQLite: incremental vacuum and a WAL truncation; PostgreSQL's autovacuum needs nothing).
   */
  reclaimSpace(): Promise<void>;
}

/** The schedulers that run on the database. */
export interface RegistryStore {
  /** Records, or refreshes, a scheduler that runs, with the handlers it can take. */
  saveScheduler(params: SaveSchedulerParams): Promise<void>;
  /** Forgets a scheduler that stopped, and any not seen since `staleBefore`. */
  removeScheduler(params: RemoveSchedulerParams): Promise<void>;
  schedulers(): Promise<SchedulerInfo[]>;
}

/** Operators' questions (explain, the CLI, doctor, the unserved report). */
export interface OperatorStore {
  /** Handlers of ready runs that none of `handlers` can take. */
  unservedHandlers(params: UnservedParams): Promise<string[]>;
  /** Ready runs of tasks with device conditions, counted by their conditions (as stored); paused tasks left out. */
  readyByConditions(params: { now: number }): Promise<{ conditionsJson: string; runs: number }[]>;
  /** Every group, with the runs of its tasks running now. */
  groups(): Promise<GroupInfo[]>;
  /** Starts recorded in each limiter's current window, ascending. */
  recentStarts(params: RecentStartsParams): Promise<Map<string, number[]>>;
  /** Ready runs of tasks in groups or with rate limits, counted by task; paused and running tasks left out. */
  readyLimited(params: { now: number }): Promise<ReadyLimited[]>;
  /** The pending and running runs of one task, or (without an id) the first `limit` ready at `now`. */
  runs(params: RunsParams): Promise<RunInfo[]>;
  inspect(): Promise<DatabaseInfo>;
  /** How many runs are due at `now` and waiting (counting stops at `limit`). */
  countReady(params: CountReadyParams): Promise<number>;
  taskIdByKey(key: string): Promise<number | undefined>;
  /** Attempts started since `since`, and how many of them failed, per `bucketMs` (bucket starts, ascending; empty buckets left out). */
  activity(params: { since: number; bucketMs: number }): Promise<ActivityBucket[]>;
  /** Per task: executions recorded, how many succeeded and failed, and the latest status. */
  taskCounts(taskIds: number[]): Promise<Map<number, TaskCounts>>;
}

/** Opening, health and closing. */
export interface LifecycleStore {
  /** Resolves once the database is open and migrated (a network database opens in the background). */
  opened(): Promise<void>;
  /** A clock the store's database agrees on, used when the application gives none. */
  readonly agreedClock?: Clock;
  /** Throws DATABASE_GONE if the database was deleted or replaced under this store. */
  checkHealth(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Everything the scheduler asks of its database, as roles: each part of the
 * runtime depends on the roles it uses. Methods are async so that a store on a
 * network database fits the same shape; each writing method is one transaction
 * (on PostgreSQL, `cycle` and the task writes; reads may take several statements),
 * so a crash leaves either all of it or none.
 */
export interface Store
  extends TaskStore, WakeStore, LeaseStore, ClockStore, HistoryStore, RegistryStore, OperatorStore, LifecycleStore {}
