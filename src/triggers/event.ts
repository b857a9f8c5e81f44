import { ValidationError } from '../errors.js';
import { nonEmptyString } from '../validate.js';
import type { TriggerSpec } from './spec.js';
import { Trigger } from './trigger.js';

export interface EventTriggerOptions {
  /** The name given to `scheduler.fireEvent(name, payload)`. */
  event: string;
}

export const MAX_EVENT_NAME_LENGTH = 200;

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
    this.spec = { kind: 'event', event: nonEmptyString(options.event, 'trigger.event', MAX_EVENT_NAME_LENGTH) };
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
