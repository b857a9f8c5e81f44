import type { JsonValue } from './json.js';

import type { ExecutionStatus, RunReason } from './values.js';

export type { ExecutionStatus, RunReason } from './values.js';

export interface FiredEvent {
  name: string;
  payload: JsonValue | null;
}

/** One attempt of one run, as recorded in the `executions` table. */
export interface Execution {
  id: number;
  taskId: number;
  taskName: string;
  /** The task's key when the attempt started. */
  taskKey: string | null;
  runId: number;
  /** Numbered from 1; an interrupted attempt keeps its number when it goes again. */
  attempt: number;
  /**
   * True for the attempt that ended its run: it succeeded, failed for good (no retry
   * left) or was cancelled. False while it runs, and for a failure that was retried or
   * an interruption that went again.
   */
  final: boolean;
  status: ExecutionStatus;
  reason: RunReason;
  event: FiredEvent | null;
  /** When the run became due. */
  scheduledAt: number;
  startedAt: number;
  endedAt: number | null;
  durationMs: number | null;
  error: string | null;
  result: JsonValue | null;
  /** CPU time of the whole process while the attempt ran: approximate when runs overlap. */
  cpuUserUs: number | null;
  cpuSystemUs: number | null;
  /** Resident set size of the process when the attempt ended. */
  rssBytes: number | null;
  /** For a failed attempt given a new run by retryExecution or retryFailed: that run's id. */
  redrivenRunId: number | null;
}

export interface ExecutionFilter {
  taskId?: number;
  /** Only the attempts of one run (the id `runNow` and `fireEventRuns` return). */
  runId?: number;
  /** Only executions with a smaller id: pass the last id of a page to get the next. */
  beforeId?: number;
  /** Only executions that started at or after this time (epoch ms). */
  since?: number;
  status?: ExecutionStatus;
  /** Newest first; default 100. */
  limit?: number;
}

export interface WaitForRunOptions {
  /**
   * Real milliseconds to wait before rejecting with `WaitTimeoutError` (the run goes
   * on). Default: no limit.
   */
  timeout?: number;
}
