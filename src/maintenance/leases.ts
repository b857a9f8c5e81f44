import type { Logger } from 'pino';
import type { LeaseStore, Owner } from '../store/store.js';
import type { Emit } from '../runtime/announce.js';
import type { Completer } from '../runtime/completer.js';
import { cancelAttempt, type InFlight, type InFlightAttempts } from '../runtime/in-flight-attempts.js';
import { recoverAbandonedRuns } from '../runtime/recovery.js';
import { LEASE_MS } from '../runtime/timing.js';

/**
 * Leases and recovery, at each heartbeat: renews the leases of the runs this
 * scheduler holds; cancels an attempt whose run it no longer holds (its task was
 * removed by another process, or the run was taken over after a lapsed lease),
 * announcing it like a local removal; and recovers runs whose owner is gone.
 */

export interface LeaseKeeperDeps {
  store: LeaseStore;
  owner: Owner;
  logger: Logger;
  emit: Emit;
  inFlight: InFlightAttempts;
  completer: Completer;
}

export class LeaseKeeper {
  readonly #deps: LeaseKeeperDeps;

  constructor(deps: LeaseKeeperDeps) {
    this.#deps = deps;
  }

  async runOnce(now: number): Promise<void> {
    const { store, logger, inFlight, completer } = this.#deps;
    if (inFlight.size > 0 || completer.pending > 0) await this.#renew(now);
    await recoverAbandonedRuns(store, now, logger);
  }

  async #renew(now: number): Promise<void> {
    const { store, owner, emit, inFlight } = this.#deps;
    // Attempts launched before the renewal: their claims committed before it read.
    const before = [...inFlight.entries()];
    const held = new Set(await store.renewLeases({ owner: owner.id, until: now + LEASE_MS }));
    const stillRunning = ([executionId, flight]: [number, InFlight]) => inFlight.get(executionId) === flight;
    const lost = before.filter((entry) => !held.has(entry[1].attempt.claim.runId) && stillRunning(entry));
    if (lost.length === 0) return;
    const gone = new Set<number>();
    for (const id of new Set(lost.map(([, flight]) => flight.attempt.claim.task.id))) {
      if ((await store.getTask(id)) === undefined) gone.add(id);
    }
    // A local removeTask may have cancelled some meanwhile, and announced its removal.
    const cancelled = lost.filter(stillRunning).map(([, flight]) => flight.attempt);
    for (const id of new Set(cancelled.map((attempt) => attempt.claim.task.id))) {
      if (gone.has(id)) emit('task:removed', id);
    }
    for (const attempt of cancelled) cancelAttempt(attempt);
  }
}
