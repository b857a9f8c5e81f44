import type { FirePlan, TriggerState } from '../../triggers/schedule.js';
import type { ClaimedRun, ClaimParams, CompleteRunParams, FireResult } from '../store.js';
import { fireTrigger } from '../firing.js';
import { toClaimedRun } from '../rows.js';
import type { ReadyRow, Statements } from './statements.js';

// The steps of one wake of the loop, run by SqliteStore.cycle inside one
// transaction: record ended attempts, fire due triggers, claim ready runs.

export function fireDue(
  q: Statements,
  now: number,
  plan: (state: TriggerState) => FirePlan,
  limit: number,
): FireResult {
  const result: FireResult = { runs: 0, broken: [] };
  for (const row of q.dueTriggers.all(now, limit)) {
    const fired = fireTrigger(row, row.kind === 'once' ? 0 : q.pendingOfTrigger.get(row.id)!, now, plan);
    if (!fired.ok) {
      q.disableTrigger.run(row.id);
      result.broken.push({ triggerId: row.id, taskId: row.taskId, error: fired.error });
      continue;
    }
    for (const dueAt of fired.fires)
      q.insertRun.run(row.taskId, row.id, row.kind, null, null, row.priority, dueAt, now);
    const { advance } = fired;
    q.advanceTrigger.run(
      advance.nextSlotAt,
      advance.nextFireAt,
      advance.lastFiredAt ?? row.lastFiredAt,
      advance.fired,
      advance.missed,
      advance.coalesced,
      row.id,
    );
    result.runs += advance.fired;
  }
  return result;
}

/**
 * Walks ready runs in claim order: highest priority first, then the run due
 * first, then task id. A task offers only its first ready run, and none while it
 * already runs (no overlap) or while its conditions do not hold here; the walk
 * stops as soon as enough runs are chosen.
 */
export function claim(
  q: Statements,
  { now, limit, handlers, owner, leaseUntil, holds, held }: ClaimParams,
): ClaimedRun[] {
  const running = new Set(q.runningTaskIds.all());
  const allowed = new Set(handlers);
  const seen = new Set<number>();
  const ready: ReadyRow[] = [];
  const known = held();
  const rows =
    known.length === 0 ? q.readyInOrder.iterate(now) : q.readyInOrderExcept.iterate(now, JSON.stringify(known));
  for (const row of rows) {
    if (seen.has(row.taskId)) continue;
    seen.add(row.taskId);
    // A module task needs no registration: any scheduler can load its file.
    if (row.paused || running.has(row.taskId) || (row.module === null && !allowed.has(row.handler))) continue;
    // Held by its device conditions here; passed over, so the runs behind it are not held up.
    if (row.conditionsJson !== null && !holds(row.conditionsJson)) continue;
    ready.push(row);
    if (ready.length === limit) break;
  }
  return ready.map((row) => {
    const executionId = Number(
      q.insertExecution.run(
        row.taskId,
        row.name,
        row.taskKey,
        row.runId,
        row.attempt,
        row.reason,
        row.eventName,
        row.eventPayload,
        row.dueAt,
        now,
        owner.id,
      ).lastInsertRowid,
    );
    q.markRunning.run(executionId, owner.id, owner.host, owner.pid, leaseUntil, row.runId);
    return toClaimedRun(row, executionId, now);
  });
}

/** Records an attempt's end and the run's fate, if the run is still running under `owner`. */
export function complete(q: Statements, params: CompleteRunParams): boolean {
  const { runId, owner, next, usage } = params;
  const recorded = q.finishExecution.run(
    params.status,
    params.endedAt,
    usage?.durationMs ?? null,
    params.endedAt,
    params.error,
    params.resultJson,
    usage?.cpuUserUs ?? null,
    usage?.cpuSystemUs ?? null,
    usage?.rssBytes ?? null,
    next.kind === 'done' ? 1 : 0,
    params.executionId,
    owner,
  );
  if (recorded.changes === 0) return false;
  if (next.kind === 'again') {
    q.requeueRun.run(next.dueAt, next.attempt, next.interruptions, runId, owner);
    return true;
  }
  const taskId = q.deleteRun.get(runId, owner);
  // A spent one-time task whose run failed for good stays, a dead letter that
  // retryExecution or retryFailed can run again (rule 19); its next end removes it.
  if (taskId !== undefined && params.status !== 'failed') q.removeIfSpent.run(taskId, taskId, taskId, taskId);
  return true;
}

export function nextWake(q: Statements, now: number): number | null {
  const row = q.nextWake.get(now)!;
  const times = [row.run, row.trigger].filter((t): t is number => t !== null);
  return times.length === 0 ? null : Math.min(...times);
}
