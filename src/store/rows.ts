import type { Execution } from '../execution.js';
import { parseJson } from '../json.js';
import type { NormalizedRetryPolicy } from '../retry-policy.js';
import type { Task, TriggerInfo } from '../task.js';
import type { TriggerState } from '../triggers/schedule.js';
import type { TriggerSpec } from '../triggers/spec.js';
import type { executions, tasks, triggers } from './sqlite/schema.js';

// Rows as drizzle reads them, and the public shapes they become: no row shape
// leaves the store.

export type TaskRow = typeof tasks.$inferSelect;
export type TriggerRow = typeof triggers.$inferSelect;
export type ExecutionRow = typeof executions.$inferSelect;

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
      return { kind: 'event', event: row.eventName ?? '' };
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
    runId: row.runId,
    attempt: row.attempt,
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
  };
}
