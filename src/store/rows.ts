import { parseStoredConditions, type DeviceSnapshot } from '../conditions.js';
import type { Execution, RunReason } from '../execution.js';
import { parseStoredGroups, type Group, type RateLimit } from '../flow.js';
import { parseJson } from '../json.js';
import type { NormalizedRetryPolicy } from '../retry-policy.js';
import type { NewTaskWithSchedule, Task, TriggerInfo } from '../task.js';
import type { TriggerState } from '../triggers/schedule.js';
import type { TriggerSpec } from '../triggers/spec.js';
import type { ConditionLostPolicy } from '../values.js';
import type * as pg from './postgres/schema.js';
import type * as sqlite from './sqlite/schema.js';
import type { ClaimedRun, ReadyLimited, RunningRun, SchedulerInfo } from './store.js';

// Rows as drizzle reads them (both stores name their columns alike), the rows a
// new task starts with, and the public shapes rows become: no row shape leaves
// the store.

/** The columns two row types share, each typed as both schemas allow: a column one store lacks is not here. */
type Shared<A, B> = { [K in keyof A & keyof B]: A[K] & B[K] };

export type TaskRow = Shared<typeof sqlite.tasks.$inferSelect, typeof pg.tasks.$inferSelect>;
export type TriggerRow = Shared<typeof sqlite.triggers.$inferSelect, typeof pg.triggers.$inferSelect>;
export type ExecutionRow = Shared<typeof sqlite.executions.$inferSelect, typeof pg.executions.$inferSelect>;

export type RetryColumns = Pick<TaskRow, 'maxRetries' | 'retryDelayMs' | 'retryBackoff' | 'retryMaxDelayMs'>;

export function retryPolicyOf(row: RetryColumns): NormalizedRetryPolicy | null {
  if (row.maxRetries === null) return null;
  return {
    maxRetries: row.maxRetries,
    delay: row.retryDelayMs ?? 0,
    backoff: row.retryBackoff ?? 'fixed',
    maxDelay: row.retryMaxDelayMs,
  };
}

export function rateLimitOf(row: { rateMax: number | null; ratePerMs: number | null }): RateLimit | null {
  return row.rateMax === null || row.ratePerMs === null ? null : { max: row.rateMax, per: row.ratePerMs };
}

/** A task_groups row as both stores read it. */
export interface GroupRow {
  name: string;
  maxRunning: number | null;
  rateMax: number | null;
  ratePerMs: number | null;
  createdAt: number;
  updatedAt: number;
}

export function groupOf(row: GroupRow): Group {
  return {
    name: row.name,
    maxRunning: row.maxRunning,
    rateLimit: rateLimitOf(row),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** A ready limited task as both stores read it. */
export interface ReadyLimitedRow {
  taskId: number;
  groupsJson: string | null;
  rateMax: number | null;
  ratePerMs: number | null;
  runs: number;
}

export function toReadyLimited(row: ReadyLimitedRow): ReadyLimited {
  return { taskId: row.taskId, groups: parseStoredGroups(row.groupsJson), rateLimit: rateLimitOf(row), runs: row.runs };
}

export function specKey(spec: TriggerSpec): string {
  return JSON.stringify(Object.entries(spec).sort(([a], [b]) => a.localeCompare(b)));
}

export function specOf(row: TriggerRow): TriggerSpec {
  switch (row.kind) {
    case 'interval':
      return {
        kind: 'interval',
        interval: row.intervalMs ?? 0,
        jitter: row.jitterMs,
        misfire: row.misfire ?? 'once',
        maxCatchUp: row.maxCatchUp ?? 1,
      };
    case 'cron':
      return {
        kind: 'cron',
        cron: row.cron ?? '',
        timezone: row.timezone ?? 'UTC',
        jitter: row.jitterMs,
        misfire: row.misfire ?? 'once',
        maxCatchUp: row.maxCatchUp ?? 1,
      };
    case 'event':
      // An event trigger's debounce is its delay: the delay_ms column.
      return { kind: 'event', event: row.eventName ?? '', debounce: row.delayMs };
    case 'once':
      return { kind: 'once', at: row.at, delay: row.delayMs };
  }
}

export function triggerState(row: TriggerRow): TriggerState {
  return { spec: specOf(row), anchorAt: row.anchorAt, nextSlotAt: row.nextSlotAt, nextFireAt: row.nextFireAt };
}

export function toTask(row: TaskRow, triggerRows: TriggerRow[]): Task {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    handler: row.handler,
    module: row.module,
    memoryLimitMb: row.memoryLimitMb,
    description: row.description,
    args: parseJson(row.args),
    priority: row.priority,
    timeout: row.timeoutMs,
    retryPolicy: retryPolicyOf(row),
    paused: row.paused,
    conditions: row.conditions === null ? null : parseStoredConditions(row.conditions),
    conditionLost: row.conditionLost,
    groups: parseStoredGroups(row.groups) ?? [],
    rateLimit: rateLimitOf(row),
    triggers: triggerRows.map((t): TriggerInfo => ({
      ...specOf(t),
      id: t.id,
      nextSlotAt: t.nextSlotAt,
      nextFireAt: t.nextFireAt,
      lastFiredAt: t.lastFiredAt,
      fireCount: t.fireCount,
      missedCount: t.missedCount,
      coalescedCount: t.coalescedCount,
    })),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function toExecution(row: ExecutionRow): Execution {
  return {
    id: row.id,
    taskId: row.taskId,
    taskName: row.taskName,
    taskKey: row.taskKey,
    runId: row.runId,
    attempt: row.attempt,
    final: Boolean(row.final),
    status: row.status,
    reason: row.reason,
    event: row.eventName === null ? null : { name: row.eventName, payload: parseJson(row.eventPayload) },
    scheduledAt: row.scheduledAt,
    startedAt: row.startedAt,
    endedAt: row.endedAt,
    durationMs: row.durationMs,
    error: row.error,
    result: parseJson(row.result),
    cpuUserUs: row.cpuUserUs,
    cpuSystemUs: row.cpuSystemUs,
    rssBytes: row.rssBytes,
    redrivenRunId: row.redrivenRunId,
  };
}

/** A task's definition columns: what a keyed update replaces, and a new row starts with. */
export function taskDefinition(
  task: NewTaskWithSchedule,
  now: number,
): Omit<TaskRow, 'id' | 'key' | 'paused' | 'createdAt'> {
  const retry = task.retryPolicy;
  return {
    name: task.name,
    handler: task.handler,
    module: task.module,
    memoryLimitMb: task.memoryLimitMb,
    description: task.description,
    args: task.argsJson,
    priority: task.priority,
    timeoutMs: task.timeoutMs,
    maxRetries: retry?.maxRetries ?? null,
    retryDelayMs: retry?.delay ?? null,
    retryBackoff: retry?.backoff ?? null,
    retryMaxDelayMs: retry?.maxDelay ?? null,
    conditions: task.conditionsJson,
    conditionLost: task.conditionLost,
    groups: task.groups === null ? null : JSON.stringify(task.groups),
    rateMax: task.rateLimit?.max ?? null,
    ratePerMs: task.rateLimit?.per ?? null,
    updatedAt: now,
  };
}

/**
 * A new trigger's row, its id still to be assigned. A one-time trigger already
 * due is written as fired, and `firesAt` is the due time of the run to make with
 * it (at once, rather than at the next wake); otherwise null.
 */
export function newTriggerRow(
  taskId: number,
  state: TriggerState,
  now: number,
): { row: TriggerRow; firesAt: number | null } {
  const { spec } = state;
  const periodic = spec.kind === 'interval' || spec.kind === 'cron';
  const firesNow = spec.kind === 'once' && state.nextFireAt !== null && state.nextFireAt <= now;
  const row: TriggerRow = {
    id: 0,
    taskId,
    kind: spec.kind,
    intervalMs: spec.kind === 'interval' ? spec.interval : null,
    cron: spec.kind === 'cron' ? spec.cron : null,
    timezone: spec.kind === 'cron' ? spec.timezone : null,
    jitterMs: periodic ? spec.jitter : 0,
    misfire: periodic ? spec.misfire : null,
    maxCatchUp: periodic ? spec.maxCatchUp : null,
    eventName: spec.kind === 'event' ? spec.event : null,
    delayMs: spec.kind === 'once' ? spec.delay : spec.kind === 'event' ? spec.debounce : null,
    at: spec.kind === 'once' ? spec.at : null,
    anchorAt: state.anchorAt,
    nextSlotAt: firesNow ? null : state.nextSlotAt,
    nextFireAt: firesNow ? null : state.nextFireAt,
    lastFiredAt: firesNow ? now : null,
    fireCount: firesNow ? 1 : 0,
    missedCount: 0,
    coalescedCount: 0,
  };
  return { row, firesAt: firesNow ? state.nextFireAt : null };
}

/** A trigger row's values in the order both stores insert them (task_id, kind, … fire_count). */
export type TriggerInsertValues = [
  taskId: number,
  kind: string,
  intervalMs: number | null,
  cron: string | null,
  timezone: string | null,
  jitterMs: number,
  misfire: string | null,
  maxCatchUp: number | null,
  eventName: string | null,
  delayMs: number | null,
  at: number | null,
  anchorAt: number,
  nextSlotAt: number | null,
  nextFireAt: number | null,
  lastFiredAt: number | null,
  fireCount: number,
];

export function triggerInsertValues(row: TriggerRow): TriggerInsertValues {
  return [
    row.taskId,
    row.kind,
    row.intervalMs,
    row.cron,
    row.timezone,
    row.jitterMs,
    row.misfire,
    row.maxCatchUp,
    row.eventName,
    row.delayMs,
    row.at,
    row.anchorAt,
    row.nextSlotAt,
    row.nextFireAt,
    row.lastFiredAt,
    row.fireCount,
  ];
}

/**
 * How many runs of a periodic trigger may wait or run at once: a fire that comes
 * due while an earlier one is pending is coalesced, except that `misfire: 'all'`
 * lets up to maxCatchUp queue.
 */
export function pendingLimit(row: Pick<TriggerRow, 'misfire' | 'maxCatchUp'>): number {
  return row.misfire === 'all' ? (row.maxCatchUp ?? 1) : 1;
}

/** What a claim reads of a ready run and its task. */
export type ClaimColumns = RetryColumns & {
  runId: number;
  taskId: number;
  attempt: number;
  interruptions: number;
  reason: RunReason;
  eventName: string | null;
  eventPayload: string | null;
  dueAt: number;
  name: string;
  handler: string;
  module: string | null;
  memoryLimitMb: number | null;
  argsJson: string;
  timeoutMs: number | null;
  conditionsJson: string | null;
  conditionLost: ConditionLostPolicy;
};

export function toClaimedRun(row: ClaimColumns, executionId: number, startedAt: number): ClaimedRun {
  return {
    runId: row.runId,
    executionId,
    attempt: row.attempt,
    interruptions: row.interruptions,
    reason: row.reason,
    event: row.eventName === null ? null : { name: row.eventName, payload: parseJson(row.eventPayload) },
    dueAt: row.dueAt,
    startedAt,
    task: {
      id: row.taskId,
      name: row.name,
      handler: row.handler,
      module: row.module,
      memoryLimitMb: row.memoryLimitMb,
      argsJson: row.argsJson,
      timeoutMs: row.timeoutMs,
      retryPolicy: retryPolicyOf(row),
      conditionsJson: row.conditionsJson,
      conditionLost: row.conditionLost,
    },
  };
}

/** A running run and its owner, as recovery reads them. */
export type RunningRow = RetryColumns & {
  runId: number;
  executionId: number | null;
  attempt: number;
  interruptions: number;
  owner: string | null;
  ownerHost: string | null;
  ownerPid: number | null;
  leaseExpiresAt: number | null;
};

export function toRunningRun(row: RunningRow): RunningRun {
  return {
    runId: row.runId,
    executionId: row.executionId ?? 0,
    attempt: row.attempt,
    interruptions: row.interruptions,
    owner: { id: row.owner ?? '', host: row.ownerHost ?? '', pid: row.ownerPid ?? 0 },
    leaseExpiresAt: row.leaseExpiresAt ?? 0,
    retryPolicy: retryPolicyOf(row),
  };
}

/** A failed attempt as redrive reads it (SPEC rule 19): its run is made again from these, from attempt 1. */
export interface FailedAttempt {
  id: number;
  taskId: number;
  reason: RunReason;
  eventName: string | null;
  eventPayload: string | null;
  /** The task's, for the new run's place in the claim order. */
  priority: number;
}

/** A `schedulers` row as both stores read it: handlers and the latest device reading are JSON. */
export function toSchedulerInfo<R extends { handlers: string; device: string | null }>(
  row: R,
): Omit<R, 'handlers' | 'device'> & Pick<SchedulerInfo, 'handlers' | 'device'> {
  return {
    ...row,
    handlers: JSON.parse(row.handlers) as string[],
    device: row.device === null ? null : (JSON.parse(row.device) as DeviceSnapshot),
  };
}
