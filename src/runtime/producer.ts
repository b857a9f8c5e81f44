import type { Clock, TimerHandle } from '../clock.js';
import { BackgroundTasksError } from '../errors.js';
import type { ClaimedRun, CycleParams, CycleResult, Owner, WakeStore } from '../store/store.js';
import { planFires } from '../triggers/schedule.js';
import type { Completer } from './completer.js';
import type { Handler } from './executor.js';
import type { InFlightAttempts } from './in-flight-attempts.js';
import { ERROR_BACKOFF_MS, LEASE_MS, MAX_SLEEP_MS, TRIGGER_BATCH } from './timing.js';

/**
 * The producer owns the wake: it sleeps until the earliest due time (or a wake is
 * asked for), and then, in one store transaction, writes the ends the completer
 * queued, turns due trigger fires into runs and claims the best ready runs up to
 * the free slots. It hands each claim to `launch` and sleeps again.
 */

export interface ProducerDeps {
  store: WakeStore;
  clock: Clock;
  owner: Owner;
  handlers: ReadonlyMap<string, Handler>;
  maxRunningTasks: number;
  inFlight: InFlightAttempts;
  completer: Completer;
  launch: (claim: ClaimedRun) => void;
  /** Whether a run with these conditions may start on this node (the device watch). */
  holds: (conditionsJson: string) => boolean;
  held: () => string[];
  /** Whether the loop runs: a wake asked for otherwise is dropped. */
  running: () => boolean;
  /** Before each wake's transaction (the clock watch). */
  beforeWake: (now: number) => Promise<void>;
  /** After a wake that left slots free (the unserved-handler report). */
  slotsLeftFree: (now: number) => Promise<void>;
  reportError: (err: unknown, message: string) => void;
}

export class Producer {
  readonly #deps: ProducerDeps;
  #timer: TimerHandle | undefined;
  #wakeWanted = false;
  #driving: Promise<void> | undefined;

  constructor(deps: ProducerDeps) {
    this.#deps = deps;
  }

  /** Asks for a wake as soon as the current one (if any) is done. */
  wake(): void {
    if (!this.#deps.running()) return;
    this.#wakeWanted = true;
    this.#driving ??= this.#drive();
  }

  /** Stops sleeping, and resolves once a wake in progress is done. */
  async halt(): Promise<void> {
    if (this.#timer !== undefined) this.#deps.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#driving;
  }

  /** Writes what ended, claiming nothing: for stop, when the loop no longer runs. */
  async flush(): Promise<void> {
    if (this.#deps.completer.pending === 0) return;
    try {
      await this.#cycle(this.#deps.clock.now(), null);
    } catch (err) {
      // Left running in the file, under this owner: recovered at the next start.
      this.#deps.reportError(err, 'could not record the end of executions before stopping');
    }
  }

  async #drive(): Promise<void> {
    try {
      while (this.#wakeWanted && this.#deps.running()) {
        // Yield a turn of the event loop first: attempts that end meanwhile are
        // recorded in the same transaction (group commit), and wake() has stored
        // this promise before it can end.
        await new Promise((resolve) => setImmediate(resolve));
        if (!this.#deps.running()) break;
        this.#wakeWanted = false;
        try {
          await this.#wakeOnce();
        } catch (err) {
          this.#deps.reportError(err, 'a wake of the scheduling loop failed; retrying');
          this.#arm(this.#deps.clock.now() + ERROR_BACKOFF_MS);
        }
      }
    } finally {
      // In the same synchronous step as the last check of #wakeWanted, so no wake is lost.
      this.#driving = undefined;
    }
  }

  async #wakeOnce(): Promise<void> {
    const { clock, handlers, owner, maxRunningTasks, inFlight } = this.#deps;
    const now = clock.now();
    await this.#deps.beforeWake(now);
    const free = maxRunningTasks - inFlight.size;
    const { fired, claims, nextWakeAt } = await this.#cycle(now, {
      limit: free,
      handlers: [...handlers.keys()],
      owner,
      leaseUntil: now + LEASE_MS,
      holds: this.#deps.holds,
      held: this.#deps.held,
      time: () => clock.now(),
    });
    for (const { triggerId, taskId, error } of fired.broken) {
      const message = `trigger ${triggerId} of task ${taskId} cannot be scheduled and was disabled: ${error.message}`;
      this.#deps.reportError(new BackgroundTasksError('TRIGGER_BROKEN', message, { cause: error }), message);
    }
    for (const claim of claims) this.#deps.launch(claim);
    if (claims.length < free) await this.#deps.slotsLeftFree(now);
    this.#arm(nextWakeAt);
  }

  /**
   * Records the attempts that ended since the last wake, fires due triggers and
   * claims, in one transaction. Listeners hear of an ended attempt only once its
   * record is committed; if the transaction fails, the records wait for the next wake.
   */
  async #cycle(now: number, claim: CycleParams['claim']): Promise<CycleResult> {
    const { completer, store } = this.#deps;
    const taken = completer.take();
    let result: CycleResult;
    try {
      result = await store.cycle({
        now,
        completions: taken.map((completion) => completion.params),
        plan: (state) => planFires(state, now, Math.random),
        triggerLimit: TRIGGER_BATCH,
        claim,
      });
    } catch (err) {
      completer.putBack(taken);
      throw err;
    }
    completer.committed(taken, result.completed);
    return result;
  }

  #arm(at: number | null): void {
    const { clock } = this.#deps;
    if (!this.#deps.running()) return;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    const delay = at === null ? MAX_SLEEP_MS : Math.min(Math.max(0, at - clock.now()), MAX_SLEEP_MS);
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      this.wake();
    }, delay);
  }
}
