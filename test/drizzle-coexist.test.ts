import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { describe, expect, test } from 'vitest';
import { OneTimeTrigger, Scheduler } from '../src/index.js';
import { MIGRATIONS_FOLDER, VACUUM_CONVERT_MAX_BYTES } from '../src/store/sqlite/open.js';
import { silentLogger, tempDir } from './helpers/setup.js';

// An application that keeps its own tables in the scheduler's file and migrates
// them with drizzle-kit (the real CLI, drizzle's default migrations table) while
// the package records its own migrations in a table of its own.

const DRIZZLE_KIT = fileURLToPath(new URL('../node_modules/drizzle-kit/bin.cjs', import.meta.url));

/** An application folder with one drizzle-kit migration (a `devices` table) made at `when`. */
function appWithMigration(when: number): { dir: string; database: string; migrate: () => void } {
  const dir = tempDir();
  const database = join(dir, 'tasks.db');
  mkdirSync(join(dir, 'drizzle', 'meta'), { recursive: true });
  writeFileSync(
    join(dir, 'drizzle.config.mjs'),
    `export default { dialect: 'sqlite', out: './drizzle', dbCredentials: { url: ${JSON.stringify(database)} } };\n`,
  );
  writeFileSync(
    join(dir, 'drizzle', '0000_devices.sql'),
    'CREATE TABLE `devices` (\n\t`id` integer PRIMARY KEY NOT NULL,\n\t`name` text NOT NULL\n);\n',
  );
  writeFileSync(
    join(dir, 'drizzle', 'meta', '_journal.json'),
    JSON.stringify({
      version: '7',
      dialect: 'sqlite',
      entries: [{ idx: 0, version: '6', when, tag: '0000_devices', breakpoints: true }],
    }),
  );
  const migrate = () =>
    void execFileSync(process.execPath, [DRIZZLE_KIT, 'migrate', '--config', 'drizzle.config.mjs'], {
      cwd: dir,
      stdio: 'pipe',
    });
  return { dir, database, migrate };
}

function tables(database: string): string[] {
  const db = new Database(database, { readonly: true });
  try {
    return (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]
    ).filter((name) => !name.startsWith('sqlite_'));
  } finally {
    db.close();
  }
}

/** The scheduler opens the file, keeps a task and runs it. */
async function schedulerWorksOn(database: string): Promise<void> {
  const scheduler = new Scheduler({ database, logger: silentLogger });
  try {
    const ran = new Promise<void>((resolve) => scheduler.register('job', () => resolve()));
    await scheduler.addTask({ name: 'job', triggers: [new OneTimeTrigger({ delay: 0 })] });
    await scheduler.start();
    await ran;
  } finally {
    await scheduler.close();
  }
}

/** What makes two files the same database: schema, migration records, vacuum and journal modes. */
function fileOf(database: string) {
  const db = new Database(database, { readonly: true });
  try {
    return {
      autoVacuum: db.pragma('auto_vacuum', { simple: true }),
      journalMode: db.pragma('journal_mode', { simple: true }),
      schema: db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name').all(),
      migrations: db.prepare('SELECT hash, created_at FROM __background_tasks_migrations ORDER BY id').all(),
    };
  } finally {
    db.close();
  }
}

test("drizzle-kit applies the package's migrations with the README's config, and the file is the scheduler's own", async () => {
  const dir = tempDir();
  const database = join(dir, 'kit.db');
  // The README's drizzle.config for the package's migrations (its `out` names the installed package's folder).
  writeFileSync(
    join(dir, 'drizzle.tasks.config.mjs'),
    `export default {
       dialect: 'sqlite',
       out: ${JSON.stringify(MIGRATIONS_FOLDER)},
       migrations: { table: '__background_tasks_migrations' },
       dbCredentials: { url: ${JSON.stringify(database)} },
     };\n`,
  );
  execFileSync(process.execPath, [DRIZZLE_KIT, 'migrate', '--config', 'drizzle.tasks.config.mjs'], {
    cwd: dir,
    stdio: 'pipe',
  });
  expect(fileOf(database).autoVacuum).toBe(0); // what drizzle-kit leaves
  await schedulerWorksOn(database);
  const own = join(dir, 'own.db');
  await schedulerWorksOn(own);
  expect(fileOf(database)).toEqual(fileOf(own));
  expect(fileOf(database).autoVacuum).toBe(2);
});

test('a large file without incremental vacuum is left as it is, rather than rewritten at open', async () => {
  const database = join(tempDir(), 'big.db');
  const db = new Database(database);
  db.exec('CREATE TABLE blobs (b blob)');
  db.prepare('INSERT INTO blobs VALUES (?)').run(Buffer.alloc(VACUUM_CONVERT_MAX_BYTES + 1024 * 1024));
  db.close();
  await schedulerWorksOn(database);
  expect(fileOf(database).autoVacuum).toBe(0);
});

const OLDER = Date.UTC(2023, 10, 14); // before the package's own migrations
const NEWER = Date.UTC(2030, 0, 1); // after them

describe.each([
  ['older', OLDER],
  ['newer', NEWER],
])("an application's own drizzle-kit migration (%s than the package's)", (_, when) => {
  test('run first, then the scheduler: both schemas are there and the scheduler runs', async () => {
    const app = appWithMigration(when);
    app.migrate();
    await schedulerWorksOn(app.database);
    expect(tables(app.database)).toEqual(expect.arrayContaining(['devices', 'tasks', 'runs', 'executions']));
    // The file drizzle-kit made has no incremental vacuum; the scheduler gives it one.
    expect(fileOf(app.database).autoVacuum).toBe(2);
  });

  test('the scheduler first, then drizzle-kit: it creates the application table, the scheduler reopens', async () => {
    const app = appWithMigration(when);
    await schedulerWorksOn(app.database);
    app.migrate();
    expect(tables(app.database)).toContain('devices');
    await schedulerWorksOn(app.database);
    // Each side's records are its own.
    const db = new Database(app.database, { readonly: true });
    expect(db.prepare('SELECT created_at FROM __drizzle_migrations').pluck().all()).toEqual([when]);
    expect(db.prepare('SELECT count(*) FROM __background_tasks_migrations').pluck().get()).toBe(
      readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).length,
    );
    db.close();
  });
});

test("a file from the previous release, its records in drizzle's default table, is adopted without loss", async () => {
  const app = appWithMigration(NEWER);
  const before = new Scheduler({ database: app.database, logger: silentLogger });
  const kept = await before.addTask({ key: 'kept', name: 'kept' });
  await before.close();
  // What the previous release left: the package's records under drizzle's default name.
  const db = new Database(app.database);
  db.exec('ALTER TABLE __background_tasks_migrations RENAME TO __drizzle_migrations');
  db.close();

  const after = new Scheduler({ database: app.database, logger: silentLogger });
  expect(await after.getTask(kept.id)).toMatchObject({ key: 'kept' });
  await after.close();
  expect(tables(app.database)).toContain('__background_tasks_migrations');
  expect(tables(app.database)).not.toContain('__drizzle_migrations');
  // And the application's drizzle-kit now finds a file it can migrate.
  app.migrate();
  expect(tables(app.database)).toContain('devices');
  await schedulerWorksOn(app.database);
});
