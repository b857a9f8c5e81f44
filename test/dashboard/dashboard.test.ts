import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, expect, test } from 'vitest';
import { createDashboard, type Dashboard, type DashboardOptions } from '../../src/dashboard/index.js';
import { EventTrigger, Scheduler } from '../../src/index.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { nextEvents } from '../../src/testing.js';
import { silentLogger, tempDbPath } from '../helpers/setup.js';

// The dashboard over HTTP, on a file made through the public API: every page with
// real data, escaping, the token, CSRF, actions through the CLI's code path, and
// the CLI's `ui` refusing an open address without a token.

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const XSS = '<img src=x onerror=alert(1)>';
const servers: { server: Server; dashboard: Dashboard }[] = [];

afterEach(async () => {
  for (const { server, dashboard } of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await dashboard.close();
  }
});

/** A file with tasks, successes and failures, made and then closed by a scheduler. */
async function populated(): Promise<{ db: string; taskId: number; failedId: number }> {
  const db = tempDbPath();
  const scheduler = new Scheduler({ database: db, logger: silentLogger });
  scheduler.register('upload', (args: { fail?: boolean }) => {
    if (args.fail) throw new Error('HTTP 503 from 10.0.0.7');
    return { uploaded: 3 };
  });
  const ok = await scheduler.addTask({ key: 'upload-ok', name: XSS, handler: 'upload', args: {} });
  const bad = await scheduler.addTask({
    key: 'upload-bad',
    name: 'upload-bad',
    handler: 'upload',
    args: { fail: true },
    triggers: [new EventTrigger({ event: 'ping' })],
  });
  const ended = nextEvents(scheduler, 'execution:finished', 3);
  await scheduler.start();
  await scheduler.runNow(ok.id);
  await scheduler.runNow(ok.id);
  await scheduler.runNow(bad.id);
  await ended;
  await scheduler.close();
  const failedId = (await executionsOf(db)).find((e) => e.status === 'failed')!.id;
  return { db, taskId: ok.id, failedId };
}

async function executionsOf(db: string) {
  const reader = new Database(db, { readonly: true });
  try {
    return reader.prepare('SELECT id, status, task_id AS taskId FROM executions ORDER BY id').all() as {
      id: number;
      status: string;
      taskId: number;
    }[];
  } finally {
    reader.close();
  }
}

async function serve(options: DashboardOptions): Promise<string> {
  const dashboard = await createDashboard(options);
  const server = createServer(dashboard);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push({ server, dashboard });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}${options.basePath ?? ''}`;
}

test('every page renders with real data, escaped, under a strict Content-Security-Policy', async () => {
  const { db, taskId, failedId } = await populated();
  const url = await serve({ database: db });
  const page = async (path: string) => {
    const response = await fetch(`${url}${path}`);
    expect(response.status, path).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'; script-src 'self'");
    return response.text();
  };
  const overview = await page('/');
  expect(overview).toContain('Attempts per minute');
  expect(overview).toContain('"series":[{"label":"started"');
  expect(overview).toContain('HTTP # from #');
  const tasks = await page('/tasks');
  expect(tasks).toContain('&lt;img src=x onerror=alert(1)&gt;');
  expect(tasks).not.toContain(XSS);
  expect(tasks).toContain('on ping');
  expect(await page('/tasks?q=bad')).not.toContain('&lt;img');
  const task = await page(`/tasks/${taskId}`);
  expect(task).toContain('Why it is or is not about to run');
  expect(task).toContain('{&quot;uploaded&quot;:3}');
  expect(task).not.toContain('name="csrf"'); // no actions
  const failed = await page('/executions?status=failed');
  expect(failed).toContain('HTTP 503 from 10.0.0.7');
  expect(failed).not.toContain('succeeded</span>');
  expect(await page('/executions?task=upload-ok')).not.toContain('upload-bad');
  expect(await page(`/executions/${failedId}`)).toContain('HTTP 503 from 10.0.0.7');
  expect(await page('/failures?since=7d')).toContain('upload-bad (1)');
  expect((await fetch(`${url}/assets/uPlot.iife.min.js`)).headers.get('content-type')).toContain('javascript');
  expect((await fetch(`${url}/tasks/999`)).status).toBe(404);
  // No actions: none is routed, and the store it opened cannot write the file.
  expect((await fetch(`${url}/actions/tasks/${taskId}/pause`, { method: 'POST' })).status).toBe(404);
  const readOnly = new SqliteStore(db, { readOnly: true });
  await expect(readOnly.setPaused({ taskId, paused: true, now: Date.now() })).rejects.toMatchObject({
    code: 'DATABASE_READ_ONLY',
  });
  await readOnly.close();
});

test('with a token: none and a wrong one are refused; ?token= once sets a cookie; a bearer header works', async () => {
  const { db } = await populated();
  const url = await serve({ database: db, token: 's3cret-token', basePath: '/ops' });
  expect((await fetch(`${url}/tasks`)).status).toBe(401);
  expect((await fetch(`${url}/tasks?token=wrong`)).status).toBe(401);
  expect((await fetch(`${url}/tasks`, { headers: { cookie: 'bt_token=wrong' } })).status).toBe(401);
  const given = await fetch(`${url}/tasks?token=s3cret-token`, { redirect: 'manual' });
  expect(given.status).toBe(303);
  expect(given.headers.get('location')).toBe('/ops/tasks');
  const cookie = given.headers.get('set-cookie')!;
  expect(cookie).toMatch(/bt_token=s3cret-token; .*HttpOnly/);
  expect(cookie).toContain('SameSite=Strict');
  expect((await fetch(`${url}/tasks`, { headers: { cookie: cookie.split(';')[0]! } })).status).toBe(200);
  expect((await fetch(`${url}/tasks`, { headers: { authorization: 'Bearer s3cret-token' } })).status).toBe(200);
});

test('actions need the token and the CSRF token, go through the CLI code path, and the page shows the change', async () => {
  const { db, taskId, failedId } = await populated();
  const url = await serve({ database: db, token: 'tok', allowActions: true });
  const auth = { authorization: 'Bearer tok' };
  const task = await (await fetch(`${url}/tasks/${taskId}`, { headers: auth })).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(task)![1]!;
  const post = (path: string, form: Record<string, string>, headers: Record<string, string> = auth) =>
    fetch(`${url}${path}`, { method: 'POST', headers, body: new URLSearchParams(form), redirect: 'manual' });

  expect((await post(`/actions/tasks/${taskId}/pause`, {})).status).toBe(403);
  expect((await post(`/actions/tasks/${taskId}/pause`, { csrf: 'forged' })).status).toBe(403);
  expect((await post(`/actions/tasks/${taskId}/pause`, { csrf }, {})).status).toBe(401);
  const crossSite = await post(`/actions/tasks/${taskId}/pause`, { csrf }, { ...auth, 'sec-fetch-site': 'cross-site' });
  expect(crossSite.status).toBe(403);
  const paused = await post(`/actions/tasks/${taskId}/pause`, { csrf });
  expect(paused.status).toBe(303);
  expect(await (await fetch(`${url}${paused.headers.get('location')}`, { headers: auth })).text()).toMatch(
    /, paused\s*<\/dd>/,
  );
  const reader = new Database(db, { readonly: true });
  expect(reader.prepare('SELECT paused FROM tasks WHERE id = ?').pluck().get(taskId)).toBe(1);
  expect((await post(`/actions/tasks/${taskId}/run-now`, { csrf })).status).toBe(303);
  expect(reader.prepare("SELECT count(*) FROM runs WHERE task_id = ? AND reason = 'manual'").pluck().get(taskId)).toBe(
    1,
  );
  expect((await post(`/actions/executions/${failedId}/retry`, { csrf })).status).toBe(303);
  expect(reader.prepare('SELECT redriven_run_id FROM executions WHERE id = ?').pluck().get(failedId)).not.toBeNull();
  const refused = await post(`/actions/executions/${failedId - 1}/retry`, { csrf });
  expect(refused.status).toBe(400);
  expect(await refused.text()).toContain('only a failed attempt can be retried');
  expect((await post('/actions/events', { csrf, event: 'ping', payload: '{"n":1}', key: 'k1' })).status).toBe(303);
  expect((await post('/actions/events', { csrf, event: 'ping', payload: '{"n":1}', key: 'k1' })).status).toBe(303);
  expect(reader.prepare("SELECT count(*) FROM runs WHERE reason = 'event'").pluck().get()).toBe(1);
  expect((await post('/actions/events', { csrf, event: 'ping', payload: '{not json' })).status).toBe(400);
  expect((await post(`/actions/tasks/${taskId}/remove`, { csrf })).status).toBe(303);
  expect(reader.prepare('SELECT count(*) FROM tasks WHERE id = ?').pluck().get(taskId)).toBe(0);
  reader.close();
});

test('bad options are refused: actions without a token, a base path that is not a path', async () => {
  const db = tempDbPath();
  await expect(createDashboard({ database: db, allowActions: true })).rejects.toMatchObject({ field: 'token' });
  await expect(createDashboard({ database: db, basePath: 'ops' })).rejects.toMatchObject({ field: 'basePath' });
  // Read-only: a file that does not exist is not created.
  await expect(createDashboard({ database: db })).rejects.toThrow();
});

test('ui: an address other than loopback without a token is refused; on loopback it serves until SIGTERM', async () => {
  const { db } = await populated();
  const open = spawnSync(process.execPath, [cli, 'ui', '--db', db, '--host', '0.0.0.0'], { encoding: 'utf8' });
  expect(open.status).toBe(2);
  expect(open.stderr).toContain('needs --token');
  const child = spawn(process.execPath, [cli, 'ui', '--db', db, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const address = /http:\/\/\S+/.exec(line.toString())![0];
  expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  expect((await fetch(`${address}tasks`)).status).toBe(200);
  child.kill('SIGTERM');
  expect((await once(child, 'exit'))[0]).toBe(0);
});
