// The loop's clocks: how long it sleeps, how long a lease lasts, and how often the
// maintenance services run. In one place, because tests and the README quote them.

/** The longest the producer sleeps, so that another process's work and clock corrections are noticed. */
export const MAX_SLEEP_MS = 10_000;
/** A running run's lease; renewed at every heartbeat, a third of it. */
export const LEASE_MS = 15_000;
/** How often the heartbeat runs the maintenance services. */
export const HEARTBEAT_MS = LEASE_MS / 3;
/** After `stop` aborts a handler's signal, how long it may take to settle before it is abandoned. */
export const ABORT_GRACE_MS = 1_000;
/**
 * A wall clock that falls behind the monotonic clock by more than this between two
 * wakes (or is behind what an earlier process recorded, at start) has been set back.
 */
export const CLOCK_JUMP_TOLERANCE_MS = 1_000;
/** How many due triggers one wake turns into runs; more wait for the next wake, at once. */
export const TRIGGER_BATCH = 500;
/** Pause before retrying after the database refused a wake. */
export const ERROR_BACKOFF_MS = 1_000;
