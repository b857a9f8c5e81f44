import { ValidationError } from '../errors.js';
import { integerIn, MAX_TIMER_MS, nonEmptyString } from '../validate.js';
import type { TriggerSpec } from './spec.js';
import { Trigger } from './trigger.js';

export interface EventTriggerOptions {
  /** The name given to `scheduler.fireEvent(name, payload)`. */
  event: string;
  /**
   * Ms: firings closer together than this make one run, due this long after the
   * last of them, with the last payload. Default: none (one run per firing, at once).
   */
  debounce?: number;
}

export const MAX_EVENT_NAME_LENGTH = 200;
export const MAX_EVENT_KEY_LENGTH = 200;
/** How long a fired event key is remembered by default (the `eventKeyWindow` option): a day. */
export const DEFAULT_EVENT_KEY_WINDOW_MS = 24 * 3600_000;
/** The longest `eventKeyWindow`: a year. */
export const MAX_EVENT_KEY_WINDOW_MS = 366 * 24 * 3600_000;

/** What `fireEvent` takes besides the name and payload. */
export interface FireEventOptions {
  /**
   * The sender's id for this firing: a firing whose key was already fired for the
   * same event within the `eventKeyWindow` (default 24 h) makes no runs, so a
   * sender that repeats itself after a lost reply makes no twins.
   */
  key?: string;
}

type EventSpec = Extract<TriggerSpec, { kind: 'event' }>;

/**
 * Fires once for each `scheduler.fireEvent(event)`. Time does not make it ready,
 * so `next` is always null; in memory, `fire` queues an event for `isReady`.
 */
export class EventTrigger extends Trigger {
  readonly spec: EventSpec;
  #pending = 0;

  constructor(options: EventTriggerOptions) {
    super();
    if (options === null || typeof options !== 'object') {
      throw new ValidationError('trigger', 'must be an object with `event`');
    }
    this.spec = {
      kind: 'event',
      event: nonEmptyString(options.event, 'trigger.event', MAX_EVENT_NAME_LENGTH),
      debounce:
        options.debounce === undefined ? null : integerIn(options.debounce, 'trigger.debounce', 1, MAX_TIMER_MS),
    };
  }

  next(_after: number): null {
    return null;
  }

  /** Queues one firing for `isReady` and `reset`; the scheduler uses `fireEvent` instead. */
  fire(): void {
    this.#pending++;
  }

  isReady(_now: number): boolean {
    return this.#pending > 0;
  }

  reset(_now: number): void {
    if (this.#pending > 0) this.#pending--;
  }
}
