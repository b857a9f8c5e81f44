import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.js';
import {
  describeUnmet,
  parseStoredConditions,
  unmetConditions,
  type Conditions,
  type DeviceReadings,
  type DeviceState,
  type UnmetCondition,
} from '../conditions.js';
import { coerceError, ConditionLostError } from '../errors.js';
import type { DeviceSource } from './device.js';
import type { InFlightAttempts } from './in-flight-attempts.js';

/** A condition an application defines: true while runs that require it may start here. */
export type NamedCondition = () => boolean | Promise<boolean>;

/** How often the device is read while a run waits for a condition or an attempt may lose one. */
export const FAST_SAMPLE_MS = 500;
/** How often it is read otherwise (for `explain`, the `schedulers` table, and the first claim of a held run). */
export const SAMPLE_MS = 5_000;
/** A named condition that has not answered in this long counts as false for this reading. */
export const CONDITION_TIMEOUT_MS = 2_000;
/** How often a run waiting for a condition that nobody here defined is reported again. */
const REPORT_EVERY_MS = 60_000;
const PARSED_CACHE_LIMIT = 1_000;

const READING_OF: Record<string, keyof DeviceReadings> = {
  maxLoad: 'loadPerCore',
  minFreeMemoryMb: 'freeMemoryMb',
  minFreeDiskMb: 'freeDiskMb',
  onAcPower: 'onAcPower',
  network: 'networkUp',
};

export interface DeviceWatchDeps {
  clock: Clock;
  logger: Logger;
  source: DeviceSource;
  /** Whether the source is the operating system: a reading it cannot give is then worth a warning. */
  system: boolean;
  conditions: ReadonlyMap<string, NamedCondition>;
  inFlight: InFlightAttempts;
  /** Asks the producer for a wake: a held run may start. */
  wake: () => void;
}

/**
 * The device watch: reads the node (load, memory, disk, power, network, and the
 * conditions the application defined), at most every FAST_SAMPLE_MS, and answers
 * the claim's question "may a run with these conditions start here?" from the
 * last reading, synchronously. After each reading it wakes the producer if a
 * condition that held a run now holds, and aborts attempts that asked for
 * `conditionLost: 'abort'` and whose conditions stopped holding.
 */
export class DeviceWatch {
  readonly #deps: DeviceWatchDeps;
  #state: DeviceState = {
    readings: { loadPerCore: null, freeMemoryMb: null, freeDiskMb: null, onAcPower: null, networkUp: null },
    named: {},
  };
  #sampledAt = Number.NEGATIVE_INFINITY;
  /** Parsed conditions, by their stored JSON: a few distinct sets serve many tasks. */
  readonly #parsed = new Map<string, Conditions>();
  /**
   * Each condition set seen so far (from the claim's rows) and whether it holds on
   * the current reading: answered again at every reading, so that one that starts to
   * hold wakes the producer, and the claim asks once per set, not per row.
   */
  readonly #answers = new Map<string, boolean>();
  readonly #unreadableReported = new Set<string>();
  readonly #undefinedReported = new Map<string, number>();
  #timer: TimerHandle | undefined;
  #timerDelay = 0;
  #running = false;

  constructor(deps: DeviceWatchDeps) {
    this.#deps = deps;
  }

  /** The last reading, and when it was taken. */
  get state(): DeviceState & { sampledAt: number } {
    return { ...this.#state, sampledAt: this.#sampledAt };
  }

  /** Reads the device once, then keeps reading until `stop`. */
  async start(): Promise<void> {
    this.#running = true;
    await this.sample();
    this.#arm();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#deps.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** For the claim: whether a run with these stored conditions may start here now. */
  holds(conditionsJson: string): boolean {
    const known = this.#answers.get(conditionsJson);
    if (known !== undefined) return known;
    const unmet = this.unmet(conditionsJson);
    if (this.#answers.size >= PARSED_CACHE_LIMIT) this.#answers.clear();
    this.#answers.set(conditionsJson, unmet.length === 0);
    if (unmet.length === 0) return true;
    this.#report(unmet);
    if (this.#timerDelay > FAST_SAMPLE_MS) this.#arm();
    return false;
  }

  /** The condition sets known not to hold on the current reading. */
  heldNow(): string[] {
    const held: string[] = [];
    for (const [json, holds] of this.#answers) if (!holds) held.push(json);
    return held;
  }

  unmet(conditionsJson: string): UnmetCondition[] {
    return unmetConditions(this.#parse(conditionsJson), this.#state);
  }

  /** An attempt was launched: one that may lose its conditions needs the fast readings. */
  launched(conditionsJson: string | null, abortOnLoss: boolean): void {
    if (conditionsJson !== null && abortOnLoss && this.#timerDelay > FAST_SAMPLE_MS) this.#arm();
  }

  async sample(): Promise<void> {
    const { clock, source } = this.#deps;
    const [readings, named] = await Promise.all([
      Promise.resolve()
        .then(source)
        .catch((err: unknown) => {
          this.#deps.logger.warn({ err: coerceError(err) }, 'could not read the device; conditions on it hold');
          return {};
        }),
      this.#askNamed(),
    ]);
    this.#state = { readings: nullsFor(readings), named };
    this.#sampledAt = clock.now();
    let freed = false;
    for (const [json, held] of this.#answers) {
      const unmet = this.unmet(json);
      this.#answers.set(json, unmet.length === 0);
      if (unmet.length === 0) freed ||= !held;
      else this.#report(unmet);
    }
    if (freed) this.#deps.wake();
    for (const { attempt } of this.#deps.inFlight.values()) {
      const { conditionsJson, conditionLost } = attempt.claim.task;
      if (conditionLost !== 'abort' || conditionsJson === null) continue;
      const unmet = this.unmet(conditionsJson);
      if (unmet.length === 0) continue;
      const error = new ConditionLostError(unmet.map(describeUnmet).join('; '));
      attempt.abort(error);
      attempt.end({ status: 'interrupted', error, blameless: true });
    }
  }

  #arm(): void {
    const { clock, inFlight } = this.#deps;
    if (!this.#running) return;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    const watching = [...inFlight.values()].some(
      ({ attempt }) => attempt.claim.task.conditionLost === 'abort' && attempt.claim.task.conditionsJson !== null,
    );
    const waiting = [...this.#answers.values()].some((holds) => !holds);
    this.#timerDelay = waiting || watching ? FAST_SAMPLE_MS : SAMPLE_MS;
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      void this.sample().finally(() => this.#arm());
    }, this.#timerDelay);
  }

  async #askNamed(): Promise<Record<string, boolean>> {
    const answers = await Promise.all(
      [...this.#deps.conditions].map(async ([name, condition]) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), CONDITION_TIMEOUT_MS);
          timer.unref();
        });
        try {
          const answer = await Promise.race([Promise.resolve().then(condition), late]);
          return [name, answer === true] as const;
        } catch (err) {
          this.#deps.logger.warn({ err: coerceError(err), condition: name }, `condition "${name}" threw: false`);
          return [name, false] as const;
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    return Object.fromEntries(answers);
  }

  #parse(json: string): Conditions {
    let conditions = this.#parsed.get(json);
    if (conditions === undefined) {
      if (this.#parsed.size >= PARSED_CACHE_LIMIT) this.#parsed.clear();
      conditions = parseStoredConditions(json);
      this.#parsed.set(json, conditions);
      this.#reportUnreadable(conditions);
    }
    return conditions;
  }

  /** A reading this platform cannot give, asked for by some task: said once, then the condition holds. */
  #reportUnreadable(conditions: Conditions): void {
    if (!this.#deps.system) return;
    for (const field of Object.keys(conditions)) {
      const reading = READING_OF[field];
      if (reading === undefined || this.#state.readings[reading] !== null || this.#unreadableReported.has(reading))
        continue;
      this.#unreadableReported.add(reading);
      this.#deps.logger.warn({ reading }, `this node cannot read ${reading}: conditions on it hold here`);
    }
  }

  /** A run held for a condition nobody here defined waits like a run whose handler nobody registered: said now and then. */
  #report(unmet: UnmetCondition[]): void {
    const now = this.#deps.clock.now();
    for (const { condition, reading } of unmet) {
      if (!condition.startsWith('require:') || reading !== null) continue;
      const name = condition.slice('require:'.length);
      const last = this.#undefinedReported.get(name);
      if (last !== undefined && now - last < REPORT_EVERY_MS) continue;
      this.#undefinedReported.set(name, now);
      this.#deps.logger.warn(
        { condition: name },
        `runs are waiting for condition "${name}", which this process has not defined`,
      );
    }
  }
}

/** A source's answer, with what it left out as null (cannot be read: holds). */
function nullsFor(readings: Partial<DeviceReadings>): DeviceReadings {
  const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);
  const flag = (value: unknown) => (typeof value === 'boolean' ? value : null);
  return {
    loadPerCore: number(readings.loadPerCore),
    freeMemoryMb: number(readings.freeMemoryMb),
    freeDiskMb: number(readings.freeDiskMb),
    onAcPower: flag(readings.onAcPower),
    networkUp: flag(readings.networkUp),
  };
}
