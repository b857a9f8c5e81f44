import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Hono, type Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { parseDuration } from '../cli/format.js';
import type { Clock } from '../clock.js';
import { BackgroundTasksError, TaskNotFoundError, ValidationError } from '../errors.js';
import type { ExecutionStatus } from '../execution.js';
import { groupFailures } from '../failures.js';
import { parseJson } from '../json.js';
import { explainFromOutside, readExecutions, taskIdOf, taskOf } from '../operator-reads.js';
import { isLive } from '../runtime/registration.js';
import { redriveExecution } from '../redrive.js';
import { fireEventFromOutside, steerTask, TASK_ACTIONS, type TaskAction } from '../steering.js';
import type { ActivityBucket, Store } from '../store/store.js';
import type { Task } from '../task.js';
import { EXECUTION_STATUSES } from '../values.js';
import * as pages from './pages.js';
import { CsrfTokens, sameSecret, SECURITY_HEADERS, TOKEN_COOKIE } from './security.js';

// The dashboard's routes (hono): pages that read the store, and, when actions are
// on, forms that change it through the same calls as the CLI (steering.ts,
// redrive.ts). Every request needs the token when one is set.

export interface AppOptions {
  store: Store;
  clock: Clock;
  /** Where it is mounted ('' or '/ops'). */
  base: string;
  token: string | null;
  allowActions: boolean;
}

const PAGE = 50;
/** Failed attempts read at most for the failures page (the newest), and for the overview's few groups. */
const MAX_FAILURES = 20_000;
const OVERVIEW_FAILURES = 2_000;

const require = createRequire(import.meta.url);
/** The files a page loads, all from the package: read at the first request for them. */
const ASSET_FILES: Record<string, { type: string; path: () => string | URL }> = {
  'app.js': { type: 'text/javascript', path: () => new URL('../../dashboard/app.js', import.meta.url) },
  'app.css': { type: 'text/css', path: () => new URL('../../dashboard/app.css', import.meta.url) },
  'uPlot.iife.min.js': { type: 'text/javascript', path: () => require.resolve('uplot/dist/uPlot.iife.min.js') },
  'uPlot.min.css': { type: 'text/css', path: () => require.resolve('uplot/dist/uPlot.min.css') },
};
const assets = new Map<string, string>();

function asset(name: string): { type: string; body: string } | undefined {
  const file = Object.hasOwn(ASSET_FILES, name) ? ASSET_FILES[name] : undefined;
  if (file === undefined) return undefined;
  let body = assets.get(name);
  if (body === undefined) assets.set(name, (body = readFileSync(file.path(), 'utf8')));
  return { type: file.type, body };
}

export function dashboardApp({ store, clock, base, token, allowActions }: AppOptions): Hono {
  const app = new Hono().basePath(base || '/');
  const csrf = new CsrfTokens();
  const ctx: pages.PageContext = { base, csrf: allowActions ? csrf.token() : null };

  app.use('*', async (c, next) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.header(name, value);
    if (token === null) return next();
    const fromQuery = c.req.query('token');
    if (fromQuery !== undefined && sameSecret(fromQuery, token)) {
      // Once given in the address, kept in a cookie only this dashboard's pages send.
      setCookie(c, TOKEN_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: base || '/' });
      const url = new URL(c.req.url);
      url.searchParams.delete('token');
      return c.redirect(url.pathname + url.search, 303);
    }
    const bearer = c.req.header('authorization')?.replace(/^Bearer /i, '');
    const given = bearer ?? getCookie(c, TOKEN_COOKIE);
    if (given !== undefined && sameSecret(given, token)) return next();
    c.status(401);
    return c.html(
      pages.messagePage(
        { base, csrf: null },
        'Token needed',
        'Open the address the dashboard printed, with its ?token=.',
      ),
    );
  });

  app.get('/assets/:name', (c) => {
    const found = asset(c.req.param('name'));
    if (found === undefined) return c.notFound();
    c.header('Content-Type', `${found.type}; charset=utf-8`);
    return c.body(found.body);
  });

  app.get('/', async (c) => {
    const now = clock.now();
    const day = now - 86_400_000;
    const schedulers = await store.schedulers();
    return c.html(
      pages.overviewPage(ctx, {
        now,
        perMinute: await perMinute(store, now),
        running: await store.executions({ status: 'running', limit: 200 }),
        backlog: await store.countReady({ now, limit: 1_000_000 }),
        schedulers: schedulers.map((s) => ({ ...s, alive: isLive(s, now) })),
        failedToday: (await store.activity({ since: day, bucketMs: 86_400_000 })).reduce((n, b) => n + b.failed, 0),
        // The groups of the newest failures: what is failing now.
        failures: groupFailures(await readExecutions(store, { status: 'failed', since: day }, OVERVIEW_FAILURES)),
      }),
    );
  });

  app.get('/tasks', async (c) => {
    const query = (c.req.query('q') ?? '').trim().toLowerCase();
    const after = Number(c.req.query('after'));
    const tasks: Task[] = [];
    // A page of tasks by id; a search reads on until it has a page of matches.
    let last = Number.isInteger(after) && after > 0 ? after : 0;
    for (let page = await store.listTasks({ limit: 1000, afterId: last }); page.length > 0;) {
      for (const task of page) {
        last = task.id;
        if (query === '' || `${task.name} ${task.key ?? ''}`.toLowerCase().includes(query)) tasks.push(task);
        if (tasks.length === PAGE) break;
      }
      if (tasks.length === PAGE) break;
      page = await store.listTasks({ limit: 1000, afterId: last });
    }
    const counts = await store.taskCounts(tasks.map((t) => t.id));
    const next =
      tasks.length === PAGE ? `${base}/tasks?${new URLSearchParams({ q: query, after: String(last) })}` : null;
    const rows = tasks.map((task) => ({ task, counts: counts.get(task.id) }));
    return c.html(pages.tasksPage(ctx, rows, query, next));
  });

  app.get('/tasks/:id', async (c) => {
    const task = await taskOf(store, c.req.param('id'));
    if (task === undefined) return notFound(c, `no task ${c.req.param('id')}`);
    const explanation = await explainFromOutside(store, task, clock.now());
    return c.html(pages.taskPage(ctx, task, explanation, await store.executions({ taskId: task.id, limit: 100 })));
  });

  app.get('/executions', async (c) => {
    const filter = {
      task: c.req.query('task') ?? '',
      status: c.req.query('status') ?? '',
      since: c.req.query('since') ?? '',
    };
    const taskId = filter.task === '' ? undefined : await taskIdOf(store, filter.task);
    if (filter.task !== '' && taskId === undefined) return notFound(c, `no task "${filter.task}"`);
    const status = EXECUTION_STATUSES.includes(filter.status as ExecutionStatus)
      ? (filter.status as ExecutionStatus)
      : undefined;
    const sinceMs = filter.since === '' ? null : parseDuration(filter.since);
    const before = Number(c.req.query('before'));
    const rows = await store.executions({
      limit: PAGE,
      ...(taskId === undefined ? {} : { taskId }),
      ...(status === undefined ? {} : { status }),
      ...(sinceMs === null ? {} : { since: clock.now() - sinceMs }),
      ...(Number.isInteger(before) && before > 0 ? { beforeId: before } : {}),
    });
    const next = new URLSearchParams({ ...filter, before: String(rows.at(-1)?.id ?? '') });
    return c.html(pages.executionsPage(ctx, rows, filter, rows.length === PAGE ? `${base}/executions?${next}` : null));
  });

  app.get('/executions/:id', async (c) => {
    const id = Number(c.req.param('id'));
    const [execution] = Number.isInteger(id) ? await store.executions({ beforeId: id + 1, limit: 1 }) : [];
    if (execution === undefined || execution.id !== id) return notFound(c, `no execution ${c.req.param('id')}`);
    return c.html(pages.executionPage(ctx, execution));
  });

  app.get('/failures', async (c) => {
    const since = c.req.query('since') || '24h';
    const ms = parseDuration(since) ?? 86_400_000;
    const failed = await readExecutions(store, { status: 'failed', since: clock.now() - ms }, MAX_FAILURES);
    return c.html(pages.failuresPage(ctx, groupFailures(failed), since));
  });

  if (!allowActions) return app;

  // A form of this dashboard, not of another site: the CSRF token, and the browser's own word where it gives one.
  app.use('/actions/*', async (c, next) => {
    const body = await c.req.parseBody();
    const site = c.req.header('sec-fetch-site');
    if ((site !== undefined && site !== 'same-origin' && site !== 'none') || !csrf.valid(body.csrf)) {
      c.status(403);
      return c.html(
        pages.messagePage(ctx, 'Refused', 'This form did not come from this dashboard (CSRF token missing or wrong).'),
      );
    }
    return next();
  });

  app.post('/actions/tasks/:id/:action', async (c) => {
    const action = c.req.param('action') as TaskAction;
    if (!TASK_ACTIONS.includes(action)) return notFound(c, `no action ${action}`);
    const task = await taskOf(store, c.req.param('id'));
    if (task === undefined) return notFound(c, `no task ${c.req.param('id')}`);
    await steerTask(store, action, task.id, clock.now());
    return c.redirect(action === 'remove' ? `${base}/tasks` : `${base}/tasks/${task.id}`, 303);
  });

  app.post('/actions/executions/:id/retry', async (c) => {
    const id = Number(c.req.param('id'));
    return act(c, async () => {
      await redriveExecution(store, id, clock.now());
      return `${base}/executions/${id}`;
    });
  });

  app.post('/actions/events', async (c) => {
    const body = await c.req.parseBody();
    return act(c, async () => {
      const text = typeof body.payload === 'string' ? body.payload.trim() : '';
      let payload: unknown;
      try {
        payload = text === '' ? undefined : parseJson(text);
      } catch {
        throw new ValidationError('payload', 'must be JSON');
      }
      const key = typeof body.key === 'string' && body.key !== '' ? body.key : null;
      const name = typeof body.event === 'string' ? body.event : '';
      await fireEventFromOutside(store, { name, payload, key, keyWindowMs: 86_400_000, now: clock.now() });
      return `${base}/`;
    });
  });

  /** Runs an action; a refusal is shown as a page with the error's words, nothing changed. */
  async function act(c: Context, fn: () => Promise<string>): Promise<Response> {
    try {
      return c.redirect(await fn(), 303);
    } catch (err) {
      if (!(err instanceof BackgroundTasksError)) throw err;
      c.status(err instanceof TaskNotFoundError || err.code === 'EXECUTION_NOT_FOUND' ? 404 : 400);
      return c.html(pages.messagePage(ctx, 'Refused', err.message));
    }
  }

  function notFound(c: Context, message: string): Response | Promise<Response> {
    c.status(404);
    return c.html(pages.messagePage(ctx, 'Not found', message));
  }

  return app;
}

/** Attempts started and failed per minute over the last hour, empty minutes included. */
async function perMinute(store: Store, now: number): Promise<ActivityBucket[]> {
  const end = Math.floor(now / 60_000) * 60_000;
  const counted = new Map((await store.activity({ since: end - 59 * 60_000, bucketMs: 60_000 })).map((b) => [b.at, b]));
  return Array.from({ length: 60 }, (_, i) => {
    const at = end - (59 - i) * 60_000;
    return counted.get(at) ?? { at, started: 0, failed: 0 };
  });
}
