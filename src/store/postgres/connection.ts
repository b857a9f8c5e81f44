import { fileURLToPath } from 'node:url';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { DatabaseError, refusal } from '../../errors.js';
import { formatSchemaVersion, needsMigrating, newestShipped } from '../migrations.js';

/** A `pg` pool, or anything that hands out clients the same way. */
export type PgPool = Pick<Pool, 'connect' | 'query' | 'end'>;

export type Queryable = Pick<PoolClient, 'query'>;

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../migrations/pg', import.meta.url));
export const MIGRATIONS_SCHEMA = 'background_tasks';
export const MIGRATIONS_TABLE = '__drizzle_migrations';
/** Held while migrating, so that nodes starting together apply each migration once. */
const MIGRATION_LOCK = 7_461_626_001;
export const NOTIFY_CHANNEL = 'background_tasks';

/** Whether a `database` option names a PostgreSQL server rather than a SQLite file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}

// bigint columns (ids, epoch ms) come back as strings by default; every value the
// store keeps fits a double exactly.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID ? (value: string) => Number(value) : defaultParser(oid, format)) as never,
};
let defaultParser: (oid: number, format?: string) => (value: string) => unknown = () => (value) => value;

/** Loads `pg` on first use, so that SQLite users never load it. */
export async function loadPg(): Promise<typeof import('pg').default> {
  // pg is an optional peer dependency: SQLite-only applications do not install it.
  const pg = await import('pg').then(
    (module) => module.default,
    (err: unknown) => {
      throw new DatabaseError(
        'DATABASE_UNAVAILABLE',
        'a PostgreSQL database needs the pg package: npm install pg (background-tasks uses pg 8)',
        { cause: err },
      );
    },
  );
  defaultParser = pg.types.getTypeParser as typeof defaultParser;
  return pg;
}

/** Runs one statement; `name` prepares it once per connection (the hot path's statements). */
export async function query<R>(client: Queryable, text: string, values: unknown[] = [], name?: string): Promise<R[]> {
  const config: QueryConfig = { text, values, types };
  if (name !== undefined) config.name = name;
  try {
    return (await client.query(config)).rows as R[];
  } catch (err) {
    throw toPgDatabaseError(err);
  }
}

/** Maps PostgreSQL's SQLSTATE codes (and lost connections) to typed errors. */
export function toPgDatabaseError(err: unknown): unknown {
  if (err instanceof DatabaseError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') {
    const lost = err instanceof Error && /Connection terminated|connect|ECONN|timeout/i.test(err.message);
    return lost ? refusal('DATABASE_UNAVAILABLE', err) : err;
  }
  if (code.startsWith('ECONN') || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || /^(08|57P)/.test(code)) {
    return refusal('DATABASE_UNAVAILABLE', err);
  }
  // Deadlock, serialization failure, lock_timeout: another transaction held what this one needed.
  if (code === '40P01' || code === '40001' || code === '55P03') return refusal('DATABASE_LOCKED', err);
  if (code === '25006') return refusal('DATABASE_READ_ONLY', err);
  if (code === '53100') return refusal('DATABASE_FULL', err);
  if (code === 'XX001' || code === 'XX002') return refusal('DATABASE_CORRUPT', err);
  return refusal('DATABASE_ERROR', err);
}

/**
 * Applies pending migrations under an advisory lock: the first node to start
 * migrates, the others wait for it and then find nothing to do.
 */
export async function migratePostgres(client: PoolClient): Promise<void> {
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');
  const latest = newestShipped(MIGRATIONS_FOLDER);
  await query(client, 'SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    if (!needsMigrating(await newestApplied(client), latest)) return;
    await migrate(drizzle(client), {
      migrationsFolder: MIGRATIONS_FOLDER,
      migrationsSchema: MIGRATIONS_SCHEMA,
      migrationsTable: MIGRATIONS_TABLE,
    }).catch((err: unknown) => {
      throw toPgDatabaseError(err);
    });
  } finally {
    await query(client, 'SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}

export async function newestApplied(client: Queryable): Promise<number | null> {
  const [table] = await query<{ name: string | null }>(
    client,
    `SELECT to_regclass('${MIGRATIONS_SCHEMA}.${MIGRATIONS_TABLE}')::text AS name`,
  );
  if (!table?.name) return null;
  const [row] = await query<{ newest: number | null }>(
    client,
    `SELECT max(created_at) AS newest FROM ${MIGRATIONS_SCHEMA}.${MIGRATIONS_TABLE}`,
  );
  return row?.newest ?? null;
}

export async function schemaVersion(client: Queryable): Promise<string> {
  if ((await newestApplied(client)) === null) return 'none';
  const [row] = await query<{ hash: string; createdAt: number }>(
    client,
    `SELECT hash, created_at AS "createdAt" FROM ${MIGRATIONS_SCHEMA}.${MIGRATIONS_TABLE} ORDER BY created_at DESC LIMIT 1`,
  );
  return formatSchemaVersion(row);
}

/** One reading of the database server's clock, placed at the midpoint of its round trip. */
export async function readServerClock(
  client: Queryable,
): Promise<{ serverNow: number; monotonic: number; roundTrip: number }> {
  const t0 = performance.now();
  const [row] = await query<{ now: number }>(
    client,
    'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now',
  );
  const t1 = performance.now();
  return { serverNow: row!.now, monotonic: (t0 + t1) / 2, roundTrip: t1 - t0 };
}
