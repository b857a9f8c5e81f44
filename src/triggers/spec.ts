/** What happens to periodic slots that passed while no scheduler ran. */
import type { Misfire } from '../values.js';

export type { Misfire } from '../values.js';

/** The stored form of a trigger: plain data, one variant per kind. */
export type TriggerSpec =
  | { kind: 'interval'; interval: number; jitter: number; misfire: Misfire; maxCatchUp: number }
  | { kind: 'cron'; cron: string; timezone: string; jitter: number; misfire: Misfire; maxCatchUp: number }
  /** `debounce`: firings closer together than this many ms make one run, due that long after the last. */
  | { kind: 'event'; event: string; debounce: number | null }
  | { kind: 'once'; at: number | null; delay: number | null };

export type PeriodicSpec = Extract<TriggerSpec, { kind: 'interval' | 'cron' }>;

/** `misfire: 'all'` replays at most this many missed slots by default. */
export const DEFAULT_MAX_CATCH_UP = 10;
/** The largest `maxCatchUp` accepted. */
export const MAX_CATCH_UP_LIMIT = 1000;
/**
 * A slot is "missed" (and `misfire` decides its fate) when it is found more than
 * this late: a scheduler that is running wakes within milliseconds of a slot.
 */
export const MISFIRE_GRACE_MS = 1000;
