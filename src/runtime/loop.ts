import { context, type Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.js';
import { BackgroundTasksError, coerceError, SchedulerStoppingError, TaskCancelledError } from '../errors.js';
import { toJson } from '../json.js';
import type { ClaimedRun, CompleteRunParams, CycleParams, CycleResult, Owner, Store } from '../store/store.js';
import { planFires, replanAfterClockJump } from '../triggers/schedule.js';
import { startAttempt, type Handler, type RunningAttempt } from './executor.js';
import { startWorkerAttempt } from './worker-attempt.js';
import { markLive } from './owner.js';
import { announce, executionEvent, type Emit } from './announce.js';
import { decide, describeError, type Outcome } from './outcome.js';
import { pruneHistory, type NormalizedHistoryPolicy } from '../maintenance/retention.js';
import { recoverAbandonedRuns } from './recovery.js';
import { REGISTRATION_REFRESH_MS, STALE_SCHEDULER_MS } from './registration.js';
import type { Telemetry } from './telemetry.js';
import { holdStrayRejections, releaseStrayRejections } from './stray-rejections.js';

/** The longest the loop sleeps, so that another process's work and clock corrections are noticed. */
export const MAX_SLEEP_MS = 10_000;
/** A running run's lease; renewed every third of it while the run lasts. */
export const LEASE_MS = 15_000;
/** After `stop` aborts a handler's signal, how long it may take to settle before it is abandoned. */
export const ABORT_GRACE_MS = 1_000;
/**
 * A wall clock that falls behind the monotonic clock by more than this between two
 * wakes (or is behind what an earlier process recorded, at start) has been set back.
 */
export const CLOCK_JUMP_TOLERANCE_MS = 1_000;
/** How many due triggers one wake turns into runs; more wait for the next wake, at once. */
const TRIGGER_BATCH = 500;
/** How often the loop looks for ready runs that no registered handler can take. */
const UNSERVED_CHECK_MS = 30_000;
/** How often a handler that nobody registered is reported again. */
const UNSERVED_REPORT_MS = 60_000;
/** How often, at most, pruned space is handed back to the disk and the WAL trimmed. */
const COMPACT_EVERY_MS = 60_000;
/** Pause before retrying after the database refused a wake. */
const ERROR_BACKOFF_MS = 1_000;

export interface LoopDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  owner: Owner;
  handlers: ReadonlyMap<string, Handler>;
  maxRunningTasks: number;
  emit: Emit;
  history: NormalizedHistoryPolicy | null;
  telemetry: Telemetry;
}

interface InFlight {
  attempt: RunningAttempt;
  /** Settles once the attempt's end is queued for recording. */
  recorded: Promise<void>;
}

/**
 * The scheduling loop: it sleeps until the earliest due time, turns due trigger
 * fires into runs, claims the best ready runs up to the free slots, starts them
 * and records how they end.
 */
export class Loop {
  readonly #deps: LoopDeps;
  #state: 'stopped' | 'running' | 'stopping' = 'stopped';
  readonly #inFlight = new Map<number, InFlight>();
  #timer: TimerHandle | undefined;
  #unwatch: (() => void) | undefined;
  #heartbeat: TimerHandle | undefined;
  #wakeWanted = false;
  #driving: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  readonly #reported = new Map<string, number>();
  #lastUnservedCheck = Number.NEGATIVE_INFINITY;
  #lastSeen: { wall: number; monotonic: number } | undefined;
  #prunedSinceCompact = 0;
  #registeredHandlers = '';
  #registeredAt = Number.NEGATIVE_INFINITY;
  #lastCompact = Number.NEGATIVE_INFINITY;
  /** Attempts that ended, waiting to be recorded by the next wake. */
  readonly #finished: { params: CompleteRunParams; tell: (written: boolean) => void }[] = [];

  constructor(deps: LoopDeps) {
    this.#deps = deps;
  }

  get runningCount(): number {
    return this.#inFlight.size;
  }

  get isRunning(): boolean {
    return this.#state === 'running';
  }

  async start(): Promise<void> {
    if (this.#stopping) await this.#stopping;
    if (this.#state === 'running') return;
    const { store, clock, logger, owner } = this.#deps;
    markLive(owner, true);
    holdStrayRejections(logger);
    this.#state = 'running';
    this.#lastSeen = undefined;
    try {
      await store.checkHealth();
      const latest = await store.latestRecordedTime();
      const now = clock.now();
      if (latest !== null && latest - now > CLOCK_JUMP_TOLERANCE_MS) await this.#clockWentBack(now, latest - now);
      await recoverAbandonedRuns(store, clock.now(), logger);
    } catch (err) {
      markLive(owner, false);
      releaseStrayRejections();
      this.#state = 'stopped';
      throw err;
    }
    // Only for operators' eyes: a locked database must not keep the scheduler from starting.
    this.#registeredAt = Number.NEGATIVE_INFINITY;
    await this.#refreshRegistration().catch((err: unknown) =>
      this.#reportError(err, 'could not register this scheduler'),
    );
    this.#scheduleHeartbeat();
    this.#unwatch = store.watchOthers(() => this.wake());
    this.wake();
  }

  /** Asks for a wake as soon as the current one (if any) is done. */
  wake(): void {
    if (this.#state !== 'running') return;
    this.#wakeWanted = true;
    this.#driving ??= this.#drive();
  }

  /** Aborts a removed task's running attempt; the store has already recorded it cancelled. */
  cancelTask(taskId: number): void {
    for (const { attempt } of this.#inFlight.values()) {
      if (attempt.claim.task.id === taskId) cancel(attempt);
    }
  }

  stop(timeoutMs: number): Promise<void> {
    if (this.#state === 'stopped') return Promise.resolve();
    this.#stopping ??= this.#stop(timeoutMs).finally(() => (this.#stopping = undefined));
    return this.#stopping;
  }

  async #stop(timeoutMs: number): Promise<void> {
    this.#state = 'stopping';
    this.#clearTimers();
    await this.#driving;
    if (this.#inFlight.size > 0 && timeoutMs > 0) await this.#settleWithin(timeoutMs);
    if (this.#inFlight.size > 0) {
      for (const { attempt } of this.#inFlight.values()) attempt.abort(new SchedulerStoppingError());
      await this.#settleWithin(ABORT_GRACE_MS);
    }
    // Handlers that ignore their signal are abandoned: the attempt is recorded
    // interrupted and the run goes again at the next start.
    for (const { attempt } of this.#inFlight.values()) {
      attempt.end({ status: 'interrupted', error: new SchedulerStoppingError() });
    }
    await Promise.all([...this.#inFlight.values()].map((f) => f.recorded));
    await this.#flush();
    await this.#deps.store
      .removeScheduler(this.#deps.owner.id, this.#deps.clock.now() - STALE_SCHEDULER_MS)
      .catch((err: unknown) => this.#reportError(err, 'could not unregister this scheduler'));
    markLive(this.#deps.owner, false);
    releaseStrayRejections();
    this.#state = 'stopped';
  }

  /** Waits until every attempt in flight is recorded, or `ms` pass on the clock. */
  async #settleWithin(ms: number): Promise<void> {
    const { clock } = this.#deps;
    let timer: TimerHandle | undefined;
    const timeout = new Promise<void>((resolve) => (timer = clock.setTimeout(resolve, ms)));
    await Promise.race([Promise.all([...this.#inFlight.values()].map((f) => f.recorded)), timeout]);
    clock.clearTimeout(timer);
  }

  async #drive(): Promise<void> {
    try {
      while (this.#wakeWanted && this.#state === 'running') {
        // Yield a turn of the event loop first: attempts that end meanwhile are
        // recorded in the same transaction (group commit), and wake() has stored
        // this promise before it can end.
        await new Promise((resolve) => setImmediate(resolve));
        if (this.#state !== 'running') break;
        this.#wakeWanted = false;
        try {
          await this.#tick();
        } catch (err) {
          this.#reportError(err, 'a wake of the scheduling loop failed; retrying');
          this.#arm(this.#deps.clock.now() + ERROR_BACKOFF_MS);
        }
      }
    } finally {
      // In the same synchronous step as the last check of #wakeWanted, so no wake is lost.
      this.#driving = undefined;
    }
  }

  async #tick(): Promise<void> {
    const { clock, handlers, owner, maxRunningTasks } = this.#deps;
    const now = clock.now();
    await this.#watchClock(now, clock.monotonic());
    const free = maxRunningTasks - this.#inFlight.size;
    const { fired, claims, nextWakeAt } = await this.#cycle(now, {
      limit: free,
      handlers: [...handlers.keys()],
      owner,
      leaseUntil: now + LEASE_MS,
    });
    for (const { triggerId, taskId, error } of fired.broken) {
      const message = `trigger ${triggerId} of task ${taskId} cannot be scheduled and was disabled: ${error.message}`;
      this.#reportError(new BackgroundTasksError('TRIGGER_BROKEN', message, { cause: error }), message);
    }
    for (const claim of claims) this.#launch(claim);
    if (claims.length < free) await this.#reportUnservedHandlers(now);
    this.#arm(nextWakeAt);
  }

  /**
   * Records the attempts that ended since the last wake, fires due triggers and
   * claims, in one transaction. Listeners hear of an ended attempt only once its
   * record is committed; if the transaction fails, the records wait for the next wake.
   */
  async #cycle(now: number, claim: CycleParams['claim']): Promise<CycleResult> {
    const finished = this.#finished.splice(0);
    let result: CycleResult;
    try {
      result = await this.#deps.store.cycle({
        now,
        completions: finished.map((f) => f.params),
        plan: (state) => planFires(state, now, Math.random),
        triggerLimit: TRIGGER_BATCH,
        claim,
      });
    } catch (err) {
      this.#finished.unshift(...finished);
      throw err;
    }
    finished.forEach((f, i) => f.tell(result.completed[i] ?? false));
    return result;
  }

  #arm(at: number | null): void {
    const { clock } = this.#deps;
    if (this.#state !== 'running') return;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    const delay = at === null ? MAX_SLEEP_MS : Math.min(Math.max(0, at - clock.now()), MAX_SLEEP_MS);
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      this.wake();
    }, delay);
  }

  #launch(claim: ClaimedRun): void {
    const { handlers, clock, logger: root } = this.#deps;
    // The child logger is made on first use: most runs of a quiet scheduler never log.
    let child: Logger | undefined;
    const logger = () =>
      (child ??= root.child({
        taskId: claim.task.id,
        taskName: claim.task.name,
        executionId: claim.executionId,
        attempt: claim.attempt,
      }));
    if (root.isLevelEnabled('debug')) logger().debug({ reason: claim.reason }, 'execution started');
    this.#deps.emit('execution:started', executionEvent(claim, 'running'));
    const traced = this.#deps.telemetry.started(claim);
    const before = { cpu: process.cpuUsage(), at: performance.now() };
    let attempt: RunningAttempt;
    if (claim.task.module !== null) {
      attempt = startWorkerAttempt(claim, logger, clock);
    } else {
      const handler = handlers.get(claim.task.handler)!;
      const spanContext = traced.context;
      const inSpan: Handler =
        spanContext === null ? handler : (args, ctx) => context.with(spanContext, () => handler(args, ctx));
      attempt = startAttempt(claim, inSpan, logger, clock);
    }
    const recorded = attempt.done.then((outcome) =>
      this.#record(claim, outcome, before, logger, traced.span, attempt.usage),
    );
    this.#inFlight.set(claim.executionId, { attempt, recorded });
  }

  /** Queues the end of an attempt for the next wake, which records it, and frees its slot. */
  #record(
    claim: ClaimedRun,
    outcome: Outcome,
    before: { cpu: NodeJS.CpuUsage; at: number },
    logger: () => Logger,
    span: Span,
    measured: RunningAttempt['usage'],
  ): void {
    const { clock, owner } = this.#deps;
    const cpu = process.cpuUsage(before.cpu);
    const durationMs = Math.round(performance.now() - before.at);
    const now = clock.now();
    const decision = decide({ ...claim, retryPolicy: claim.task.retryPolicy }, outcome, now);
    const resultJson = outcome.status === 'succeeded' ? resultToJson(outcome.result, logger) : null;
    this.#deps.telemetry.ended(claim, span, decision, durationMs, 'error' in outcome ? outcome.error : null);
    const params: CompleteRunParams = {
      runId: claim.runId,
      executionId: claim.executionId,
      owner: owner.id,
      status: decision.status,
      endedAt: now,
      error: decision.error,
      resultJson,
      // A worker thread measured itself; in-process figures are the whole process's.
      usage: measured
        ? { durationMs, ...measured }
        : { durationMs, cpuUserUs: cpu.user, cpuSystemUs: cpu.system, rssBytes: sampledRss() },
      next: decision.next,
    };
    // A cancelled attempt was already recorded by removeTask; it is announced all the same.
    const tell = (written: boolean) => {
      if (written || outcome.status === 'cancelled') {
        announce(this.#deps.emit, this.#deps.logger, logger, claim, outcome, decision);
      }
    };
    this.#finished.push({ params, tell });
    this.#inFlight.delete(claim.executionId);
    this.wake();
  }

  /** Writes what ended, claiming nothing: for stop, when the loop no longer runs. */
  async #flush(): Promise<void> {
    if (this.#finished.length === 0) return;
    try {
      await this.#cycle(this.#deps.clock.now(), null);
    } catch (err) {
      // Left running in the file, under this owner: recovered at the next start.
      this.#reportError(err, 'could not record the end of executions before stopping');
    }
  }

  /** Timers run on monotonic time; a wall clock set back shows as a wall clock that fell behind it. */
  async #watchClock(wall: number, monotonic: number): Promise<void> {
    const last = this.#lastSeen;
    this.#lastSeen = { wall, monotonic };
    if (last === undefined) return;
    const behind = monotonic - last.monotonic - (wall - last.wall);
    if (behind > CLOCK_JUMP_TOLERANCE_MS) await this.#clockWentBack(wall, behind);
  }

  /**
   * Without this, everything waiting on the wall clock would stall for the size of
   * the jump. A jump forward needs nothing: what came due runs once, and missed
   * periodic slots follow their misfire policy.
   */
  async #clockWentBack(now: number, jumpMs: number): Promise<void> {
    const { store, logger } = this.#deps;
    const changed = await store.rebaseAfterClockJump(now, jumpMs, (state) =>
      replanAfterClockJump(state, now, Math.random),
    );
    logger.warn({ jumpMs, changed }, `the wall clock went back by ${jumpMs} ms; schedules were brought forward`);
  }

  #scheduleHeartbeat(): void {
    const { clock, store } = this.#deps;
    this.#heartbeat = clock.setTimeout(async () => {
      if (this.#state !== 'running') return;
      try {
        await store.checkHealth();
      } catch (err) {
        // Nothing written from here on would survive: stop starting work, say why.
        this.#reportError(err, 'the database is gone; the scheduler stops');
        void this.stop(0);
        return;
      }
      try {
        if (this.#inFlight.size > 0 || this.#finished.length > 0) await this.#renewLeases();
        await recoverAbandonedRuns(this.#deps.store, this.#deps.clock.now(), this.#deps.logger);
        await this.#refreshRegistration();
        await this.#maintain();
      } catch (err) {
        this.#reportError(err, 'heartbeat: could not renew leases, recover runs or prune history');
      }
      if (this.#state === 'running') this.#scheduleHeartbeat();
      this.wake();
    }, LEASE_MS / 3);
  }

  /**
   * Renews the leases of the runs this scheduler holds. An attempt whose run it no
   * longer holds was cancelled by another process (its task removed) or taken over
   * after a lapsed lease: it is aborted, and announced cancelled like a local removal.
   */
  async #renewLeases(): Promise<void> {
    const { store, owner, clock, emit } = this.#deps;
    // Attempts launched before the renewal: their claims committed before it read.
    const before = [...this.#inFlight.entries()];
    const held = new Set(await store.renewLeases(owner.id, clock.now() + LEASE_MS));
    const stillRunning = ([executionId, flight]: [number, InFlight]) => this.#inFlight.get(executionId) === flight;
    const lost = before.filter((entry) => !held.has(entry[1].attempt.claim.runId) && stillRunning(entry));
    if (lost.length === 0) return;
    const taskIds = [...new Set(lost.map(([, flight]) => flight.attempt.claim.task.id))];
    const gone = new Set<number>();
    for (const id of taskIds) if ((await store.getTask(id)) === undefined) gone.add(id);
    // A local removeTask may have cancelled some meanwhile, and announced its removal.
    const cancelled = lost.filter(stillRunning).map(([, flight]) => flight.attempt);
    for (const id of new Set(cancelled.map((attempt) => attempt.claim.task.id))) {
      if (gone.has(id)) emit('task:removed', id);
    }
    for (const attempt of cancelled) cancel(attempt);
  }

  /** Tells the file which handlers this scheduler takes: now and then, or when they change. */
  async #refreshRegistration(): Promise<void> {
    const { store, clock, owner, handlers } = this.#deps;
    const names = [...handlers.keys()].sort().join('\n');
    if (names === this.#registeredHandlers && clock.now() - this.#registeredAt < REGISTRATION_REFRESH_MS) return;
    await store.saveScheduler(owner, [...handlers.keys()], clock.now());
    this.#registeredHandlers = names;
    this.#registeredAt = clock.now();
  }

  /** Keeps history within its policy, and now and then gives the freed space back. */
  async #maintain(): Promise<void> {
    const { history, store, clock, logger } = this.#deps;
    if (history === null) return;
    this.#prunedSinceCompact += await pruneHistory(store, history, clock.now(), logger);
    if (this.#prunedSinceCompact > 0 && clock.now() - this.#lastCompact >= COMPACT_EVERY_MS) {
      await store.compact();
      this.#prunedSinceCompact = 0;
      this.#lastCompact = clock.now();
    }
  }

  /** Logs, now and then, runs that wait because no handler here can take them. */
  async #reportUnservedHandlers(now: number): Promise<void> {
    const { store, handlers, logger } = this.#deps;
    if (now - this.#lastUnservedCheck < UNSERVED_CHECK_MS) return;
    this.#lastUnservedCheck = now;
    for (const handler of await store.unservedHandlers(now, [...handlers.keys()])) {
      const last = this.#reported.get(handler);
      if (last !== undefined && now - last < UNSERVED_REPORT_MS) continue;
      this.#reported.set(handler, now);
      logger.warn({ handler }, `runs are waiting for handler "${handler}", which this process has not registered`);
    }
  }

  #reportError(err: unknown, message: string): void {
    const error = coerceError(err);
    this.#deps.logger.error({ err: error }, message);
    this.#deps.emit('scheduler:error', error);
  }

  #clearTimers(): void {
    const { clock } = this.#deps;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    if (this.#heartbeat !== undefined) clock.clearTimeout(this.#heartbeat);
    this.#unwatch?.();
    this.#unwatch = undefined;
    this.#timer = this.#heartbeat = undefined;
  }
}

/** Aborts an attempt whose run was removed, and ends it `cancelled`. */
function cancel(attempt: RunningAttempt): void {
  attempt.abort(new TaskCancelledError());
  attempt.end({ status: 'cancelled' });
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
