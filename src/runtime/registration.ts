import type { SchedulerDevice } from '../conditions.js';
import type { SchedulerInfo } from '../store/store.js';

/** How often a scheduler refreshes its row in `schedulers` (sooner when its handlers change). */
export const REGISTRATION_REFRESH_MS = 20_000;
/** A scheduler whose row is older than this is not counted as live. */
export const LIVE_SCHEDULER_MS = 60_000;
/** A row not refreshed for this long belonged to a process that is gone. */
export const STALE_SCHEDULER_MS = 24 * 3600_000;

/** Whether a scheduler's row was refreshed lately: one that was not stopped without saying so. */
export function isLive(scheduler: SchedulerInfo, now: number): boolean {
  return now - scheduler.lastSeenAt <= LIVE_SCHEDULER_MS;
}

/** The handlers that some scheduler seen lately has registered. */
export function liveHandlers(schedulers: SchedulerInfo[], now: number): Set<string> {
  const handlers = new Set<string>();
  for (const scheduler of schedulers) {
    if (isLive(scheduler, now)) scheduler.handlers.forEach((h) => handlers.add(h));
  }
  return handlers;
}

/** The latest device readings of live schedulers; with a task, of those that can run it (its handler registered, or a module). */
export function liveDevices(
  schedulers: SchedulerInfo[],
  now: number,
  task?: { handler: string; module: string | null },
): SchedulerDevice[] {
  const canRun = (s: SchedulerInfo) => task === undefined || task.module !== null || s.handlers.includes(task.handler);
  return schedulers
    .filter((s) => isLive(s, now) && s.device !== null && canRun(s))
    .map((s) => ({ scheduler: `${s.host}:${s.pid}`, device: s.device! }));
}
