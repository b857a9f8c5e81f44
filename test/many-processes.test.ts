import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { tempDbPath } from './helpers/setup.js';

const worker = fileURLToPath(new URL('./fixtures/worker-child.mjs', import.meta.url));

test('three processes on one new file: each of 300 one-time tasks runs exactly once', async () => {
  const database = tempDbPath();
  const perChild = 100;
  const children = [0, 1, 2].map((i) =>
    spawn(process.execPath, [worker, database, String(i), String(perChild), String(3 * perChild)], {
      stdio: ['ignore', 'inherit', 'inherit'],
    }),
  );
  const codes = await Promise.all(children.map(async (child) => (await once(child, 'exit'))[0]));
  expect(codes).toEqual([0, 0, 0]);

  const db = new Database(database, { readonly: true });
  const perTask = db
    .prepare('SELECT task_id, count(*) AS n, min(status) AS status FROM executions GROUP BY task_id')
    .all() as {
    n: number;
    status: string;
  }[];
  const owners = db.prepare('SELECT count(DISTINCT owner) FROM executions').pluck().get();
  const left = db.prepare('SELECT count(*) FROM tasks').pluck().get();
  db.close();
  expect(perTask).toHaveLength(3 * perChild);
  expect(perTask.every((row) => row.n === 1 && row.status === 'succeeded')).toBe(true);
  expect(left).toBe(0);
  expect(owners).toBeGreaterThanOrEqual(2);
});

test('each process claims only runs whose handler it registered', async () => {
  const database = tempDbPath();
  const children = ['alpha', 'beta'].map((handler, i) =>
    spawn(process.execPath, [worker, database, String(i), '50', '100', handler], {
      stdio: ['ignore', 'inherit', 'inherit'],
    }),
  );
  const codes = await Promise.all(children.map(async (child) => (await once(child, 'exit'))[0]));
  expect(codes).toEqual([0, 0]);
  const db = new Database(database, { readonly: true });
  const rows = db.prepare('SELECT task_name, result FROM executions').all() as { result: string }[];
  db.close();
  expect(rows).toHaveLength(100);
  // Tasks added by child 0 name handler alpha, child 1's name beta: each ran in the process that has it.
  const byChild = rows.map((row) => (JSON.parse(row.result) as { by: number }).by);
  expect(byChild.filter((by) => by === 0)).toHaveLength(50);
  expect(byChild.filter((by) => by === 1)).toHaveLength(50);
});
