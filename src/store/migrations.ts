import { readFileSync } from 'node:fs';
import { DatabaseError } from '../errors.js';

// What both stores decide about their migrations: the newest one the package
// ships, whether a database is current, behind or written by a newer release,
// and how its version reads in `doctor`.

/** The newest migration in a drizzle-kit migrations folder (its journal's latest `when`). */
export function newestShipped(folder: string): number {
  const journal = JSON.parse(readFileSync(`${folder}/meta/_journal.json`, 'utf8')) as {
    entries: { when: number; tag: string }[];
  };
  return Math.max(...journal.entries.map((entry) => entry.when));
}

/**
 * True when migrations are pending; false when the database is current. A database
 * migrated by a newer release is refused: this one would misread it.
 */
export function needsMigrating(applied: number | null, shipped: number): boolean {
  if (applied !== null && applied > shipped) {
    throw new DatabaseError(
      'DATABASE_SCHEMA_TOO_NEW',
      'the database was written by a newer version of background-tasks; upgrade the package to use it',
    );
  }
  return applied !== shipped;
}

/** The newest applied migration as `doctor` shows it: when it was made, and its hash. */
export function formatSchemaVersion(newest: { hash: string; createdAt: number } | undefined): string {
  return newest ? `${new Date(Number(newest.createdAt)).toISOString()} (${newest.hash.slice(0, 12)})` : 'none';
}
