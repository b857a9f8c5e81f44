/**
 * The one source of time. Everything the scheduler stores or compares is UTC epoch
 * milliseconds from `now()`; every wait goes through `setTimeout`, so a test can
 * swap in a fake clock (see `background-tasks/testing`) and drive time by hand.
 */
export interface Clock {
  /** Wall-clock time, UTC epoch ms: what is stored and compared. It can jump. */
  now(): number;
  /** Milliseconds on a clock that never jumps (only its differences mean anything). */
  monotonic(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export type TimerHandle = unknown;

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  // Node's timers run on monotonic time, so a wall-clock jump does not stretch a wait.
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The earliest of some times, null among them meaning never; null if all are. */
export function earliest(...times: (number | null)[]): number | null {
  let first: number | null = null;
  for (const time of times) if (time !== null && (first === null || time < first)) first = time;
  return first;
}
