import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.js';
import { coerceError, SchedulerStoppingError } from '../errors.js';
import { ClockWatch } from '../maintenance/clock-watch.js';
import { LeaseKeeper } from '../maintenance/leases.js';
import { Registrar } from '../maintenance/registrar.js';
import { Retention, type NormalizedHistoryPolicy } from '../maintenance/retention.js';
import { UnservedReport } from '../maintenance/unserved.js';
import type { Owner, Store } from '../store/store.js';
import type { Emit } from './announce.js';
import { DeviceWatch, type NamedCondition } from './device-watch.js';
import type { DeviceSource } from './device.js';
import { Completer } from './completer.js';
import { execute } from './execute.js';
import type { Handler } from './executor.js';
import { cancelAttempt, type InFlightAttempts } from './in-flight-attempts.js';
import { markLive } from './owner.js';
import { Producer } from './producer.js';
import { recoverAbandonedRuns } from './recovery.js';
import { STALE_SCHEDULER_MS } from './registration.js';
import { holdStrayRejections, releaseStrayRejections } from './stray-rejections.js';
import type { Telemetry } from './telemetry.js';
import { ABORT_GRACE_MS, HEARTBEAT_MS } from './timing.js';

export { ABORT_GRACE_MS, CLOCK_JUMP_TOLERANCE_MS, LEASE_MS, MAX_SLEEP_MS } from './timing.js';

/**
 * The loop puts the parts together and owns their life cycle: start, stop and the
 * heartbeat. The producer wakes, claims and launches; `execute` runs an attempt;
 * the completer records how it ended; the maintenance services (leases and
 * recovery, registration, retention, the clock watch, the unserved report) run at
 * each heartbeat or wake. docs/ARCHITECTURE.md draws the whole flow.
 */

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
  /** Where the device's readings come from, and whether that is the operating system. */
  device: { source: DeviceSource; system: boolean };
  conditions: ReadonlyMap<string, NamedCondition>;
}

export class Loop {
  readonly #deps: LoopDeps;
  #state: 'stopped' | 'running' | 'stopping' = 'stopped';
  readonly #inFlight: InFlightAttempts = new Map();
  readonly #completer: Completer;
  readonly #producer: Producer;
  readonly #leases: LeaseKeeper;
  readonly #registrar: Registrar;
  readonly #retention: Retention | null;
  readonly #clockWatch: ClockWatch;
  readonly #unserved: UnservedReport;
  readonly #device: DeviceWatch;
  #heartbeat: TimerHandle | undefined;
  #unwatch: (() => void) | undefined;
  #stopping: Promise<void> | undefined;

  constructor(deps: LoopDeps) {
    this.#deps = deps;
    const { store, clock, logger, owner, handlers, emit, telemetry, history } = deps;
    const reportError = (err: unknown, message: string) => this.#reportError(err, message);
    const inFlight = this.#inFlight;
    this.#completer = new Completer({ clock, owner, logger, emit, telemetry, inFlight, wake: () => this.wake() });
    this.#clockWatch = new ClockWatch(store, clock, logger);
    this.#unserved = new UnservedReport(store, handlers, logger);
    this.#device = new DeviceWatch({
      clock,
      logger,
      ...deps.device,
      conditions: deps.conditions,
      inFlight,
      wake: () => this.wake(),
    });
    const device = this.#device;
    this.#producer = new Producer({
      store,
      clock,
      owner,
      handlers,
      maxRunningTasks: deps.maxRunningTasks,
      inFlight,
      completer: this.#completer,
      launch: (claim) => {
        inFlight.set(
          claim.executionId,
          execute(claim, deps, (ended) => this.#completer.complete(ended)),
        );
        device.launched(claim.task.conditionsJson, claim.task.conditionLost === 'abort');
      },
      holds: (conditionsJson) => device.holds(conditionsJson),
      held: () => device.heldNow(),
      running: () => this.#state === 'running',
      beforeWake: (now) => this.#clockWatch.runOnce(now),
      slotsLeftFree: (now) => this.#unserved.runOnce(now),
      reportError,
    });
    this.#leases = new LeaseKeeper({ store, owner, logger, emit, inFlight, completer: this.#completer });
    this.#registrar = new Registrar(store, owner, handlers, device);
    this.#retention = history === null ? null : new Retention(store, history, logger);
  }

  get runningCount(): number {
    return this.#inFlight.size;
  }

  get isRunning(): boolean {
    return this.#state === 'running';
  }

  /** The device watch: this node's readings, for explain and telemetry. */
  get device(): DeviceWatch {
    return this.#device;
  }

  async start(): Promise<void> {
    if (this.#stopping) await this.#stopping;
    if (this.#state === 'running') return;
    const { store, clock, logger, owner } = this.#deps;
    markLive(owner, true);
    holdStrayRejections(logger);
    this.#state = 'running';
    try {
      await store.checkHealth();
      await this.#clockWatch.atStart(clock.now());
      await recoverAbandonedRuns(store, clock.now(), logger);
      // Read before the first claim: a held run must not start on no reading at all.
      await this.#device.start();
    } catch (err) {
      this.#device.stop();
      markLive(owner, false);
      releaseStrayRejections();
      this.#state = 'stopped';
      throw err;
    }
    // Only for operators' eyes: a locked database must not keep the scheduler from starting.
    this.#registrar.reset();
    await this.#registrar
      .runOnce(clock.now())
      .catch((err: unknown) => this.#reportError(err, 'could not register this scheduler'));
    this.#scheduleHeartbeat();
    this.#unwatch = store.watchOthers(() => this.wake());
    this.wake();
  }

  /** Asks for a wake as soon as the current one (if any) is done. */
  wake(): void {
    this.#producer.wake();
  }

  /** Aborts a removed task's running attempt; the store has already recorded it cancelled. */
  cancelTask(taskId: number): void {
    for (const { attempt } of this.#inFlight.values()) {
      if (attempt.claim.task.id === taskId) cancelAttempt(attempt);
    }
  }

  stop(timeoutMs: number): Promise<void> {
    if (this.#state === 'stopped') return Promise.resolve();
    this.#stopping ??= this.#stop(timeoutMs).finally(() => (this.#stopping = undefined));
    return this.#stopping;
  }

  async #stop(timeoutMs: number): Promise<void> {
    this.#state = 'stopping';
    if (this.#heartbeat !== undefined) this.#deps.clock.clearTimeout(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#unwatch?.();
    this.#unwatch = undefined;
    this.#device.stop();
    await this.#producer.halt();
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
    await this.#producer.flush();
    await this.#deps.store
      .removeScheduler({ owner: this.#deps.owner.id, staleBefore: this.#deps.clock.now() - STALE_SCHEDULER_MS })
      .catch((err: unknown) => this.#reportError(err, 'could not unregister this scheduler'));
    markLive(this.#deps.owner, false);
    releaseStrayRejections();
    this.#state = 'stopped';
  }

  /**
   * Waits until every attempt in flight is recorded, or `ms` pass on the clock, or
   * `ms` of real time: under a fake clock nobody advances while a test closes its
   * scheduler, and a handler's own timers are real, so a stop must not wait on them.
   */
  async #settleWithin(ms: number): Promise<void> {
    const { clock } = this.#deps;
    let timer: TimerHandle | undefined;
    let realTimer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = clock.setTimeout(resolve, ms);
      realTimer = setTimeout(resolve, ms);
    });
    await Promise.race([Promise.all([...this.#inFlight.values()].map((f) => f.recorded)), timeout]);
    clock.clearTimeout(timer);
    clearTimeout(realTimer);
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
        await this.#leases.runOnce(clock.now());
        await this.#registrar.runOnce(clock.now());
        await this.#retention?.runOnce(clock.now());
      } catch (err) {
        this.#reportError(err, 'heartbeat: could not renew leases, recover runs or prune history');
      }
      if (this.#state === 'running') this.#scheduleHeartbeat();
      this.wake();
    }, HEARTBEAT_MS);
  }

  #reportError(err: unknown, message: string): void {
    const error = coerceError(err);
    this.#deps.logger.error({ err: error }, message);
    this.#deps.emit('scheduler:error', error);
  }
}
