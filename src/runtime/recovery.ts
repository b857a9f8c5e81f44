import type { Logger } from 'pino';
import type { LeaseStore } from '../store/store.js';
import { decide } from './outcome.js';
import { isOwnerGone } from './owner.js';
import { LEASE_MS } from './timing.js';

/**
 * Runs left `running` by an owner that is gone are recorded interrupted and go
 * again with the same attempt number. The write is guarded by the old owner, so
 * an owner that was only slow, and finished meanwhile, keeps its record. The
 * attempt is recorded as ending when its owner last renewed the lease, the last
 * time it was known to be running: the downtime until recovery is not its duration.
 */
export async function recoverAbandonedRuns(store: LeaseStore, now: number, logger: Logger): Promise<number> {
  let recovered = 0;
  for (const run of await store.runningRuns()) {
    if (!isOwnerGone(run.owner, run.leaseExpiresAt, now)) continue;
    const error = new Error(`its scheduler (pid ${run.owner.pid} on ${run.owner.host}) stopped without finishing it`);
    const decision = decide(run, { status: 'interrupted', error }, now);
    const written = await store.completeRun({
      runId: run.runId,
      executionId: run.executionId,
      owner: run.owner.id,
      status: decision.status,
      endedAt: Math.min(now, run.leaseExpiresAt - LEASE_MS),
      error: decision.error,
      resultJson: null,
      usage: null,
      next: decision.next,
    });
    if (!written) continue;
    recovered++;
    logger.warn({ runId: run.runId, executionId: run.executionId, owner: run.owner }, 'recovered an interrupted run');
  }
  return recovered;
}
