import { describeUnmet, unmetConditions, type SchedulerDevice, type UnmetCondition } from './conditions.js';
import { describeHold, limitHolds, type LimitedRun, type LimitHold, type LimitState } from './flow.js';
import type { RunInfo } from './store/store.js';
import type { Task, TriggerInfo } from './task.js';
import { nextSlot } from './triggers/schedule.js';

/** Why a task is, or is not, about to run: what `scheduler.explain(id)` and the CLI's `show` say. */
export interface Explanation {
  taskId: number;
  name: string;
  /**
   * `held`: runs are ready, but no live scheduler's device meets the task's
   * conditions, or a group or rate limit holds them (`limits`).
   */
  state: 'running' | 'ready' | 'held' | 'scheduled' | 'paused' | 'idle';
  /** The next five times its periodic and one-time triggers fire (epoch ms). */
  nextFireTimes: number[];
  runs: RunInfo[];
  /** With `conditions`: for each live scheduler, the conditions its latest reading does not meet. */
  conditions: { scheduler: string; unmet: UnmetCondition[] }[];
  /** With ready runs: each group or rate limit that holds them now, and until when if known. */
  limits: LimitHold[];
  reasons: string[];
}

export interface ExplainInput {
  task: Task;
  runs: RunInfo[];
  now: number;
  /** Handlers some live scheduler has registered; null when nobody could be asked. */
  handlers: ReadonlySet<string> | null;
  /** Free slots in the scheduler asking, or null when asked from outside (the CLI). */
  freeSlots: number | null;
  /** The devices of live schedulers that can take the task's runs. */
  devices: SchedulerDevice[];
  /** Its groups and the recent starts of its rate limits (`readLimitState`). */
  limits: LimitState;
}

/** Pure: from a task, its runs and who can take them, the reasons in words. */
export function explain({ task, runs, now, handlers, freeSlots, devices, limits }: ExplainInput): Explanation {
  const reasons: string[] = [];
  const at = (time: number) => new Date(time).toISOString();
  const running = runs.filter((run) => run.state === 'running');
  const ready = runs.filter((run) => run.state === 'waiting' && run.dueAt <= now);
  const later = runs.filter((run) => run.state === 'waiting' && run.dueAt > now);
  const served = handlers === null || task.module !== null || handlers.has(task.handler);
  const conditions =
    task.conditions === null
      ? []
      : devices.map(({ scheduler, device }) => ({ scheduler, unmet: unmetConditions(task.conditions!, device) }));
  // Held when every live scheduler that reported its device says no (none reported: nobody can say).
  const held = conditions.length > 0 && conditions.every((c) => c.unmet.length > 0);
  const limitedBy = ready.length === 0 ? [] : limitHolds(limitedRunOf(task), limits, now);

  for (const run of running)
    reasons.push(`running now: attempt ${run.attempt} (run ${run.id}), started by ${run.owner ?? 'unknown'}`);
  if (task.paused) reasons.push('paused: its runs wait until resumeTask');
  if (ready.length > 0 && !task.paused) {
    if (!served)
      reasons.push(`${ready.length} run(s) ready, but no running scheduler has registered handler "${task.handler}"`);
    else if (running.length > 0)
      reasons.push(`${ready.length} run(s) ready, waiting for the running one to end (no overlap)`);
    else if (held) {
      const why = conditions.map(({ scheduler, unmet }) => `${scheduler}: ${unmet.map(describeUnmet).join(', ')}`);
      reasons.push(
        `${ready.length} run(s) ready, held by their conditions on every live scheduler (${why.join('; ')})`,
      );
    } else if (limitedBy.length > 0) {
      reasons.push(`${ready.length} run(s) ready, held: ${limitedBy.map(describeHold).join('; ')}`);
    } else if (freeSlots === 0) reasons.push(`${ready.length} run(s) ready, waiting for a free slot`);
    else reasons.push(`${ready.length} run(s) ready: the next wake starts one`);
  }
  for (const run of later) {
    reasons.push(
      run.attempt > 1
        ? `waiting for a retry: attempt ${run.attempt} at ${at(run.dueAt)}`
        : `a ${run.reason} run is due at ${at(run.dueAt)}`,
    );
  }
  for (const trigger of task.triggers) {
    if (trigger.coalescedCount > 0) {
      reasons.push(
        `trigger ${trigger.id}: ${trigger.coalescedCount} fire(s) coalesced into a run that was still waiting or running`,
      );
    }
    if (trigger.missedCount > 0)
      reasons.push(`trigger ${trigger.id}: ${trigger.missedCount} slot(s) missed while no scheduler ran`);
    if (trigger.kind === 'event') reasons.push(`runs once per fireEvent("${trigger.event}")`);
  }
  const nextFireTimes = upcoming(task.triggers, 5);
  if (nextFireTimes.length > 0) reasons.push(`next fire at ${at(nextFireTimes[0]!)}`);
  if (task.triggers.length === 0 && runs.length === 0) reasons.push('no trigger: it runs only through runNow');
  const spent = task.triggers.length > 0 && task.triggers.every((t) => t.kind === 'once' && t.nextFireAt === null);
  // A spent one-time task that is still here is one whose run failed for good (rule 19).
  if (spent && runs.length === 0)
    reasons.push('its one-time run failed for good: retryExecution or retryFailed (CLI retry) runs it again');
  if (!served && ready.length === 0) reasons.push(`no running scheduler has registered handler "${task.handler}"`);

  const state =
    running.length > 0
      ? 'running'
      : task.paused
        ? 'paused'
        : ready.length > 0
          ? (held || limitedBy.length > 0) && served
            ? 'held'
            : 'ready'
          : later.length > 0 || nextFireTimes.length > 0
            ? 'scheduled'
            : 'idle';
  return { taskId: task.id, name: task.name, state, nextFireTimes, runs, conditions, limits: limitedBy, reasons };
}

/** What limits a task's runs, as the flow policy reads it. */
export function limitedRunOf(task: Task): LimitedRun {
  return { taskId: task.id, groups: task.groups.length === 0 ? null : task.groups, rateLimit: task.rateLimit };
}

/** The next `count` fire times of time-driven triggers, merged. Jitter applies only to the first of each. */
function upcoming(triggers: TriggerInfo[], count: number): number[] {
  const times: number[] = [];
  for (const trigger of triggers) {
    if (trigger.nextFireAt === null) continue;
    times.push(trigger.nextFireAt);
    if (trigger.kind !== 'interval' && trigger.kind !== 'cron') continue;
    let slot: number | null = trigger.nextSlotAt;
    for (let i = 1; i < count && slot !== null; i++) {
      // Any slot of an interval trigger is as good an anchor as the first.
      slot = nextSlot(trigger, slot, slot);
      if (slot !== null) times.push(slot);
    }
  }
  return times.sort((a, b) => a - b).slice(0, count);
}
