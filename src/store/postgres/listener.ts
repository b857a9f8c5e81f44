import type { PoolClient } from 'pg';
import { NOTIFY_CHANNEL, query } from './connection.js';

const RELISTEN_MS = 1_000;

/**
 * A connection of its own LISTENs for other nodes' notices and calls the watchers.
 * Lost (the server restarted, the connection was cut), it is opened again a second
 * later; meanwhile the loop's timer (at most 10 s) is the fallback. A node's own
 * notices, which carry its id, are not passed on.
 */
export class Listener {
  readonly #connect: () => Promise<PoolClient>;
  readonly #selfId: string;
  readonly #watchers = new Set<() => void>();
  /** The listening connection; 'connecting' while it is being opened. */
  #client: PoolClient | 'connecting' | undefined;
  #closed = false;

  constructor(connect: () => Promise<PoolClient>, selfId: string) {
    this.#connect = connect;
    this.#selfId = selfId;
  }

  get watched(): boolean {
    return this.#watchers.size > 0;
  }

  /** Adds a watcher; returns a function that removes it. */
  add(onChange: () => void): () => void {
    this.#watchers.add(onChange);
    return () => this.#watchers.delete(onChange);
  }

  async listen(): Promise<void> {
    if (this.#client !== undefined || this.#closed || this.#watchers.size === 0) return;
    const again = () => {
      if (!this.#closed) setTimeout(() => void this.listen(), RELISTEN_MS).unref();
    };
    this.#client = 'connecting';
    let client: PoolClient;
    try {
      client = await this.#connect();
    } catch {
      this.#client = undefined;
      again();
      return;
    }
    if (this.#closed) {
      client.release(true);
      return;
    }
    this.#client = client;
    const lost = (): void => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.release(new Error('the listening connection was lost'));
      again();
    };
    client.on('notification', (message) => {
      if (message.payload === this.#selfId) return;
      for (const watcher of this.#watchers) watcher();
    });
    client.on('error', lost);
    client.on('end', lost);
    try {
      await query(client, `LISTEN ${NOTIFY_CHANNEL}`);
    } catch {
      lost();
      return;
    }
    // Work made while no one listened would otherwise wait for the timer.
    for (const watcher of this.#watchers) watcher();
  }

  close(): void {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    if (typeof client === 'object') client.release(true);
  }
}
