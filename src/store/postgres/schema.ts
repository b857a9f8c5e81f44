import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, pgSchema, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import {
  BACKOFFS,
  CONDITION_LOST_POLICIES,
  EXECUTION_STATUSES,
  MISFIRE_POLICIES,
  RUN_REASONS,
  RUN_STATES,
  TRIGGER_KINDS,
} from '../../values.js';

// The same tables as on SQLite, in a schema of their own so that they sit beside
// an application's tables without clashing: operators query
// `background_tasks.executions`. Times are UTC epoch milliseconds in bigint
// columns, read as JavaScript numbers (exact up to 2^53).

export const schema = pgSchema('background_tasks');

const ms = (name: string) => bigint(name, { mode: 'number' });
const id = () => bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity();

export const tasks = schema.table(
  'tasks',
  {
    id: id(),
    key: text('key'),
    name: text('name').notNull(),
    handler: text('handler').notNull(),
    module: text('module'),
    memoryLimitMb: integer('memory_limit_mb'),
    description: text('description'),
    args: text('args').notNull(),
    priority: integer('priority').notNull().default(0),
    timeoutMs: ms('timeout_ms'),
    maxRetries: integer('max_retries'),
    retryDelayMs: ms('retry_delay_ms'),
    retryBackoff: text('retry_backoff', { enum: BACKOFFS }),
    retryMaxDelayMs: ms('retry_max_delay_ms'),
    paused: boolean('paused').notNull().default(false),
    // Device conditions (SPEC rule 21) as JSON with a fixed field order, so that
    // tasks with the same conditions hold the same text; null: none.
    conditions: text('conditions'),
    conditionLost: text('condition_lost', { enum: CONDITION_LOST_POLICIES }).notNull().default('wait'),
    // Concurrency groups and rate limits (SPEC rules 16 and 17): the task's groups as a
    // sorted JSON array of names (null: none), and its own rate limit (null: none).
    groups: text('groups'),
    rateMax: integer('rate_max'),
    ratePerMs: ms('rate_per_ms'),
    // The run this task is running, anywhere in the fleet. A claim sets it under the
    // task's row lock, so two nodes can never run one task at once.
    runningRunId: bigint('running_run_id', { mode: 'number' }),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('tasks_key').on(t.key),
    // The claim's list of distinct condition sets (postgres/cycle.ts), read by a loose index scan.
    index('tasks_conditions')
      .on(t.conditions)
      .where(sql`${t.conditions} IS NOT NULL`),
    // Whether any task is limited (LOOK): the claim takes the fleet-wide flow lock only then.
    index('tasks_limited')
      .on(t.id)
      .where(sql`${t.groups} IS NOT NULL OR ${t.rateMax} IS NOT NULL`),
  ],
);

export const triggers = schema.table(
  'triggers',
  {
    id: id(),
    taskId: bigint('task_id', { mode: 'number' })
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: TRIGGER_KINDS }).notNull(),
    intervalMs: ms('interval_ms'),
    cron: text('cron'),
    timezone: text('timezone'),
    jitterMs: ms('jitter_ms').notNull().default(0),
    misfire: text('misfire', { enum: MISFIRE_POLICIES }),
    maxCatchUp: integer('max_catch_up'),
    eventName: text('event_name'),
    delayMs: ms('delay_ms'),
    at: ms('at'),
    anchorAt: ms('anchor_at').notNull(),
    nextSlotAt: ms('next_slot_at'),
    nextFireAt: ms('next_fire_at'),
    lastFiredAt: ms('last_fired_at'),
    fireCount: integer('fire_count').notNull().default(0),
    missedCount: integer('missed_count').notNull().default(0),
    coalescedCount: integer('coalesced_count').notNull().default(0),
  },
  (t) => [
    index('triggers_task').on(t.taskId),
    index('triggers_next_fire')
      .on(t.nextFireAt)
      .where(sql`next_fire_at IS NOT NULL`),
    index('triggers_event')
      .on(t.eventName)
      .where(sql`kind = 'event'`),
  ],
);

export const runs = schema.table(
  'runs',
  {
    id: id(),
    taskId: bigint('task_id', { mode: 'number' })
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    triggerId: bigint('trigger_id', { mode: 'number' }),
    // The slot a periodic or one-time fire was made for. Unique per trigger: however
    // many nodes fire a trigger at once, a slot becomes one run.
    slotAt: ms('slot_at'),
    reason: text('reason', { enum: RUN_REASONS }).notNull(),
    eventName: text('event_name'),
    eventPayload: text('event_payload'),
    state: text('state', { enum: RUN_STATES }).notNull(),
    priority: integer('priority').notNull(),
    dueAt: ms('due_at').notNull(),
    attempt: integer('attempt').notNull().default(1),
    interruptions: integer('interruptions').notNull().default(0),
    executionId: bigint('execution_id', { mode: 'number' }),
    owner: text('owner'),
    ownerHost: text('owner_host'),
    ownerPid: integer('owner_pid'),
    leaseExpiresAt: ms('lease_expires_at'),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [
    index('runs_waiting_due')
      .on(t.dueAt)
      .where(sql`state = 'waiting'`),
    index('runs_claim_order')
      .on(sql`${t.priority} DESC`, t.dueAt, t.taskId, t.id)
      .where(sql`state = 'waiting'`),
    index('runs_running')
      .on(t.owner)
      .where(sql`state = 'running'`),
    index('runs_task').on(t.taskId),
    uniqueIndex('runs_trigger_slot').on(t.triggerId, t.slotAt),
  ],
);

/** One row per attempt. No foreign key: history outlives the task it belongs to. */
export const executions = schema.table(
  'executions',
  {
    id: id(),
    taskId: bigint('task_id', { mode: 'number' }).notNull(),
    taskName: text('task_name').notNull(),
    // The task's key when it ran, so history can be asked about a keyed task that is gone.
    taskKey: text('task_key'),
    runId: bigint('run_id', { mode: 'number' }).notNull(),
    attempt: integer('attempt').notNull(),
    status: text('status', {
      enum: EXECUTION_STATUSES,
    }).notNull(),
    reason: text('reason', { enum: RUN_REASONS }).notNull(),
    eventName: text('event_name'),
    eventPayload: text('event_payload'),
    scheduledAt: ms('scheduled_at').notNull(),
    startedAt: ms('started_at').notNull(),
    endedAt: ms('ended_at'),
    durationMs: ms('duration_ms'),
    error: text('error'),
    result: text('result'),
    cpuUserUs: ms('cpu_user_us'),
    cpuSystemUs: ms('cpu_system_us'),
    rssBytes: ms('rss_bytes'),
    owner: text('owner'),
    // True for the attempt that ended its run (succeeded, failed for good, cancelled).
    final: boolean('final').notNull().default(false),
    // The run retryExecution or retryFailed made of this failed attempt (SPEC rule 19); null: not redriven.
    redrivenRunId: bigint('redriven_run_id', { mode: 'number' }),
  },
  (t) => [
    index('executions_task').on(t.taskId, t.id),
    index('executions_trouble')
      .on(t.status, t.id)
      .where(sql`status IN ('failed', 'interrupted', 'cancelled')`),
    index('executions_started').on(t.startedAt),
    // A run's attempts: waitForRun, and history by run.
    index('executions_run').on(t.runId),
  ],
);

/** Keys of keyed tasks that are gone, written by a trigger on `tasks` (migrations/pg/0002). */
export const spentKeys = schema.table('spent_keys', {
  key: text('key').primaryKey(),
  taskId: bigint('task_id', { mode: 'number' }).notNull(),
});

export const schedulers = schema.table('schedulers', {
  id: text('id').primaryKey(),
  host: text('host').notNull(),
  pid: integer('pid').notNull(),
  handlers: text('handlers').notNull(),
  // The scheduler's latest device readings and named conditions (JSON), for operators and explain.
  device: text('device'),
  startedAt: ms('started_at').notNull(),
  lastSeenAt: ms('last_seen_at').notNull(),
});

/**
 * Event keys fired lately (SPEC rule 20): a `fireEvent(name, payload, { key })` whose
 * key is here for the same event, fired within the window, makes no runs. Rows past
 * the window are deleted by later keyed firings.
 */
export const eventKeys = schema.table(
  'event_keys',
  {
    eventName: text('event_name').notNull(),
    key: text('key').notNull(),
    firedAt: ms('fired_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.eventName, t.key] }), index('event_keys_fired').on(t.firedAt)],
);

/** Concurrency groups (SPEC rules 16 and 17), defined by `defineGroup`: across the fleet. */
export const taskGroups = schema.table('task_groups', {
  name: text('name').primaryKey(),
  maxRunning: integer('max_running'),
  rateMax: integer('rate_max'),
  ratePerMs: ms('rate_per_ms'),
  createdAt: ms('created_at').notNull(),
  updatedAt: ms('updated_at').notNull(),
});

/** The starts a rate limit counts (`task:<id>` or `group:<name>`), about one window's worth. */
export const rateStarts = schema.table(
  'rate_starts',
  {
    limiter: text('limiter').notNull(),
    startedAt: ms('started_at').notNull(),
  },
  (t) => [index('rate_starts_limiter').on(t.limiter, t.startedAt)],
);
