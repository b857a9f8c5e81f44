import type { TriggerSpec } from './spec.js';

/**
 * A trigger decides when its task runs. The scheduler stores `spec` and keeps
 * the next fire time in the database; `next`, `isReady` and `reset` are the same
 * rules on an object held in memory, as the seed offered them.
 */
export abstract class Trigger {
  /** The trigger as stored: plain data. */
  abstract readonly spec: TriggerSpec;

  /** The first fire time strictly after `after` (epoch ms); null if it will not fire again. */
  abstract next(after: number): number | null;

  /** Whether the trigger has come due at `now` since the last `reset`. */
  abstract isReady(now: number): boolean;

  /** Marks the current fire as consumed; the trigger waits for its next one. */
  abstract reset(now: number): void;
}
