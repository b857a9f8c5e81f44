import { coerceError } from '../errors.js';
import type { FirePlan, TriggerState } from '../triggers/schedule.js';
import { pendingLimit, triggerState, type TriggerRow } from './rows.js';

// What firing one due trigger writes, decided once for both stores: the runs it
// makes (no more than its pending limit allows: the rest are coalesced) and how
// the trigger moves on. Pure; each store applies it in its own SQL.

/** How a fired trigger moves on. */
export interface TriggerAdvance {
  nextSlotAt: number | null;
  nextFireAt: number | null;
  /** `now` when it made a run; null leaves the last fire time as it was. */
  lastFiredAt: number | null;
  fired: number;
  missed: number;
  coalesced: number;
}

export type FiredTrigger =
  | { ok: true; fires: number[]; advance: TriggerAdvance }
  /** The plan threw (a stored cron that no longer parses): the trigger is disabled, not retried. */
  | { ok: false; error: Error };

/** Fires one due trigger row that has `pending` runs waiting or running already. */
export function fireTrigger(
  row: TriggerRow,
  pending: number,
  now: number,
  plan: (state: TriggerState) => FirePlan,
): FiredTrigger {
  let firePlan: FirePlan;
  try {
    firePlan = plan(triggerState(row));
  } catch (err) {
    return { ok: false, error: coerceError(err) };
  }
  const room = row.kind === 'once' ? firePlan.fires.length : Math.max(0, pendingLimit(row) - pending);
  const fires = firePlan.fires.slice(0, room);
  return {
    ok: true,
    fires,
    advance: {
      nextSlotAt: firePlan.nextSlotAt,
      nextFireAt: firePlan.nextFireAt,
      lastFiredAt: fires.length > 0 ? now : null,
      fired: fires.length,
      missed: firePlan.missed,
      coalesced: firePlan.fires.length - fires.length,
    },
  };
}
