import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import {
  BACKOFFS,
  CONDITION_LOST_POLICIES,
  EXECUTION_STATUSES,
  MISFIRE_POLICIES,
  RUN_REASONS,
  RUN_STATES,
  TRIGGER_KINDS,
} from '../../values.js';

// Every time column holds UTC epoch milliseconds. AUTOINCREMENT keeps ids growing:
// SQLite never hands out an id again, even after the newest row is deleted.

export const tasks = sqliteTable(
  'tasks',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    key: text('key'),
    name: text('name').notNull(),
    handler: text('handler').notNull(),
    // A module file whose default export is the handler, run in a worker thread.
    module: text('module'),
    memoryLimitMb: integer('memory_limit_mb'),
    description: text('description'),
    args: text('args').notNull(),
    priority: integer('priority').notNull().default(0),
    timeoutMs: integer('timeout_ms'),
    maxRetries: integer('max_retries'),
    retryDelayMs: integer('retry_delay_ms'),
    retryBackoff: text('retry_backoff', { enum: BACKOFFS }),
    retryMaxDelayMs: integer('retry_max_delay_ms'),
    paused: integer('paused', { mode: 'boolean' }).notNull().default(false),
    // Device conditions (SPEC rule 21) as JSON with a fixed field order, so that
    // tasks with the same conditions hold the same text; null: none.
    conditions: text('conditions'),
    conditionLost: text('condition_lost', { enum: CONDITION_LOST_POLICIES }).notNull().default('wait'),
    // Concurrency groups and rate limits (SPEC rules 16 and 17): the task's groups as a
    // sorted JSON array of names (null: none), and its own rate limit (null: none).
    groups: text('groups'),
    rateMax: integer('rate_max'),
    ratePerMs: integer('rate_per_ms'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  // Partial: most tasks have no key, and an entry per keyless task would be
  // written and deleted with every one-time task for nothing.
  (t) => [
    uniqueIndex('tasks_key')
      .on(t.key)
      .where(sql`key IS NOT NULL`),
  ],
);

export const triggers = sqliteTable(
  'triggers',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    taskId: integer('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: TRIGGER_KINDS }).notNull(),
    intervalMs: integer('interval_ms'),
    cron: text('cron'),
    timezone: text('timezone'),
    jitterMs: integer('jitter_ms').notNull().default(0),
    misfire: text('misfire', { enum: MISFIRE_POLICIES }),
    maxCatchUp: integer('max_catch_up'),
    eventName: text('event_name'),
    // A one-time trigger's definition: one of the two is set.
    delayMs: integer('delay_ms'),
    at: integer('at'),
    // Where an interval's slots are counted from: the time the trigger was added.
    anchorAt: integer('anchor_at').notNull(),
    // The nominal time of the next slot, and that slot plus its jitter. NULL once a
    // one-time trigger has fired, and always for event triggers.
    nextSlotAt: integer('next_slot_at'),
    nextFireAt: integer('next_fire_at'),
    lastFiredAt: integer('last_fired_at'),
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

/**
 * Runs that are due or will be soon: a periodic or one-time fire, an event
 * delivery, a runNow, or a retry waiting for its delay. Far-future schedules stay
 * in `triggers`, so this table (and each claim) stays small.
 */
export const runs = sqliteTable(
  'runs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    taskId: integer('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    triggerId: integer('trigger_id'),
    reason: text('reason', { enum: RUN_REASONS }).notNull(),
    eventName: text('event_name'),
    eventPayload: text('event_payload'),
    state: text('state', { enum: RUN_STATES }).notNull(),
    // The task's priority, copied so that one index yields ready runs in claim order.
    priority: integer('priority').notNull(),
    dueAt: integer('due_at').notNull(),
    attempt: integer('attempt').notNull().default(1),
    // Interruptions in a row (stop, crash); bounded so a task that kills its own
    // process cannot loop for ever.
    interruptions: integer('interruptions').notNull().default(0),
    executionId: integer('execution_id'),
    owner: text('owner'),
    ownerHost: text('owner_host'),
    ownerPid: integer('owner_pid'),
    leaseExpiresAt: integer('lease_expires_at'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    // Partial indexes: a claim moves a run out of the waiting ones and into the
    // (small) running one, instead of rewriting entries that carry the state.
    index('runs_waiting_due')
      .on(t.dueAt)
      .where(sql`state = 'waiting'`),
    index('runs_claim_order')
      .on(sql`${t.priority} DESC`, t.dueAt, t.taskId, t.id)
      .where(sql`state = 'waiting'`),
    index('runs_running')
      .on(t.taskId)
      .where(sql`state = 'running'`),
    // Not (task_id, state): an index holding state would be rewritten on every claim.
    index('runs_task').on(t.taskId),
    // Only periodic and event runs are looked up by trigger (coalescing, debounce):
    // a one-time run, written and deleted within moments, stays out of it.
    index('runs_trigger')
      .on(t.triggerId)
      .where(sql`reason <> 'once'`),
  ],
);

/** One row per attempt. No foreign key: history outlives the task it belongs to. */
export const executions = sqliteTable(
  'executions',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    taskId: integer('task_id').notNull(),
    taskName: text('task_name').notNull(),
    // The task's key when it ran, so history can be asked about a keyed task that is gone.
    taskKey: text('task_key'),
    runId: integer('run_id').notNull(),
    attempt: integer('attempt').notNull(),
    status: text('status', {
      enum: EXECUTION_STATUSES,
    }).notNull(),
    reason: text('reason', { enum: RUN_REASONS }).notNull(),
    eventName: text('event_name'),
    eventPayload: text('event_payload'),
    scheduledAt: integer('scheduled_at').notNull(),
    startedAt: integer('started_at').notNull(),
    endedAt: integer('ended_at'),
    durationMs: integer('duration_ms'),
    error: text('error'),
    result: text('result'),
    cpuUserUs: integer('cpu_user_us'),
    cpuSystemUs: integer('cpu_system_us'),
    rssBytes: integer('rss_bytes'),
    owner: text('owner'),
    // 1 for the attempt that ended its run (succeeded, failed for good, cancelled);
    // 0 while it runs and for one that another attempt followed (a retry, an interruption).
    final: integer('final', { mode: 'boolean' }).notNull().default(false),
    // The run retryExecution or retryFailed made of this failed attempt (SPEC rule 19); null: not redriven.
    redrivenRunId: integer('redriven_run_id'),
  },
  (t) => [
    index('executions_task').on(t.taskId, t.id),
    // Only attempts that went wrong: the common running → succeeded path never touches it.
    index('executions_trouble')
      .on(t.status, t.id)
      .where(sql`status IN ('failed', 'interrupted', 'cancelled')`),
    index('executions_started').on(t.startedAt),
    // A run's attempts: waitForRun, and history by run.
    index('executions_run').on(t.runId),
  ],
);

/**
 * Keys of keyed tasks that are gone (ran to their end, or were removed), written by
 * a trigger on `tasks` (migrations/sqlite/0001), so that `addTaskOnce` does not
 * add a task again whose key was spent, however the task went.
 */
export const spentKeys = sqliteTable('spent_keys', {
  key: text('key').primaryKey(),
  taskId: integer('task_id').notNull(),
});

/**
 * Schedulers that run, or ran, on this file: what handlers each has registered,
 * refreshed by its heartbeat, so that operators (and the CLI) can tell which runs
 * nobody can take.
 */
export const schedulers = sqliteTable('schedulers', {
  id: text('id').primaryKey(),
  host: text('host').notNull(),
  pid: integer('pid').notNull(),
  handlers: text('handlers').notNull(),
  // The scheduler's latest device readings and named conditions (JSON), for operators and explain.
  device: text('device'),
  startedAt: integer('started_at').notNull(),
  lastSeenAt: integer('last_seen_at').notNull(),
});

/**
 * Event keys fired lately (SPEC rule 20): a `fireEvent(name, payload, { key })` whose
 * key is here for the same event, fired within the window, makes no runs. Rows past
 * the window are deleted by later keyed firings.
 */
export const eventKeys = sqliteTable(
  'event_keys',
  {
    eventName: text('event_name').notNull(),
    key: text('key').notNull(),
    firedAt: integer('fired_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.eventName, t.key] }), index('event_keys_fired').on(t.firedAt)],
);

/**
 * Concurrency groups (SPEC rules 16 and 17), defined by `defineGroup`: at most
 * `max_running` runs of the tasks that join a group run at once, and at most
 * `rate_max` start in any `rate_per_ms` window, across every process on the file.
 */
export const taskGroups = sqliteTable('task_groups', {
  name: text('name').primaryKey(),
  maxRunning: integer('max_running'),
  rateMax: integer('rate_max'),
  ratePerMs: integer('rate_per_ms'),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

/**
 * The starts a rate limit counts: one row per attempt started under a limit,
 * `limiter` being `task:<id>` or `group:<name>`. A claim deletes its limiter's rows
 * that left the window, so the table holds about one window's starts.
 */
export const rateStarts = sqliteTable(
  'rate_starts',
  {
    limiter: text('limiter').notNull(),
    startedAt: integer('started_at').notNull(),
  },
  (t) => [index('rate_starts_limiter').on(t.limiter, t.startedAt)],
);
