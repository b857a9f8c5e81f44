import type { RateLimit } from '../flow.js';
import type { DeviceSnapshot } from '../conditions.js';
import type { ExecutionFilter } from '../execution.js';
import type { NewTaskWithSchedule } from '../task.js';
import type { TriggerState } from '../triggers/schedule.js';
import type { Owner } from './store.js';

// The params objects of the store's methods, one named type each.

/** A page of tasks in id order: those after `afterId`. */
export interface ListTasksParams {
  limit: number;
  afterId: number;
}

/** The executions filter, with its page size settled. */
export type ExecutionsParams = ExecutionFilter & { limit: number };

/** What the retention policy no longer keeps, `limit` rows at a time. */
export interface PruneParams {
  endedBefore: number | null;
  keepLast: number | null;
  limit: number;
}

/** The pending and running runs of one task, or (without a task) the first ready at `readyAt`. */
export interface RunsParams {
  taskId?: number;
  readyAt?: number;
  limit: number;
}

export interface AddTasksParams {
  tasks: NewTaskWithSchedule[];
  now: number;
}

export interface AddTaskOnceParams {
  task: NewTaskWithSchedule & { key: string };
  now: number;
}

/** A task, and the time to record: for removeTask and enqueueRun. */
export interface TaskAt {
  taskId: number;
  now: number;
}

export interface SetPausedParams {
  taskId: number;
  paused: boolean;
  now: number;
}

/** Redrive (rule 19): one failed attempt given a new run. */
export interface RedriveParams {
  executionId: number;
  now: number;
}

/** Why an execution could not be redriven; or the run it was given. */
export type RedriveResult =
  | { runId: number }
  | { refused: 'not-found' }
  | { refused: 'not-failed'; status: string }
  | { refused: 'task-gone'; taskId: number };

/** Redrive (rule 19): every run whose final attempt failed and was not redriven, at most `limit` in one go. */
export interface RedriveFailedParams {
  taskId: number | null;
  /** Attempts that started from then on (epoch ms). */
  since: number;
  limit: number;
  now: number;
}

export interface FireEventParams {
  name: string;
  payloadJson: string | null;
  /** With a key: a firing of the same key for `name` within `keyWindowMs` makes no runs. */
  key: string | null;
  keyWindowMs: number;
  now: number;
}

export interface RenewLeasesParams {
  /** The owner whose running runs' leases are extended. */
  owner: string;
  until: number;
}

export interface RebaseParams {
  now: number;
  /** How far the wall clock went back. */
  jumpMs: number;
  /** The new state of a periodic trigger, or null to leave it. */
  replan: (state: TriggerState) => TriggerState | null;
}

export interface UnservedParams {
  now: number;
  /** The handlers that can be taken; runs needing another one are reported. */
  handlers: string[];
}

export interface SaveSchedulerParams {
  owner: Owner;
  handlers: string[];
  /** Its latest device readings (stored as JSON). */
  device: DeviceSnapshot;
  now: number;
}

export interface RemoveSchedulerParams {
  /** The scheduler that stopped. */
  owner: string;
  /** Rows not seen since then belonged to processes that are gone. */
  staleBefore: number;
}

export interface CountReadyParams {
  now: number;
  /** Counting stops here. */
  limit: number;
}

export interface DefineGroupParams {
  name: string;
  maxRunning: number | null;
  rateLimit: RateLimit | null;
  now: number;
}

export interface RecentStartsParams {
  /** Each limiter (`task:<id>`, `group:<name>`) with its window. */
  limiters: { limiter: string; per: number }[];
  now: number;
}
