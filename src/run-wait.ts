// Waiting for a run to end: the handle that `runNow` and `fireEventRuns` give.
import { RunNotFoundError, WaitTimeoutError } from './errors.js';
import type { Execution } from './execution.js';
import type { RunOutcome } from './store/store.js';

/**
 * How often to look again for an end that another process recorded (a real timer:
 * it decides only when to look). Ends in this process are seen at once.
 */
export const RUN_POLL_MS = 500;

export interface RunWait {
  /** Reads where the run stands. */
  look: () => Promise<RunOutcome>;
  /** Calls `listener` with the run id of each attempt this process records; returns an unsubscribe. */
  onLocalEnd: (listener: (runId: number) => void) => () => void;
  timeoutMs: number | undefined;
}

/** Resolves with the attempt that ended run `runId` (succeeded, failed for good, or cancelled). */
export function waitForRun(runId: number, { look, onLocalEnd, timeoutMs }: RunWait): Promise<Execution> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let looking: Promise<void> | undefined;
    let lookAgain = false;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      clearTimeout(timer);
      unsubscribe();
      finish();
    };
    const check = async (): Promise<void> => {
      do {
        lookAgain = false;
        const { pending, final } = await look();
        if (final !== undefined) return settle(() => resolve(final));
        if (!pending) return settle(() => reject(new RunNotFoundError(runId)));
      } while (lookAgain && !settled);
    };
    // One read at a time; an end seen meanwhile asks for one more.
    const lookNow = (): void => {
      if (settled) return;
      if (looking !== undefined) {
        lookAgain = true;
        return;
      }
      looking = check()
        .catch((err: unknown) => settle(() => reject(err)))
        .finally(() => (looking = undefined));
    };
    const unsubscribe = onLocalEnd((id) => {
      if (id === runId) lookNow();
    });
    const poll = setInterval(lookNow, RUN_POLL_MS);
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => settle(() => reject(new WaitTimeoutError(`the end of run ${runId}`, timeoutMs))), timeoutMs);
    lookNow();
  });
}
