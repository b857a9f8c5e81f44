/**
 * Every error the scheduler throws on purpose is a BackgroundTasksError with a
 * stable `code`, so callers branch on `code` (or `instanceof`), never on text.
 */
export class BackgroundTasksError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A definition, option or argument was refused; nothing was written. */
export class ValidationError extends BackgroundTasksError {
  /** The offending field, as a path into the input (`retryPolicy.delay`, `triggers[1].cron`). */
  readonly field: string;
  /** What is wrong with it, without the field's name. */
  readonly reason: string;

  constructor(field: string, reason: string, options?: ErrorOptions) {
    super('INVALID_ARGUMENT', `${field}: ${reason}`, options);
    this.field = field;
    this.reason = reason;
  }
}

export class TaskNotFoundError extends BackgroundTasksError {
  readonly taskId: number;

  constructor(taskId: number) {
    super('TASK_NOT_FOUND', `task ${taskId} does not exist`);
    this.taskId = taskId;
  }
}

/**
 * `waitForRun` found no such run: none is pending with this id, and no attempt of it
 * ended it (it was never made, its task was removed before it started, or its
 * history was pruned).
 */
export class ExecutionNotFoundError extends BackgroundTasksError {
  readonly executionId: number;

  constructor(executionId: number) {
    super('EXECUTION_NOT_FOUND', `execution ${executionId} is not in the history (never recorded, or pruned)`);
    this.executionId = executionId;
  }
}

export class RunNotFoundError extends BackgroundTasksError {
  readonly runId: number;

  constructor(runId: number) {
    super('RUN_NOT_FOUND', `run ${runId} is not pending and no recorded attempt ended it`);
    this.runId = runId;
  }
}

/** `waitForRun` gave up: the run had not ended within the `timeout` it was given. */
export class WaitTimeoutError extends BackgroundTasksError {
  constructor(what: string, timeoutMs: number) {
    super('WAIT_TIMEOUT', `${what} did not happen within ${timeoutMs} ms`);
  }
}

/** The scheduler was closed; it can no longer reach its database. */
export class SchedulerClosedError extends BackgroundTasksError {
  constructor() {
    super('SCHEDULER_CLOSED', 'the scheduler is closed');
  }
}

/** A handler ran past its task's `timeout`. Recorded as the attempt's error. */
export class TaskTimeoutError extends BackgroundTasksError {
  constructor(timeoutMs: number) {
    super('TASK_TIMEOUT', `the handler did not settle within its timeout of ${timeoutMs} ms`);
  }
}

/** Reason given to `ctx.signal` when a running task is removed. */
export class TaskCancelledError extends BackgroundTasksError {
  constructor() {
    super('TASK_CANCELLED', 'the task was removed while it ran');
  }
}

/**
 * Thrown by a handler: the run fails at once, for good, whatever retries its
 * policy has left (SPEC rule 18). A configuration error that retrying cannot fix.
 */
export class PermanentError extends BackgroundTasksError {
  constructor(message: string, options?: ErrorOptions) {
    super('PERMANENT_FAILURE', message, options);
  }
}

/**
 * Thrown by a handler: not now, in `retryAfterMs`. The attempt is recorded
 * `snoozed`, and the run goes again after that long with the same attempt number,
 * using no retry (SPEC rule 18): an upstream that answered 429 or 503 with
 * Retry-After.
 */
export class RetryAfterError extends BackgroundTasksError {
  readonly retryAfterMs: number;

  constructor(retryAfterMs: number, message?: string, options?: ErrorOptions) {
    if (!Number.isInteger(retryAfterMs) || retryAfterMs < 0 || retryAfterMs > 2 ** 31 - 1) {
      throw new ValidationError('retryAfterMs', `must be an integer between 0 and ${2 ** 31 - 1}, got ${retryAfterMs}`);
    }
    super('RETRY_AFTER', message ?? `retry after ${retryAfterMs} ms`, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * What a handler's error asks of its run, by its code (so an error class from
 * another copy of the package, or from a module task's worker thread, counts too).
 */
export function errorClassOf(error: Error): { permanent: true } | { retryAfterMs: number } | null {
  const { code, retryAfterMs } = error as { code?: unknown; retryAfterMs?: unknown };
  if (code === 'PERMANENT_FAILURE') return { permanent: true };
  if (
    code === 'RETRY_AFTER' &&
    typeof retryAfterMs === 'number' &&
    Number.isInteger(retryAfterMs) &&
    retryAfterMs >= 0 &&
    retryAfterMs <= 2 ** 31 - 1
  )
    return { retryAfterMs };
  return null;
}

/**
 * Reason given to `ctx.signal` when a task's `conditions` stop holding and it asked
 * for `conditionLost: 'abort'`: the attempt is recorded `interrupted`, and the run
 * goes again, with the same attempt number, once they hold.
 */
export class ConditionLostError extends BackgroundTasksError {
  constructor(what: string) {
    super('CONDITION_LOST', `the task's conditions stopped holding: ${what}`);
  }
}

/** Reason given to `ctx.signal` when the scheduler stops. */
export class SchedulerStoppingError extends BackgroundTasksError {
  constructor() {
    super('SCHEDULER_STOPPING', 'the scheduler is stopping');
  }
}

export type DatabaseErrorCode =
  | 'DATABASE_LOCKED'
  | 'DATABASE_READ_ONLY'
  | 'DATABASE_FULL'
  | 'DATABASE_CORRUPT'
  | 'DATABASE_SCHEMA_TOO_NEW'
  | 'DATABASE_GONE'
  | 'DATABASE_UNAVAILABLE'
  | 'DATABASE_ERROR';

/** The database refused an operation. What had been committed before is intact. */
export class DatabaseError extends BackgroundTasksError {
  declare readonly code: DatabaseErrorCode;

  constructor(code: DatabaseErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** How each kind of refusal reads, whichever database refused; the driver's message follows. */
const REFUSALS: Partial<Record<DatabaseErrorCode, string>> = {
  DATABASE_LOCKED: 'database is locked',
  DATABASE_READ_ONLY: 'database is read-only',
  DATABASE_FULL: 'database or disk is full',
  DATABASE_CORRUPT: 'not a usable database',
  DATABASE_UNAVAILABLE: 'PostgreSQL is unreachable',
};

/** A driver's error as the typed error of its kind (each store decides the kind from its own codes). */
export function refusal(code: DatabaseErrorCode, err: unknown): DatabaseError {
  const message = err instanceof Error ? err.message : String(err);
  const prefix = REFUSALS[code];
  return new DatabaseError(code, prefix === undefined ? message : `${prefix}: ${message}`, { cause: err });
}

/** Turns anything a handler may throw into an Error, keeping the original as `cause`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  let text: string;
  try {
    text = typeof thrown === 'string' ? thrown : (JSON.stringify(thrown) ?? String(thrown));
  } catch {
    text = String(thrown);
  }
  return new Error(text, { cause: thrown });
}

/** Maps SQLite's error codes (better-sqlite3 puts them on `code`) to typed errors. */
export function toDatabaseError(err: unknown): unknown {
  if (err instanceof BackgroundTasksError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return err;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return refusal('DATABASE_LOCKED', err);
  if (code.startsWith('SQLITE_READONLY')) return refusal('DATABASE_READ_ONLY', err);
  if (code === 'SQLITE_FULL') return refusal('DATABASE_FULL', err);
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return refusal('DATABASE_CORRUPT', err);
  return refusal('DATABASE_ERROR', err);
}
