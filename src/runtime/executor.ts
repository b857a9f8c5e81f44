import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.js';
import {
  coerceError,
  ConditionLostError,
  SchedulerStoppingError,
  TaskCancelledError,
  TaskTimeoutError,
} from '../errors.js';
import type { FiredEvent } from '../execution.js';
import type { JsonValue } from '../json.js';
import type { ClaimedRun } from '../store/store.js';
import type { Outcome } from './outcome.js';

/** What a handler receives besides its arguments. */
export interface TaskContext {
  taskId: number;
  taskName: string;
  executionId: number;
  /** Numbered from 1. */
  attempt: number;
  /** The event that fired this run, if one did. */
  event: FiredEvent | null;
  /** Aborted on timeout, on `removeTask`, when `stop` runs out of patience, and when conditions are lost (`conditionLost: 'abort'`). */
  signal: AbortSignal;
  /** A child logger carrying the task and execution ids. */
  logger: Logger;
}

export type Handler<Args = JsonValue> = (args: Args, ctx: TaskContext) => unknown;

/** One attempt in flight. `done` settles once, with the first of: the handler, its timeout, or `end`. */
export interface RunningAttempt {
  readonly claim: ClaimedRun;
  readonly done: Promise<Outcome>;
  /** Aborts the handler's signal with `reason`; the attempt ends when the handler settles. */
  abort(reason: SchedulerStoppingError | TaskCancelledError | ConditionLostError): void;
  /** Ends the attempt now, whatever the handler is doing: it is abandoned. */
  end(outcome: Outcome): void;
  /** Figures the attempt measured itself (a worker thread's); null for in-process ones. */
  readonly usage: { cpuUserUs: number; cpuSystemUs: number; rssBytes: number } | null;
}

export function startAttempt(claim: ClaimedRun, handler: Handler, logger: () => Logger, clock: Clock): RunningAttempt {
  // Made when the handler first looks at ctx.signal: most short handlers never do.
  let controller: AbortController | undefined;
  let abortReason: Error | undefined;
  const abort = (reason: Error): void => {
    abortReason ??= reason;
    controller?.abort(reason);
  };
  const signal = (): AbortSignal => {
    controller ??= new AbortController();
    if (abortReason !== undefined && !controller.signal.aborted) controller.abort(abortReason);
    return controller.signal;
  };
  let resolve!: (outcome: Outcome) => void;
  const done = new Promise<Outcome>((r) => (resolve = r));
  let timer: TimerHandle | undefined;
  let ended = false;
  const end = (outcome: Outcome): void => {
    if (ended) return;
    ended = true;
    if (timer !== undefined) clock.clearTimeout(timer);
    resolve(outcome);
  };

  const { timeoutMs } = claim.task;
  if (timeoutMs !== null) {
    // A handler that ignores its aborted signal is abandoned at once: the attempt
    // fails and the slot is freed; whatever it does later is not recorded.
    timer = clock.setTimeout(() => {
      const error = new TaskTimeoutError(timeoutMs);
      abort(error);
      end({ status: 'failed', error });
    }, timeoutMs);
  }

  const ctx: TaskContext = {
    taskId: claim.task.id,
    taskName: claim.task.name,
    executionId: claim.executionId,
    attempt: claim.attempt,
    event: claim.event,
    get signal() {
      return signal();
    },
    get logger() {
      return logger();
    },
  };
  const args = JSON.parse(claim.task.argsJson) as JsonValue;
  // The handler is called inside a promise chain so a synchronous throw is an ordinary rejection.
  Promise.resolve()
    .then(() => handler(args, ctx))
    .then(
      (result) => end({ status: 'succeeded', result }),
      (thrown: unknown) => end(failure(thrown, abortReason)),
    );

  return { claim, done, abort, end, usage: null };
}

/** A rejection after an abort is the abort's doing, not the handler's failure. */
export function failure(thrown: unknown, reason: Error | undefined): Outcome {
  if (reason !== undefined) {
    if (reason instanceof SchedulerStoppingError) return { status: 'interrupted', error: reason };
    if (reason instanceof TaskCancelledError) return { status: 'cancelled' };
    if (reason instanceof ConditionLostError) return { status: 'interrupted', error: reason, blameless: true };
    if (reason instanceof TaskTimeoutError) return { status: 'failed', error: reason };
  }
  return { status: 'failed', error: coerceError(thrown) };
}
