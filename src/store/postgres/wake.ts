import type { PoolClient } from 'pg';
import { earliest } from '../../clock.js';
import type { CycleParams, CycleResult, FireResult } from '../store.js';
import { NOTIFY_CHANNEL, query, type Queryable } from './connection.js';
import { claim, complete, fireDue, look } from './cycle.js';

// One wake of the loop on PostgreSQL: the steps of cycle.ts in one transaction, or
// a single read when nothing is due (most wakes), which needs no transaction.

export interface WakeConnections {
  read: <T>(fn: (client: Queryable) => Promise<T>) => Promise<T>;
  transaction: <T>(fn: (client: PoolClient) => Promise<T>) => Promise<T>;
  /** This store's id: its own notices are not passed back to it. */
  selfId: string;
}

export async function wake(params: CycleParams, { read, transaction, selfId }: WakeConnections): Promise<CycleResult> {
  const { now, completions } = params;
  const wanted = params.claim;
  const wantClaims = wanted !== null && wanted.limit > 0;
  let seen = completions.length === 0 ? await read((client) => look(client, now)) : null;
  if (seen !== null && !seen.triggerDue && !(wantClaims && seen.runReady)) {
    return { completed: [], fired: noFires(), claims: [], nextWakeAt: seen.nextWakeAt };
  }
  return transaction(async (client) => {
    const completed = await complete(client, completions);
    seen ??= await look(client, now);
    const fired = seen.triggerDue ? await fireDue(client, now, params.plan, params.triggerLimit) : noFires();
    const batch =
      wanted !== null && wantClaims ? await claim(client, { ...wanted, now }, seen) : { claims: [], retryAt: null };
    const { claims } = batch;
    // Claims take runs already due, so only firing (which moves triggers on) changes the next wake.
    if (seen.triggerDue) seen = await look(client, now);
    // Runs made or put back that this node did not take: the others are told at commit.
    // So are ends of limited runs: a place in a group freed here may be another node's to take.
    const made =
      fired.runs > claims.length ||
      completions.some((c, i) => completed[i] && c.next.kind === 'again') ||
      (seen.limited && completed.some(Boolean));
    if (made) await query(client, 'SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, selfId], 'bt_notify');
    return { completed, fired, claims, nextWakeAt: earliest(seen.nextWakeAt, batch.retryAt) };
  });
}

function noFires(): FireResult {
  return { runs: 0, broken: [] };
}
