import { TaskCancelledError } from '../errors.js';
import type { RunningAttempt } from './executor.js';

/** An attempt that runs in this process. */
export interface InFlight {
  attempt: RunningAttempt;
  /** Settles once the attempt's end is queued for recording. */
  recorded: Promise<void>;
}

/** The attempts running in this process, by execution id: the executor adds, the completer removes. */
export type InFlightAttempts = Map<number, InFlight>;

/** Aborts an attempt whose run was removed, and ends it `cancelled`. */
export function cancelAttempt(attempt: RunningAttempt): void {
  attempt.abort(new TaskCancelledError());
  attempt.end({ status: 'cancelled' });
}
