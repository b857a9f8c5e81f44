// The value lists the scheduler stores and accepts, each defined once: the types,
// the drizzle column enums, the validators and the CLI's choices derive from these.

export const EXECUTION_STATUSES = ['running', 'succeeded', 'failed', 'interrupted', 'cancelled', 'snoozed'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/** What made a run: a trigger kind, or `manual` for `runNow`. Retries keep the reason of their run. */
export const RUN_REASONS = ['interval', 'cron', 'event', 'once', 'manual'] as const;
export type RunReason = (typeof RUN_REASONS)[number];

export const TRIGGER_KINDS = ['interval', 'cron', 'event', 'once'] as const;
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

/** What a periodic trigger does with slots missed while no scheduler ran. */
export const MISFIRE_POLICIES = ['once', 'skip', 'all'] as const;
export type Misfire = (typeof MISFIRE_POLICIES)[number];

export const BACKOFFS = ['fixed', 'exponential'] as const;
export type Backoff = (typeof BACKOFFS)[number];

export const RUN_STATES = ['waiting', 'running'] as const;
export type RunState = (typeof RUN_STATES)[number];

/** How hard a commit holds on to the disk: `'full'` survives power loss, `'normal'` may lose the last commits. */
export const DURABILITIES = ['full', 'normal'] as const;
export type Durability = (typeof DURABILITIES)[number];

/** What a running attempt does when its task's conditions stop holding: go on, or stop and go again later. */
export const CONDITION_LOST_POLICIES = ['wait', 'abort'] as const;
export type ConditionLostPolicy = (typeof CONDITION_LOST_POLICIES)[number];
