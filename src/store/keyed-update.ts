import type { TriggerState } from '../triggers/schedule.js';
import { specKey, specOf, type TriggerRow } from './rows.js';

/**
 * On a keyed update (an application declaring its tasks at start-up), which
 * triggers are new and which stored ones go: a trigger whose definition is
 * unchanged keeps its row, and with it its schedule and counters.
 */
export function matchTriggers(
  stored: readonly TriggerRow[],
  wanted: readonly TriggerState[],
): { added: TriggerState[]; removed: number[] } {
  const unmatched = [...stored];
  const added: TriggerState[] = [];
  for (const state of wanted) {
    const key = specKey(state.spec);
    const i = unmatched.findIndex((row) => specKey(specOf(row)) === key);
    if (i >= 0) unmatched.splice(i, 1);
    else added.push(state);
  }
  return { added, removed: unmatched.map((row) => row.id) };
}
