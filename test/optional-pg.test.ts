import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

test('pg is an optional peer dependency: SQLite-only installs go without it', () => {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    dependencies: Record<string, string>;
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional?: boolean }>;
  };
  expect(manifest.dependencies).not.toHaveProperty('pg');
  expect(manifest.peerDependencies).toHaveProperty('pg');
  expect(manifest.peerDependenciesMeta.pg?.optional).toBe(true);
  // The public types name better-sqlite3's: its types come with the package (skipLibCheck: false).
  expect(manifest.dependencies).toHaveProperty('@types/better-sqlite3');
});

test('a postgres:// URL without pg installed gives a typed error that says what to install', () => {
  const result = spawnSync(
    process.execPath,
    ['--import', fixture('without-pg.mjs'), fixture('postgres-without-pg.mjs')],
    { encoding: 'utf8', timeout: 15_000 },
  );
  const outcome = JSON.parse(result.stdout.trim()) as { name: string; code: string; message: string };
  expect(outcome).toMatchObject({ name: 'DatabaseError', code: 'DATABASE_UNAVAILABLE' });
  expect(outcome.message).toMatch(/npm install pg/);
});
