import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { ValidationError } from './errors.js';
import { isPostgresUrl, type PgPool } from './store/postgres/connection.js';
import { PgStore } from './store/postgres/store.js';
import { SqliteStore } from './store/sqlite/store.js';
import type { Store } from './store/store.js';
import { integerIn, nonEmptyString, oneOf } from './validate.js';
import { DURABILITIES } from './values.js';
import type { SchedulerOptions } from './scheduler.js';

/**
 * The store a scheduler's options name, opened: a PostgreSQL URL or pool, or else
 * a SQLite file. The options that tune it are validated here, by field. `readOnly`
 * (the dashboard without actions) opens it for reading only.
 */
export function openStore(options: SchedulerOptions, { readOnly = false } = {}): Store {
  const database = databaseOption(options.database);
  const durability = oneOf(options.durability ?? 'full', 'durability', DURABILITIES);
  const busyTimeout = integerIn(options.busyTimeout ?? 5000, 'busyTimeout', 0, 2 ** 31 - 1);
  const maxDatabaseSize =
    options.maxDatabaseSize === undefined
      ? undefined
      : integerIn(options.maxDatabaseSize, 'maxDatabaseSize', 64 * 1024, Number.MAX_SAFE_INTEGER);
  if (database.kind === 'postgres') {
    if (maxDatabaseSize !== undefined) {
      throw new ValidationError('maxDatabaseSize', 'applies to SQLite files only; PostgreSQL has its own quotas');
    }
    return new PgStore(database.target, { durability, lockTimeout: busyTimeout, readOnly });
  }
  return new SqliteStore(database.path, {
    durability,
    busyTimeout,
    readOnly,
    ...(maxDatabaseSize === undefined ? {} : { maxDatabaseSize }),
  });
}

/** Which store `database` names: a PostgreSQL URL or pool, or else a SQLite file. */
function databaseOption(
  database: unknown,
): { kind: 'postgres'; target: string | PgPool } | { kind: 'sqlite'; path: string } {
  if (database !== null && typeof database === 'object') {
    const pool = database as Partial<PgPool>;
    if (typeof pool.connect === 'function' && typeof pool.query === 'function') {
      return { kind: 'postgres', target: database as PgPool };
    }
    throw new ValidationError('database', 'must be a file path, a postgres:// URL or a pg Pool');
  }
  const text = nonEmptyString(database, 'database', 4096);
  if (isPostgresUrl(text)) return { kind: 'postgres', target: text };
  // better-sqlite3 would throw a plain TypeError for a file in a folder that does not exist.
  const folder = dirname(text);
  if (text !== ':memory:' && !text.startsWith('file:') && !existsSync(folder)) {
    throw new ValidationError('database', `the folder ${folder} does not exist`);
  }
  return { kind: 'sqlite', path: text };
}
