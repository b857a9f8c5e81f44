import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { DatabaseError, toDatabaseError } from '../../errors.js';
import * as schema from './schema.js';
import type { Durability } from '../../values.js';
import { needsMigrating, newestShipped } from '../migrations.js';

export interface OpenOptions {
  /** `full` syncs every commit to disk; `normal` may lose the last commits on power loss. */
  durability?: Durability;
  /** How long a write waits for another process's lock before failing (ms). Default 5000. */
  busyTimeout?: number;
  /**
   * A cap on the file's size in bytes (SQLite's max_page_count), so that the
   * scheduler cannot fill a small disk: writes beyond it fail with DATABASE_FULL.
   */
  maxDatabaseSize?: number;
  /**
   * Opens an existing, current file for reading only (the dashboard without actions):
   * nothing is set up or migrated, and every write fails with DATABASE_READ_ONLY.
   */
  readOnly?: boolean;
}

export type SqliteDb = BetterSQLite3Database<typeof schema>;

// Resolved from this file, not the working directory: the same relative path holds
// in src/store/sqlite and dist/store/sqlite.
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../migrations/sqlite', import.meta.url));

/**
 * The package's record of its applied migrations: a table of its own, so that an
 * application's drizzle-kit migrations on the same file (in drizzle's default
 * `__drizzle_migrations`) and the package's never read each other's.
 */
export const MIGRATIONS_TABLE = '__background_tasks_migrations';
/** Where releases before 0.2 recorded them: drizzle's default table. */
const LEGACY_MIGRATIONS_TABLE = '__drizzle_migrations';

/** Opens (creating if need be) a database file, sets its pragmas and applies pending migrations. */
export function openSqlite(filename: string, options: OpenOptions = {}): { sqlite: Database.Database; db: SqliteDb } {
  let sqlite: Database.Database | undefined;
  try {
    if (options.readOnly) {
      sqlite = new Database(filename, { readonly: true, fileMustExist: true });
      sqlite.pragma(`busy_timeout = ${options.busyTimeout ?? 5000}`);
      if (needsMigrating(newestApplied(sqlite), newestShipped(MIGRATIONS_FOLDER))) {
        throw new DatabaseError(
          'DATABASE_READ_ONLY',
          `${filename} needs migrating, which opening it read-only cannot do: run "background-tasks migrate --db ${filename}"`,
        );
      }
      return { sqlite, db: drizzle(sqlite, { schema }) };
    }
    sqlite = new Database(filename);
    sqlite.pragma(`busy_timeout = ${options.busyTimeout ?? 5000}`);
    incrementalVacuum(sqlite);
    sqlite.pragma('journal_mode = WAL');
    // After a checkpoint, a WAL file larger than this is cut back.
    sqlite.pragma('journal_size_limit = 4194304');
    sqlite.pragma(`synchronous = ${options.durability === 'normal' ? 'NORMAL' : 'FULL'}`);
    sqlite.pragma('foreign_keys = ON');
    if (options.maxDatabaseSize !== undefined) {
      const pageSize = sqlite.pragma('page_size', { simple: true }) as number;
      sqlite.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxDatabaseSize / pageSize))}`);
    }
    const db = drizzle(sqlite, { schema });
    migrateOnce(sqlite, db);
    return { sqlite, db };
  } catch (err) {
    sqlite?.close();
    throw toDatabaseError(err);
  }
}

/** Files up to this size that lack incremental vacuum get it when opened (a VACUUM rewrites the file). */
export const VACUUM_CONVERT_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Lets pruning give pages back to the disk. The mode takes effect on a new, empty
 * file at once; a file whose tables something else created first (drizzle-kit
 * applying the package's migrations, or an application's own) needs a VACUUM to
 * take it, done while the file is small. A larger one is left as it is (doctor
 * says so): rewriting it could take long and double its space on a small disk.
 */
function incrementalVacuum(sqlite: Database.Database): void {
  if (sqlite.prepare('SELECT count(*) FROM sqlite_master').pluck().get() === 0) {
    sqlite.pragma('auto_vacuum = INCREMENTAL');
    return;
  }
  if (sqlite.pragma('auto_vacuum', { simple: true }) !== 0 || sqlite.memory) return;
  const pages = sqlite.pragma('page_count', { simple: true }) as number;
  const pageSize = sqlite.pragma('page_size', { simple: true }) as number;
  if (pages * pageSize > VACUUM_CONVERT_MAX_BYTES) return;
  try {
    sqlite.pragma('auto_vacuum = INCREMENTAL');
    sqlite.exec('VACUUM');
  } catch {
    // Busy, or no room for the copy: the file works as it is, and the next open tries again.
  }
}

/**
 * Applies pending migrations. Processes opening a new file together race here
 * (drizzle reads the applied migrations before its transaction), so a failed try
 * that finds the schema current after all is another process's success.
 */
function migrateOnce(sqlite: Database.Database, db: SqliteDb): void {
  const latest = newestShipped(MIGRATIONS_FOLDER);
  for (let attempt = 1; ; attempt++) {
    adoptLegacyRecords(sqlite);
    if (!needsMigrating(newestApplied(sqlite), latest)) return;
    try {
      migrate(db, { migrationsFolder: MIGRATIONS_FOLDER, migrationsTable: MIGRATIONS_TABLE });
      return;
    } catch (err) {
      if (attempt >= MIGRATE_ATTEMPTS) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50 * attempt);
    }
  }
}

const MIGRATE_ATTEMPTS = 5;

function hasTable(sqlite: Database.Database, name: string): boolean {
  return sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

function newestApplied(sqlite: Database.Database): number | null {
  if (!hasTable(sqlite, MIGRATIONS_TABLE)) return null;
  const row = sqlite.prepare(`SELECT max(created_at) AS newest FROM ${MIGRATIONS_TABLE}`).get() as {
    newest: number | null;
  };
  return row.newest === null ? null : Number(row.newest);
}

/**
 * A file from a release that kept its migration records in drizzle's default table:
 * the package's rows (known by their hashes) move to its own table, in one
 * transaction; an application's rows stay where its drizzle-kit looks for them,
 * and the default table goes if nothing else was in it.
 */
function adoptLegacyRecords(sqlite: Database.Database): void {
  if (hasTable(sqlite, MIGRATIONS_TABLE) || !hasTable(sqlite, LEGACY_MIGRATIONS_TABLE)) return;
  const ours = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).map((m) => m.hash);
  const marks = ours.map(() => '?').join(', ');
  sqlite
    .transaction(() => {
      if (hasTable(sqlite, MIGRATIONS_TABLE)) return; // another process adopted them first
      sqlite.exec(
        `CREATE TABLE ${MIGRATIONS_TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)`,
      );
      sqlite
        .prepare(
          `INSERT INTO ${MIGRATIONS_TABLE} (hash, created_at)
         SELECT hash, created_at FROM ${LEGACY_MIGRATIONS_TABLE} WHERE hash IN (${marks}) ORDER BY created_at`,
        )
        .run(...ours);
      sqlite.prepare(`DELETE FROM ${LEGACY_MIGRATIONS_TABLE} WHERE hash IN (${marks})`).run(...ours);
      const left = sqlite.prepare(`SELECT count(*) FROM ${LEGACY_MIGRATIONS_TABLE}`).pluck().get() as number;
      if (left === 0) sqlite.exec(`DROP TABLE ${LEGACY_MIGRATIONS_TABLE}`);
    })
    .immediate();
}
