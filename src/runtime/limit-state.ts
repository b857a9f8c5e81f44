import { limitHolds, limitersOf, type LimitHold, type LimitedRun, type LimitState } from '../flow.js';
import type { OperatorStore } from '../store/store.js';

// What explain, doctor and telemetry read to say which group or rate limit holds a
// run: the groups with their running counts, and the recent starts of the limiters
// in question. The claim decides from the same counts, inside its transaction.

type LimitReads = Pick<OperatorStore, 'groups' | 'recentStarts'>;

export async function readLimitState(store: LimitReads, runs: LimitedRun[], now: number): Promise<LimitState> {
  const groups = new Map((await store.groups()).map((group) => [group.name, group]));
  const limiters = new Map(runs.flatMap((run) => limitersOf(run, groups)).map((l) => [l.limiter, l]));
  const starts = limiters.size === 0 ? new Map() : await store.recentStarts({ limiters: [...limiters.values()], now });
  return { groups, starts };
}

/**
 * Ready runs held by a group or a rate limit, counted per reason and group (a run
 * held by two counts in both); runs held by their tasks' own rate limits are
 * counted together (group null). `until`: the soonest such a run may start, when
 * a rate limit holds it.
 */
export interface HeldByLimit {
  reason: LimitHold['kind'];
  group: string | null;
  runs: number;
  until: number | null;
}

export async function heldByLimits(
  store: LimitReads & Pick<OperatorStore, 'readyLimited'>,
  now: number,
): Promise<HeldByLimit[]> {
  const ready = await store.readyLimited({ now });
  if (ready.length === 0) return [];
  const state = await readLimitState(store, ready, now);
  const counts = new Map<string, HeldByLimit>();
  for (const run of ready) {
    for (const hold of limitHolds(run, state, now)) {
      const until = hold.kind === 'rate-limit' ? hold.until : null;
      const key = `${hold.kind}:${hold.group ?? ''}`;
      const held = counts.get(key) ?? { reason: hold.kind, group: hold.group, runs: 0, until };
      held.runs += run.runs;
      if (until !== null) held.until = Math.min(held.until ?? until, until);
      counts.set(key, held);
    }
  }
  return [...counts.values()];
}
