import type { ExecutionStatus } from './execution.js';
import type { Task } from './task.js';

/** An attempt's error: any Error, and `code` readable without a cast (`TASK_TIMEOUT`, `ECONNRESET`…). */
export type AttemptError = Error & { readonly code?: string };

/** An attempt's start or end, as announced to listeners. */
export interface ExecutionEvent {
  executionId: number;
  runId: number;
  taskId: number;
  taskName: string;
  attempt: number;
  status: ExecutionStatus;
  /**
   * Set on failures, retries and interruptions: what the handler threw, or the
   * scheduler's own error (a `BackgroundTasksError`, whose `code` says which).
   */
  error: AttemptError | null;
  /** The handler's return value, on success. */
  result: unknown;
  /** On `execution:retrying`: when the next attempt is due. */
  nextAttemptAt: number | null;
}

/**
 * What a scheduler emits. Every attempt emits `execution:started`, then exactly
 * one of succeeded, retrying (failed, another attempt scheduled), failed (final),
 * interrupted, cancelled or snoozed (RetryAfterError: the run goes again later,
 * same attempt), then `execution:finished` with the same payload.
 */
export interface SchedulerEventMap {
  'task:added': [task: Task];
  'task:updated': [task: Task];
  'task:removed': [taskId: number];
  'execution:started': [event: ExecutionEvent];
  'execution:succeeded': [event: ExecutionEvent];
  'execution:retrying': [event: ExecutionEvent];
  'execution:failed': [event: ExecutionEvent];
  'execution:interrupted': [event: ExecutionEvent];
  'execution:cancelled': [event: ExecutionEvent];
  'execution:snoozed': [event: ExecutionEvent];
  'execution:finished': [event: ExecutionEvent];
  /** A database or trigger problem the loop survived. */
  'scheduler:error': [error: Error];
}
