import { systemClock, type Clock } from '../../clock.js';

/** Older samples are forgotten: a server clock that is corrected is followed. */
const SAMPLES_KEPT = 12;

interface Sample {
  /** The server's clock at the midpoint of the round trip. */
  serverNow: number;
  /** This machine's monotonic clock at that midpoint. */
  monotonic: number;
  roundTrip: number;
}

/**
 * The fleet's one time: the database server's clock, carried forward on this
 * machine's monotonic clock from the latest good reading. Nodes whose own wall
 * clocks disagree, or jump, still agree on when a slot is due and when a lease
 * lapses. Of the recent readings the one with the shortest round trip is
 * trusted, since its error is smallest.
 */
export class AgreedClock implements Clock {
  #samples: Sample[] = [];
  #best: Sample | undefined;

  /** How far (ms) the server's clock is ahead of this machine's wall clock, as last agreed. */
  get offset(): number {
    return this.now() - systemClock.now();
  }

  sample(reading: Sample): void {
    this.#samples.push(reading);
    if (this.#samples.length > SAMPLES_KEPT) this.#samples.shift();
    this.#best = this.#samples.reduce((best, s) => (s.roundTrip < best.roundTrip ? s : best));
  }

  now(): number {
    const best = this.#best;
    // Before the first reading (the database is not open yet): this machine's clock.
    if (best === undefined) return systemClock.now();
    return Math.round(best.serverNow + (systemClock.monotonic() - best.monotonic));
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
