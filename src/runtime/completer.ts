import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { coerceError } from '../errors.js';
import { toJson } from '../json.js';
import type { ClaimedRun, CompleteRunParams, Owner } from '../store/store.js';
import { announce, type Emit } from './announce.js';
import type { RunningAttempt } from './executor.js';
import type { InFlightAttempts } from './in-flight-attempts.js';
import { decide, describeError, type Outcome } from './outcome.js';
import type { Telemetry } from './telemetry.js';

/**
 * The completer owns the end of an attempt: it turns the outcome into the record
 * of it (status by the retry policy, error, result as JSON, resource use, what
 * becomes of the run), frees the slot, and queues the record for the producer's
 * next wake, which writes it in the same transaction as its claims (group commit).
 * Listeners hear of the end only after that transaction committed.
 */

/** What the executor hands over when an attempt has ended. */
export interface EndedAttempt {
  claim: ClaimedRun;
  outcome: Outcome;
  /** CPU and monotonic time when the attempt started. */
  before: { cpu: NodeJS.CpuUsage; at: number };
  logger: () => Logger;
  span: Span;
  /** What a worker thread measured of itself; null for an in-process handler. */
  measured: RunningAttempt['usage'];
}

/** A record waiting for the next wake, and how to announce it once written. */
export interface QueuedCompletion {
  params: CompleteRunParams;
  announce: (written: boolean) => void;
}

export interface CompleterDeps {
  clock: Clock;
  owner: Owner;
  logger: Logger;
  emit: Emit;
  telemetry: Telemetry;
  inFlight: InFlightAttempts;
  /** Asks the producer for a wake, which writes the queue. */
  wake: () => void;
}

export class Completer {
  readonly #deps: CompleterDeps;
  #queue: QueuedCompletion[] = [];

  constructor(deps: CompleterDeps) {
    this.#deps = deps;
  }

  /** How many ended attempts wait to be written. */
  get pending(): number {
    return this.#queue.length;
  }

  complete(ended: EndedAttempt): void {
    const { clock, owner, telemetry, emit, logger: root, inFlight } = this.#deps;
    const { claim, outcome, before, logger } = ended;
    const cpu = process.cpuUsage(before.cpu);
    const durationMs = Math.round(performance.now() - before.at);
    const now = clock.now();
    const decision = decide({ ...claim, retryPolicy: claim.task.retryPolicy }, outcome, now);
    const resultJson = outcome.status === 'succeeded' ? resultToJson(outcome.result, logger) : null;
    telemetry.ended(claim, ended.span, decision, durationMs, 'error' in outcome ? outcome.error : null);
    const params: CompleteRunParams = {
      runId: claim.runId,
      executionId: claim.executionId,
      owner: owner.id,
      status: decision.status,
      endedAt: now,
      error: decision.error,
      resultJson,
      // A worker thread measured itself; in-process figures are the whole process's.
      usage: ended.measured
        ? { durationMs, ...ended.measured }
        : { durationMs, cpuUserUs: cpu.user, cpuSystemUs: cpu.system, rssBytes: sampledRss() },
      next: decision.next,
    };
    // A cancelled attempt was recorded by whoever removed its task; it is announced all the same.
    const tell = (written: boolean) => {
      if (written || outcome.status === 'cancelled') announce(emit, root, logger, claim, outcome, decision);
    };
    this.#queue.push({ params, announce: tell });
    inFlight.delete(claim.executionId);
    this.#deps.wake();
  }

  /** Takes the queue for a wake's transaction. */
  take(): QueuedCompletion[] {
    const taken = this.#queue;
    this.#queue = [];
    return taken;
  }

  /** The transaction failed: the records wait for the next wake, first in line. */
  putBack(taken: QueuedCompletion[]): void {
    this.#queue.unshift(...taken);
  }

  /** The transaction committed; per record, whether the run was still this owner's to finish. */
  committed(taken: QueuedCompletion[], written: boolean[]): void {
    taken.forEach((completion, i) => completion.announce(written[i] ?? false));
  }
}

let rss = { bytes: 0, at: Number.NEGATIVE_INFINITY };

/** The process's resident set size, read at most every 100 ms: reading it costs a file read. */
function sampledRss(): number {
  const now = performance.now();
  if (now - rss.at > 100) rss = { bytes: process.memoryUsage.rss(), at: now };
  return rss.bytes;
}

/** A result that is not JSON is not a failure of the task: it is stored as null, with a warning. */
function resultToJson(result: unknown, logger: () => Logger): string | null {
  if (result === undefined) return null;
  try {
    return toJson(result, 'result');
  } catch (err) {
    logger().warn(
      { err },
      `the handler's result is not JSON and is stored as null: ${describeError(coerceError(err))}`,
    );
    return null;
  }
}
