import type { DeviceWatch } from '../runtime/device-watch.js';
import type { Handler } from '../runtime/executor.js';
import { REGISTRATION_REFRESH_MS } from '../runtime/registration.js';
import type { Owner, RegistryStore } from '../store/store.js';

/**
 * Registration: tells the database which handlers this scheduler takes and what
 * its device reads (the `schedulers` table, read by the CLI and by explain), now
 * and then, and at once when the handlers change.
 */
export class Registrar {
  readonly #store: RegistryStore;
  readonly #owner: Owner;
  readonly #handlers: ReadonlyMap<string, Handler>;
  readonly #device: Pick<DeviceWatch, 'state'>;
  #registered = '';
  #registeredAt = Number.NEGATIVE_INFINITY;

  constructor(
    store: RegistryStore,
    owner: Owner,
    handlers: ReadonlyMap<string, Handler>,
    device: Pick<DeviceWatch, 'state'>,
  ) {
    this.#store = store;
    this.#owner = owner;
    this.#handlers = handlers;
    this.#device = device;
  }

  /** Registers again at the next run, whatever changed: for a start. */
  reset(): void {
    this.#registeredAt = Number.NEGATIVE_INFINITY;
  }

  async runOnce(now: number): Promise<void> {
    const names = [...this.#handlers.keys()].sort().join('\n');
    if (names === this.#registered && now - this.#registeredAt < REGISTRATION_REFRESH_MS) return;
    await this.#store.saveScheduler({
      owner: this.#owner,
      handlers: [...this.#handlers.keys()],
      device: this.#device.state,
      now,
    });
    this.#registered = names;
    this.#registeredAt = now;
  }
}
