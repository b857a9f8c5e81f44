import { systemClock, type Clock } from '../../clock.js';

/** Offsets older than this many samples are forgotten: a clock that drifts is followed. */
const SAMPLES_KEPT = 12;

/**
 * The fleet's one time: this machine's clock corrected by its measured offset
 * from the database server's clock. Nodes whose own clocks disagree then agree
 * on when a slot is due and when a lease lapses. Of the recent measurements the
 * one with the shortest round trip is trusted, since its error is smallest.
 */
export class AgreedClock implements Clock {
  #samples: { offset: number; roundTrip: number }[] = [];
  #offset = 0;

  /** How far (ms) the database's clock is ahead of this machine's, as last agreed. */
  get offset(): number {
    return this.#offset;
  }

  sample(offset: number, roundTrip: number): void {
    this.#samples.push({ offset, roundTrip });
    if (this.#samples.length > SAMPLES_KEPT) this.#samples.shift();
    this.#offset = this.#samples.reduce((best, s) => (s.roundTrip < best.roundTrip ? s : best)).offset;
  }

  now(): number {
    return systemClock.now() + this.#offset;
  }

  monotonic(): number {
    return systemClock.monotonic();
  }

  setTimeout(callback: () => void, ms: number): unknown {
    return systemClock.setTimeout(callback, ms);
  }

  clearTimeout(handle: unknown): void {
    systemClock.clearTimeout(handle);
  }
}
