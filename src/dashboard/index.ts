import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { systemClock } from '../clock.js';
import { ValidationError } from '../errors.js';
import { openStore } from '../open-store.js';
import type { PgPool } from '../store/postgres/connection.js';
import { describe, nonEmptyString } from '../validate.js';
import { dashboardApp } from './app.js';

// `background-tasks/dashboard`: the operator's page (SPEC rule 22) as a Node request
// handler, to serve on its own (the CLI's `ui`) or mount in an application's server.

export interface DashboardOptions {
  /** The SQLite file, or a PostgreSQL URL or pool, that schedulers run on. */
  database: string | PgPool;
  /** The path it is mounted at (`/ops`); default the root. */
  basePath?: string;
  /** Run now, pause, resume, remove, fire, retry. Default off; on, a `token` is required. */
  allowActions?: boolean;
  /** Asked of every request (`?token=` once, then a cookie; or `Authorization: Bearer`). */
  token?: string;
}

export interface Dashboard {
  (req: IncomingMessage, res: ServerResponse): void;
  /** Releases the database. */
  close(): Promise<void>;
}

/**
 * The dashboard's handler. Without actions it opens the database read-only (a
 * SQLite file is never written; on PostgreSQL every transaction is read-only).
 */
export async function createDashboard(options: DashboardOptions): Promise<Dashboard> {
  if (options === null || typeof options !== 'object')
    throw new ValidationError('options', `must be an object, got ${describe(options)}`);
  const allowActions = options.allowActions ?? false;
  if (typeof allowActions !== 'boolean') throw new ValidationError('allowActions', 'must be a boolean');
  const token = options.token === undefined ? null : nonEmptyString(options.token, 'token', 1000);
  if (allowActions && token === null) throw new ValidationError('token', 'actions need a token: set one');
  const base = (options.basePath ?? '').replace(/\/+$/, '');
  if (base !== '' && !/^\/[\w\-./]*$/.test(base)) {
    throw new ValidationError('basePath', `must be a path like /ops, got ${describe(options.basePath)}`);
  }
  const store = openStore({ database: options.database }, { readOnly: !allowActions });
  await store.opened();
  const clock = store.agreedClock ?? systemClock;
  const app = dashboardApp({ store, clock, base, token, allowActions });
  const listener = getRequestListener(app.fetch);
  return Object.assign((req: IncomingMessage, res: ServerResponse) => void listener(req, res), {
    close: () => store.close(),
  });
}
