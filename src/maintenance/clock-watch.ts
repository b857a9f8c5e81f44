import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { ClockStore } from '../store/store.js';
import { replanAfterClockJump } from '../triggers/schedule.js';
import { CLOCK_JUMP_TOLERANCE_MS } from '../runtime/timing.js';

/**
 * The clock watch: timers run on monotonic time, so a wall clock set back shows as
 * a wall clock that fell behind it between two wakes (or, at start, as a clock
 * behind what an earlier process recorded). Without a rebase, everything waiting
 * on the wall clock would stall for the size of the jump. A jump forward needs
 * nothing: what came due runs once, and missed slots follow their misfire policy.
 */
export class ClockWatch {
  readonly #store: ClockStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #lastSeen: { wall: number; monotonic: number } | undefined;

  constructor(store: ClockStore, clock: Clock, logger: Logger) {
    this.#store = store;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** At a start: compares the clock with the latest time any scheduler recorded. */
  async atStart(now: number): Promise<void> {
    this.#lastSeen = undefined;
    const latest = await this.#store.latestRecordedTime();
    if (latest !== null && latest - now > CLOCK_JUMP_TOLERANCE_MS) await this.#wentBack(now, latest - now);
  }

  /** At each wake: compares how far the wall clock moved with how far the monotonic clock did. */
  async runOnce(now: number): Promise<void> {
    const monotonic = this.#clock.monotonic();
    const last = this.#lastSeen;
    this.#lastSeen = { wall: now, monotonic };
    if (last === undefined) return;
    const behind = monotonic - last.monotonic - (now - last.wall);
    if (behind > CLOCK_JUMP_TOLERANCE_MS) await this.#wentBack(now, behind);
  }

  async #wentBack(now: number, jumpMs: number): Promise<void> {
    const changed = await this.#store.rebaseAfterClockJump({
      now,
      jumpMs,
      replan: (state) => replanAfterClockJump(state, now, Math.random),
    });
    this.#logger.warn({ jumpMs, changed }, `the wall clock went back by ${jumpMs} ms; schedules were brought forward`);
  }
}
