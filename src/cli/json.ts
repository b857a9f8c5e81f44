import type { HeldRuns } from '../conditions.js';
import type { FailureGroup } from '../failures.js';
import type { GroupInfo } from '../flow.js';
import type { HeldByLimit } from '../runtime/limit-state.js';
import type { Execution, ExecutionStatus } from '../execution.js';
import type { Explanation } from '../explain.js';
import type { DatabaseInfo, SchedulerInfo } from '../store/store.js';
import type { Task } from '../task.js';

// What each command prints under --json, so that a script reading it can be typed.
// Times are epoch milliseconds, ids numbers, flags booleans.

/** `migrate --json`. */
export interface MigrateJson {
  database: string;
  /** The file did not exist before this command. */
  created: boolean;
  upToDate: true;
}

/** `doctor --json`: the database's health, and who runs on it. */
export interface DoctorJson extends DatabaseInfo {
  /** Runs held by a scheduler that is gone. */
  stuckRuns: number[];
  /** Handlers with ready runs that no live scheduler has registered. */
  unservedHandlers: string[];
  /** Ready runs that the conditions of their tasks hold on every live scheduler's device. */
  heldRuns: HeldRuns[];
  /** Named conditions that ready runs require and no live scheduler defines: those runs wait for nobody. */
  undefinedConditions: string[];
  /** Ready runs held by a full or undefined group or by a rate limit, per reason and group. */
  limitedRuns: HeldByLimit[];
  /** Groups that tasks with ready runs name and nobody defined (defineGroup): those runs wait until one is. */
  undefinedGroups: string[];
  schedulers: (SchedulerInfo & { alive: boolean })[];
}

/** One row of `tasks --json`. */
export interface TaskRow {
  id: number;
  key: string | null;
  name: string;
  /** The registered handler it runs; null for a module task. */
  handler: string | null;
  module: string | null;
  /** Each trigger in words: "every 5m", "cron 0 3 * * *", "on disk-full". */
  triggers: string[];
  priority: number;
  paused: boolean;
  /** The soonest next fire of its triggers (epoch ms). */
  nextFireAt: number | null;
  lastStatus: ExecutionStatus | null;
  executions: number;
  succeeded: number;
  failed: number;
}

/** `show TASK --json`: the task and why it is or is not about to run. */
export type ShowJson = { task: Task } & Explanation;

/** One row of `stats --json`. */
export interface StatsRow {
  taskId: number;
  task: string;
  attempts: number;
  succeeded: number;
  /** Failures that ended their run. */
  failed: number;
  /** Failures that were retried. */
  retried: number;
  interrupted: number;
  /** Attempts that asked to go again later (RetryAfterError), using no retry. */
  snoozed: number;
  p50ms: number | null;
  p95ms: number | null;
}

/** `run-now`, `pause`, `resume` and `remove` with --json; `runId` is the run `run-now` queued. */
export interface SteerJson {
  command: 'run-now' | 'pause' | 'resume' | 'remove';
  taskId: number;
  taskName: string;
  runId?: number | null;
}

/** `fire EVENT --json`: the runs it queued, one per listening task. */
export interface FireJson {
  event: string;
  runs: number;
  runIds: number[];
}

/** `retry --json`: the runs made (one for `retry EXECUTION`, with its id). */
export interface RetryJson {
  command: 'retry';
  runs: number;
  runId?: number;
}

/** `prune --json`. */
export interface PruneJson {
  deleted: number;
}

/** What `--json` prints on stderr when a command fails (the exit code is the same). */
export interface CliErrorJson {
  error: { code: string; message: string; exitCode: number };
}

/** Anything a command prints on stdout under --json; `history` prints executions. */
/** `failures --json`: failed attempts grouped by message, most attempts first. */
export type FailuresJson = FailureGroup[];

/** `groups --json`. */
export type GroupsJson = GroupInfo[];

export type CliJson =
  | MigrateJson
  | GroupsJson
  | FailuresJson
  | DoctorJson
  | TaskRow[]
  | ShowJson
  | Execution[]
  | StatsRow[]
  | SteerJson
  | FireJson
  | RetryJson
  | PruneJson;
