import type { Clock, TimerHandle } from './clock.js';
import { isIdle, trackOperations, whenIdle } from './store/in-flight.js';
import type { SchedulerEventMap } from './events.js';
import type { Scheduler } from './scheduler.js';

interface FakeTimer {
  id: number;
  at: number;
  callback: () => void;
}

/**
 * A clock that moves only when told to. Timers fire in due order during
 * `advance`, and the promise it returns lets pending work (database writes,
 * handlers) run between timers, so tests never sleep.
 */
export class FakeClock implements Clock {
  #now: number;
  #monotonic = 0;
  #timers: FakeTimer[] = [];
  #nextId = 1;

  constructor(start: number | Date = Date.UTC(2026, 0, 1)) {
    this.#now = typeof start === 'number' ? start : start.getTime();
    // So that advance() and settle() wait for a network store's round trips.
    trackOperations();
  }

  now(): number {
    return this.#now;
  }

  monotonic(): number {
    return this.#monotonic;
  }

  // Timers are due on the monotonic clock, as Node's are: set() does not move them.
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer = { id: this.#nextId++, at: this.#monotonic + Math.max(0, ms), callback };
    this.#timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((timer) => timer.id !== handle);
  }

  /** In how many ms the earliest waiting timer is due, or null if none waits. */
  get nextTimerIn(): number | null {
    const at = this.#timers.reduce<number | null>(
      (min, timer) => (min === null || timer.at < min ? timer.at : min),
      null,
    );
    return at === null ? null : at - this.#monotonic;
  }

  /** How many timers are waiting. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, firing each timer that comes due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#monotonic + ms;
    for (;;) {
      await settle();
      const due = this.#timers.filter((timer) => timer.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((timer) => timer !== due);
      this.#step(due.at);
      due.callback();
    }
    this.#step(target);
    await settle();
  }

  #step(to: number): void {
    if (to <= this.#monotonic) return;
    this.#now += to - this.#monotonic;
    this.#monotonic = to;
  }

  /** Sets the wall clock, as an operator or NTP correcting it would. Timers keep their due times. */
  set(time: number | Date): void {
    this.#now = typeof time === 'number' ? time : time.getTime();
  }
}

/**
 * Lets queued promise callbacks and I/O callbacks run, and waits for database
 * operations in flight (a PostgreSQL store's round trips) and what follows them.
 */
export async function settle(rounds = 3): Promise<void> {
  trackOperations();
  for (let i = 0; i < rounds; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!isIdle()) {
      await whenIdle();
      i = -1;
    }
  }
}

export interface WaitOptions {
  /**
   * Real milliseconds to wait before rejecting, so that a mistake fails the test at
   * once with the event's name instead of hanging until the runner's limit. Default: no limit.
   */
  timeout?: number;
}

/** Resolves with the first `count` events named `event` that `match` accepts (listening starts now). */
export function nextEvents<K extends keyof SchedulerEventMap>(
  scheduler: Scheduler,
  event: K,
  count: number,
  match: (...args: SchedulerEventMap[K]) => boolean = () => true,
  options: WaitOptions = {},
): Promise<SchedulerEventMap[K][0][]> {
  return new Promise((resolve, reject) => {
    const seen: SchedulerEventMap[K][0][] = [];
    const emitter = scheduler as unknown as NodeJS.EventEmitter;
    const timer =
      options.timeout === undefined
        ? undefined
        : setTimeout(() => {
            emitter.off(event, listener as never);
            reject(
              new Error(
                `no ${count > 1 ? `${count} "${event}" events` : `"${event}" event`} within ${options.timeout} ms (saw ${seen.length})`,
              ),
            );
          }, options.timeout);
    const listener = (...args: SchedulerEventMap[K]): void => {
      if (!match(...args)) return;
      seen.push(args[0]);
      if (seen.length < count) return;
      emitter.off(event, listener as never);
      clearTimeout(timer);
      resolve(seen);
    };
    emitter.on(event, listener as never);
  });
}

/** Resolves with the next event named `event` that `match` accepts (listening starts now). */
export async function nextEvent<K extends keyof SchedulerEventMap>(
  scheduler: Scheduler,
  event: K,
  match?: (...args: SchedulerEventMap[K]) => boolean,
  options: WaitOptions = {},
): Promise<SchedulerEventMap[K][0]> {
  const [first] = await nextEvents(scheduler, event, 1, match, options);
  return first as SchedulerEventMap[K][0];
}
