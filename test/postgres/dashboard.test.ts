import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test } from 'vitest';
import { createDashboard } from '../../src/dashboard/index.js';
import { Scheduler } from '../../src/index.js';
import { PgStore } from '../../src/store/postgres/store.js';
import { nextEvents } from '../../src/testing.js';
import { silentLogger, testDatabase } from '../helpers/setup.js';

// The dashboard on PostgreSQL: its pages over a fleet's database, read-only
// without actions (every transaction), and an action with them.

test('the dashboard on PostgreSQL: pages with data read-only, and a pause with actions on', async () => {
  const database = testDatabase();
  const scheduler = new Scheduler({ database, logger: silentLogger });
  scheduler.register('sync', (args: { fail?: boolean }) => {
    if (args.fail) throw new Error('HTTP 503 from 10.0.0.7');
  });
  const ok = await scheduler.addTask({ key: 'ok', name: 'sync-ok', handler: 'sync', args: {} });
  const bad = await scheduler.addTask({ key: 'bad', name: 'sync-bad', handler: 'sync', args: { fail: true } });
  const ended = nextEvents(scheduler, 'execution:finished', 2);
  await scheduler.start();
  await scheduler.runNow(ok.id);
  await scheduler.runNow(bad.id);
  await ended;
  for (const allowActions of [false, true]) {
    const dashboard = await createDashboard({ database, allowActions, token: 'tok' });
    const server = createServer(dashboard).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const headers = { authorization: 'Bearer tok' };
    try {
      for (const path of ['/', '/tasks', `/tasks/${ok.id}`, '/executions?status=failed', '/failures']) {
        const response = await fetch(`${url}${path}`, { headers });
        expect(response.status, path).toBe(200);
        const text = await response.text();
        if (path === '/failures') expect(text).toContain('sync-bad (1)');
        if (path === '/executions?status=failed') expect(text).toContain('HTTP 503 from 10.0.0.7');
      }
      if (allowActions) {
        const page = await (await fetch(`${url}/tasks/${ok.id}`, { headers })).text();
        const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
        const paused = await fetch(`${url}/actions/tasks/${ok.id}/pause`, {
          method: 'POST',
          headers,
          body: new URLSearchParams({ csrf }),
          redirect: 'manual',
        });
        expect(paused.status).toBe(303);
        expect((await scheduler.getTask(ok.id))!.paused).toBe(true);
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await dashboard.close();
    }
  }
  // Without actions the dashboard's store cannot write: PostgreSQL refuses it.
  const readOnly = new PgStore(database, { readOnly: true });
  await expect(readOnly.setPaused({ taskId: ok.id, paused: false, now: Date.now() })).rejects.toThrow(/read-only/);
  await readOnly.close();
  await scheduler.close();
});
