import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { tempDbPath } from './helpers/setup.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('migrate creates the schema and says so', () => {
  const db = tempDbPath();
  const result = run('migrate', '--db', db);
  expect(result.status).toBe(0);
  expect(result.stdout).toContain('up to date');
  const sqlite = new Database(db, { readonly: true });
  expect(sqlite.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'executions'").pluck().get()).toBe(1);
  sqlite.close();
});

test('bad usage exits 2; a file that is not a database exits 1 with its error code', () => {
  expect(run('frobnicate').status).toBe(2);
  expect(run('migrate', '--nope').status).toBe(2);
  const db = tempDbPath();
  writeFileSync(db, 'x'.repeat(4096));
  const result = run('migrate', '--db', db);
  expect(result.status).toBe(1);
  expect(result.stderr).toContain('DATABASE_CORRUPT');
});
