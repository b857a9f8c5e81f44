import type { Logger } from 'pino';
import { ValidationError } from '../errors.js';
import type { HistoryStore } from '../store/store.js';
import { describe, integerIn } from '../validate.js';

/** How much execution history to keep. Both limits may be set; either one removes a row. */
export interface HistoryPolicy {
  /** Executions that started more than this many ms ago, and have ended, are deleted. */
  maxAge?: number;
  /** Per task, only the newest this many executions are kept. */
  keepLast?: number;
}

export interface NormalizedHistoryPolicy {
  maxAge: number | null;
  keepLast: number | null;
}

export function normalizeHistoryPolicy(policy: unknown): NormalizedHistoryPolicy | null {
  if (policy === undefined) return null;
  if (policy === null || typeof policy !== 'object') {
    throw new ValidationError('history', `must be an object with maxAge and/or keepLast, got ${describe(policy)}`);
  }
  const p = policy as Record<string, unknown>;
  const maxAge = p.maxAge === undefined ? null : integerIn(p.maxAge, 'history.maxAge', 1, Number.MAX_SAFE_INTEGER);
  const keepLast =
    p.keepLast === undefined ? null : integerIn(p.keepLast, 'history.keepLast', 1, Number.MAX_SAFE_INTEGER);
  if (maxAge === null && keepLast === null) throw new ValidationError('history', 'needs maxAge, keepLast or both');
  return { maxAge, keepLast };
}

/** Rows deleted per transaction: small, so that the write lock is never held for long. */
export const PRUNE_BATCH = 1_000;
/** Batches per maintenance pass; the rest waits for the next pass (every 5 s). */
const PRUNE_BATCHES_PER_PASS = 50;

/**
 * Deletes what the policy no longer keeps, one small transaction at a time,
 * yielding to the event loop between them. Returns how many rows went.
 */
export async function pruneHistory(
  store: HistoryStore,
  policy: NormalizedHistoryPolicy,
  now: number,
  logger: Logger,
): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < PRUNE_BATCHES_PER_PASS; batch++) {
    const n = await store.pruneExecutions({
      endedBefore: policy.maxAge === null ? null : now - policy.maxAge,
      keepLast: policy.keepLast,
      limit: PRUNE_BATCH,
    });
    deleted += n;
    if (n < PRUNE_BATCH) break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (deleted > 0) logger.debug({ deleted }, 'pruned execution history');
  return deleted;
}

/** How often, at most, pruned space is handed back to the disk and the WAL trimmed. */
const COMPACT_EVERY_MS = 60_000;

/**
 * Retention and compaction, at each heartbeat: keeps history within its policy,
 * and now and then gives the freed space back to the disk.
 */
export class Retention {
  readonly #store: HistoryStore;
  readonly #policy: NormalizedHistoryPolicy;
  readonly #logger: Logger;
  #prunedSinceCompact = 0;
  #lastCompact = Number.NEGATIVE_INFINITY;

  constructor(store: HistoryStore, policy: NormalizedHistoryPolicy, logger: Logger) {
    this.#store = store;
    this.#policy = policy;
    this.#logger = logger;
  }

  async runOnce(now: number): Promise<void> {
    this.#prunedSinceCompact += await pruneHistory(this.#store, this.#policy, now, this.#logger);
    if (this.#prunedSinceCompact > 0 && now - this.#lastCompact >= COMPACT_EVERY_MS) {
      await this.#store.reclaimSpace();
      this.#prunedSinceCompact = 0;
      this.#lastCompact = now;
    }
  }
}
