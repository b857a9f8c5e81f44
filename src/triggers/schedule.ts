import { nextCronTime } from './cron.js';
import { MISFIRE_GRACE_MS, type PeriodicSpec, type TriggerSpec } from './spec.js';

/** The first slot of a periodic trigger strictly after `after`. */
export function nextSlot(spec: PeriodicSpec, anchorAt: number, after: number): number | null {
  if (spec.kind === 'cron') return nextCronTime(spec.cron, spec.timezone, after);
  // Interval slots are anchorAt + k·interval (k ≥ 1): counted from the anchor, so
  // a late wake never pushes later slots back (no drift).
  const k = Math.max(1, Math.floor((after - anchorAt) / spec.interval) + 1);
  return anchorAt + k * spec.interval;
}

/** Jitter is drawn once per cycle, in [0, jitter]. */
export function withJitter(slot: number, jitter: number, random: () => number): number {
  return jitter > 0 ? slot + Math.floor(random() * (jitter + 1)) : slot;
}

/** Where a trigger stands; the columns of its row that planning reads. */
export interface TriggerState {
  spec: TriggerSpec;
  anchorAt: number;
  nextSlotAt: number | null;
  nextFireAt: number | null;
}

/** What to do with a trigger whose fire time has come. */
export interface FirePlan {
  /** Due times of the runs to create, oldest first. */
  fires: number[];
  /** Slots that passed without a run, per the misfire policy. */
  missed: number;
  nextSlotAt: number | null;
  nextFireAt: number | null;
}

/** Counting missed cron slots stops here; the schedule still lands on the right next slot. */
const MAX_SLOTS_COUNTED = 10_000;

/**
 * Decides the runs a due trigger makes at `now`, and its next fire. Pure: the
 * store calls it inside the transaction that applies it.
 */
export function planFires(state: TriggerState, now: number, random: () => number): FirePlan {
  const { spec } = state;
  if (spec.kind === 'event') return { fires: [], missed: 0, nextSlotAt: null, nextFireAt: null };
  if (spec.kind === 'once') {
    const fires = state.nextFireAt === null ? [] : [state.nextFireAt];
    return { fires, missed: 0, nextSlotAt: null, nextFireAt: null };
  }
  if (state.nextSlotAt === null || state.nextFireAt === null) {
    const nextSlotAt = nextSlot(spec, state.anchorAt, now);
    return { fires: [], missed: 0, nextSlotAt, nextFireAt: nextSlotAt && withJitter(nextSlotAt, spec.jitter, random) };
  }

  // The slots that have passed: the first one fires at its jittered time, the rest
  // (there are several only after a pause in scheduling) at their nominal times.
  const passed = [state.nextFireAt];
  let latest = state.nextFireAt;
  let slot: number | null = state.nextSlotAt;
  let count = 1;
  for (;;) {
    const following: number | null = nextSlot(spec, state.anchorAt, slot);
    if (following === null || following > now) {
      slot = following;
      break;
    }
    if (++count > MAX_SLOTS_COUNTED) {
      slot = nextSlot(spec, state.anchorAt, now);
      break;
    }
    if (passed.length < spec.maxCatchUp) passed.push(following);
    latest = slot = following;
  }
  if (spec.kind === 'interval' && slot !== null) {
    count = Math.floor((slot - state.nextSlotAt) / spec.interval);
  }

  let fires: number[];
  if (spec.misfire === 'all') fires = passed;
  else if (spec.misfire === 'once') fires = [state.nextFireAt];
  else fires = now - latest <= MISFIRE_GRACE_MS ? [latest] : [];
  const nextFireAt = slot === null ? null : withJitter(slot, spec.jitter, random);
  return { fires, missed: count - fires.length, nextSlotAt: slot, nextFireAt };
}

/** Where a trigger's schedule starts when its task is added at `now`. */
export function initialState(spec: TriggerSpec, now: number, random: () => number): TriggerState {
  if (spec.kind === 'event') return { spec, anchorAt: now, nextSlotAt: null, nextFireAt: null };
  if (spec.kind === 'once') {
    const dueAt = spec.at ?? now + (spec.delay ?? 0);
    return { spec, anchorAt: now, nextSlotAt: dueAt, nextFireAt: dueAt };
  }
  const slot = nextSlot(spec, now, now);
  return {
    spec,
    anchorAt: now,
    nextSlotAt: slot,
    nextFireAt: slot === null ? null : withJitter(slot, spec.jitter, random),
  };
}

/**
 * After the wall clock went back, a periodic trigger's next slot may lie far
 * ahead. Pulls it in: an interval is anchored afresh at `now`, a cron trigger
 * takes its next cron time after `now`. Null when the trigger needs no change.
 */
export function replanAfterClockJump(state: TriggerState, now: number, random: () => number): TriggerState | null {
  const { spec } = state;
  if ((spec.kind !== 'interval' && spec.kind !== 'cron') || state.nextSlotAt === null) return null;
  if (spec.kind === 'interval') {
    if (state.nextSlotAt - spec.interval <= now) return null;
    return initialState(spec, now, random);
  }
  const slot = nextCronTime(spec.cron, spec.timezone, now);
  if (slot === null || slot >= state.nextSlotAt) return null;
  return { ...state, nextSlotAt: slot, nextFireAt: withJitter(slot, spec.jitter, random) };
}
