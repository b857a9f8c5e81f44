import { loadPg, type PgPool } from './connection.js';

// The pool a PgStore opens for a `postgres://` URL, or the application's own.

export interface PgStoreOptions {
  /** `'normal'` commits without waiting for PostgreSQL's WAL flush (synchronous_commit off). Own pools only. */
  durability?: 'full' | 'normal';
  /** How long (ms) a statement waits for a row lock before DATABASE_LOCKED (lock_timeout). Own pools only. */
  lockTimeout?: number;
  /** Every transaction read-only (the dashboard without actions); a database that needs migrating is refused. Own pools only. */
  readOnly?: boolean;
}

const POOL_SIZE = 10;

/** A pool of our own for a URL; the application's pool as it is (its settings are its own). */
export async function openPool(target: string | PgPool, options: PgStoreOptions): Promise<PgPool> {
  // Loaded with a pool of the application's too: its type parsers are the base of ours.
  const pg = await loadPg();
  if (typeof target !== 'string') return target;
  const settings = [`-c lock_timeout=${options.lockTimeout ?? 5000}`];
  if (options.durability === 'normal') settings.push('-c synchronous_commit=off');
  if (options.readOnly) settings.push('-c default_transaction_read_only=on');
  const pool = new pg.Pool({
    connectionString: target,
    max: POOL_SIZE,
    options: settings.join(' '),
    application_name: 'background-tasks',
  });
  // An idle client's lost connection: the next query on the pool reports it.
  pool.on('error', () => undefined);
  return pool;
}
