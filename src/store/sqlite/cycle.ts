import { earliest } from '../../clock.js';
import type { FirePlan, TriggerState } from '../../triggers/schedule.js';
import {
  Admission,
  parseStoredGroups,
  type Admitted,
  type Group,
  type LimitedRun,
  type LimitsView,
} from '../../flow.js';
import type { ClaimBatch, ClaimParams, CompleteRunParams, FireResult } from '../store.js';
import { fireTrigger } from '../firing.js';
import { rateLimitOf, toClaimedRun } from '../rows.js';
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
  // Most wakes have no trigger due. The narrow probe answers that in about a
  // microsecond; the wide read below costs ten times that even when it finds nothing.
  if (q.anyTriggerDue.get(now) === undefined) return result;
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
 * After this many runs passed over since the walk (re)started, and some group found
 * full meanwhile, the walk starts again leaving that group's runs out in SQL: a
 * backlog behind a full group is not read row by row at every wake.
 */
const RESTART_AFTER = 64;

/**
 * Walks ready runs in claim order: highest priority first, then the run due
 * first, then task id. A task offers only its first ready run, and none while it
 * already runs (no overlap), while its conditions do not hold here, or while one
 * of its groups is full or a rate limit it is under is spent; the walk stops as
 * soon as enough runs are chosen. A run passed over does not hold up those behind it.
 */
export function claim(q: Statements, params: ClaimParams): ClaimBatch {
  const { now, limit, handlers, owner, leaseUntil, holds, held } = params;
  const running = new Set(q.runningTaskIds.all());
  const allowed = new Set(handlers);
  const seen = new Set<number>();
  const ready: { row: ReadyRow; starts: Admitted['starts'] }[] = [];
  // Read once the write lock is held: a start is never recorded before the end that made room for it.
  const startedAt = Math.max(now, params.time());
  const admission = new Admission(limitsView(q), startedAt);
  const heldSets = JSON.stringify(held());
  const fullSets = new Set<string>();
  walk: for (;;) {
    const rows =
      fullSets.size > 0
        ? q.readyInOrderExceptGroups.iterate(now, heldSets, JSON.stringify([...fullSets]))
        : heldSets !== '[]'
          ? q.readyInOrderExcept.iterate(now, heldSets)
          : q.readyInOrder.iterate(now);
    // The sets this walk leaves out in SQL, and the runs it has passed over for their limits.
    const leftOut = fullSets.size;
    let passedOver = 0;
    for (const row of rows) {
      if (seen.has(row.taskId)) continue;
      seen.add(row.taskId);
      // A module task needs no registration: any scheduler can load its file.
      if (row.paused || running.has(row.taskId) || (row.module === null && !allowed.has(row.handler))) continue;
      // Held by its device conditions here; passed over, so the runs behind it are not held up.
      if (row.conditionsJson !== null && !holds(row.conditionsJson)) continue;
      let starts: Admitted['starts'] = [];
      if (row.groupsJson !== null || row.rateMax !== null) {
        const admitted = admission.admit(limitedRun(row));
        if (admitted.kind !== 'admitted') {
          // Held by a group (not by the task's own limit): so is every task in the same groups.
          if (row.groupsJson !== null && admitted.group !== null) fullSets.add(row.groupsJson);
          if (++passedOver >= RESTART_AFTER && fullSets.size > leftOut) continue walk;
          continue;
        }
        starts = admitted.starts;
      }
      ready.push({ row, starts });
      if (ready.length === limit) break;
    }
    break;
  }
  const claims = ready.map(({ row, starts }) => {
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
        startedAt,
        owner.id,
      ).lastInsertRowid,
    );
    q.markRunning.run(executionId, owner.id, owner.host, owner.pid, leaseUntil, row.runId);
    for (const { limiter, per } of starts) {
      q.recordStart.run(limiter, startedAt);
      q.forgetStarts.run(limiter, startedAt - per);
    }
    return toClaimedRun(row, executionId, startedAt);
  });
  return { claims, retryAt: admission.retryAt };
}

function limitedRun(row: ReadyRow): LimitedRun {
  return { taskId: row.taskId, groups: parseStoredGroups(row.groupsJson), rateLimit: rateLimitOf(row) };
}

/** Groups and counts, read only once the walk meets a limited task, and then once per claim. */
function limitsView(q: Statements): LimitsView {
  let groups: Map<string, Pick<Group, 'maxRunning' | 'rateLimit'>> | undefined;
  let running: Map<string, number> | undefined;
  return {
    group(name) {
      groups ??= new Map(
        q.groupLimits.all().map((row) => [row.name, { maxRunning: row.maxRunning, rateLimit: rateLimitOf(row) }]),
      );
      return groups.get(name);
    },
    running(name) {
      if (running === undefined) {
        running = new Map();
        for (const json of q.runningGroups.all())
          for (const group of parseStoredGroups(json) ?? []) running.set(group, (running.get(group) ?? 0) + 1);
      }
      return running.get(name) ?? 0;
    },
    startsAfter: (limiter, since) => q.startsAfter.get(limiter, since)!,
  };
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
  return earliest(row.run, row.trigger);
}
