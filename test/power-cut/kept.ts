// What the disk kept after a cut, read the same way from either store, so that one
// check (acknowledgements.ts) covers both.
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type pg from 'pg';
import { tempDir } from '../helpers/setup.js';

export interface KeptExecution {
  runId: number;
  status: string;
}

export interface Kept {
  /** '' when the store's own check finds nothing wrong, else what it found. */
  integrity(): Promise<string>;
  /** False when a cut took the schema itself (possible under 'normal' soon after the start). */
  hasSchema(): Promise<boolean>;
  /** Which of these task keys are neither a task nor a spent key. */
  missingTasks(keys: string[]): Promise<Set<string>>;
  /** Which of these run ids are neither a run nor an execution's run. */
  unknownRuns(ids: number[]): Promise<Set<number>>;
  /** These executions, where they are. */
  executions(ids: number[]): Promise<Map<number, KeptExecution>>;
  /** The ids of a task's executions. */
  executionsOf(taskId: number): Promise<number[]>;
  /** The highest id each table's sequence has handed out. */
  sequence(table: 'tasks' | 'runs' | 'executions'): Promise<number>;
  close(): Promise<void>;
}

/** Opens a copy of what the layer's disk kept of a SQLite file (the check must not change the file the next child resumes). */
export function keptCopy(durable: string, name: string): { db: Database.Database; done: () => void } {
  const copy = tempDir();
  cpSync(durable, copy, { recursive: true });
  const db = new Database(join(copy, name));
  return {
    db,
    done: () => {
      db.close();
      rmSync(copy, { recursive: true, force: true });
    },
  };
}

export function keptSqlite(durable: string, name: string): Kept {
  const { db, done } = keptCopy(durable, name);
  const one = (sql: string) => db.prepare(sql).pluck();
  const queries = () => ({
    task: one('SELECT 1 FROM tasks WHERE key = ? UNION ALL SELECT 1 FROM spent_keys WHERE key = ?'),
    run: one('SELECT 1 FROM runs WHERE id = ? UNION ALL SELECT 1 FROM executions WHERE run_id = ?'),
    execution: db.prepare('SELECT run_id AS runId, status FROM executions WHERE id = ?'),
  });
  let prepared: ReturnType<typeof queries> | undefined;
  const q = () => (prepared ??= queries());
  return {
    integrity: async () => {
      const result = db.pragma('integrity_check', { simple: true });
      return result === 'ok' ? '' : `integrity_check: ${String(result)}`;
    },
    hasSchema: async () => one("SELECT 1 FROM sqlite_master WHERE name = 'spent_keys'").get() !== undefined,
    missingTasks: async (keys) => new Set(keys.filter((key) => q().task.get(key, key) === undefined)),
    unknownRuns: async (ids) => new Set(ids.filter((id) => q().run.get(id, id) === undefined)),
    executions: async (ids) => {
      const found = new Map<number, KeptExecution>();
      for (const id of ids) {
        const row = q().execution.get(id) as KeptExecution | undefined;
        if (row) found.set(id, row);
      }
      return found;
    },
    executionsOf: async (taskId) => one('SELECT id FROM executions WHERE task_id = ?').all(taskId) as number[],
    sequence: async (table) =>
      (one('SELECT seq FROM sqlite_sequence WHERE name = ?').get(table) as number | undefined) ?? 0,
    close: async () => done(),
  };
}

/** A PostgreSQL server's tables, after it recovered from the cut; `amcheck` is its own check. */
export async function keptPostgres(client: pg.Client, amcheck: () => string): Promise<Kept> {
  await client.connect();
  const rows = async <T>(sql: string, values: unknown[] = []) => (await client.query(sql, values)).rows as T[];
  const S = 'background_tasks';
  return {
    integrity: async () => amcheck(),
    hasSchema: async () =>
      (await rows<{ t: string | null }>(`SELECT to_regclass('${S}.spent_keys')::text AS t`))[0]!.t !== null,
    missingTasks: async (keys) =>
      new Set(
        (
          await rows<{ key: string }>(
            `SELECT key FROM unnest($1::text[]) AS k(key)
             WHERE NOT EXISTS (SELECT 1 FROM ${S}.tasks t WHERE t.key = k.key)
               AND NOT EXISTS (SELECT 1 FROM ${S}.spent_keys s WHERE s.key = k.key)`,
            [keys],
          )
        ).map((row) => row.key),
      ),
    unknownRuns: async (ids) =>
      new Set(
        (
          await rows<{ id: string }>(
            `SELECT id FROM unnest($1::bigint[]) AS r(id)
             WHERE NOT EXISTS (SELECT 1 FROM ${S}.runs x WHERE x.id = r.id)
               AND NOT EXISTS (SELECT 1 FROM ${S}.executions e WHERE e.run_id = r.id)`,
            [ids],
          )
        ).map((row) => Number(row.id)),
      ),
    executions: async (ids) =>
      new Map(
        (
          await rows<{ id: string; run_id: string; status: string }>(
            `SELECT id, run_id, status FROM ${S}.executions WHERE id = ANY($1::bigint[])`,
            [ids],
          )
        ).map((row) => [Number(row.id), { runId: Number(row.run_id), status: row.status }]),
      ),
    executionsOf: async (taskId) =>
      (await rows<{ id: string }>(`SELECT id FROM ${S}.executions WHERE task_id = $1`, [taskId])).map((row) =>
        Number(row.id),
      ),
    sequence: async (table) => {
      const [row] = await rows<{ seq: string | null }>(`SELECT pg_get_serial_sequence($1, 'id') AS seq`, [
        `${S}.${table}`,
      ]);
      const [value] = await rows<{ last_value: string; is_called: boolean }>(
        `SELECT last_value, is_called FROM ${row!.seq}`,
      );
      return Number(value!.last_value) - (value!.is_called ? 0 : 1);
    },
    close: () => client.end(),
  };
}
