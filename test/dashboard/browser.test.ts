import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { EventTrigger, PeriodicTrigger, Scheduler } from '../../src/index.js';
import { nextEvent, nextEvents } from '../../src/testing.js';
import { silentLogger, tempDbPath } from '../helpers/setup.js';

// The dashboard in a real Chromium (Debian's package, driven by playwright-core),
// beside a running scheduler on the same file: every page renders with its charts,
// filters work, an action changes the database and the page shows it, the live view
// follows a run to its end without a reload, and a task named like an XSS payload is
// text. BT_SCREENSHOTS=1 writes the README's screenshots (docs/screenshots/).

const XSS = '<img src=x onerror=alert(1)>';
const TOKEN = 'browser-test-token';

function chromiumPath(): string | null {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || null;
    } catch {
      // not this one
    }
  }
  return null;
}

const executablePath = chromiumPath();
if (executablePath === null)
  console.warn('\n!! No chromium: the browser tests are skipped (apt-get install chromium).\n');

let browser: Browser;
let scheduler: Scheduler;
let dashboard: Dashboard;
let server: Server;
let url: string;
let release: () => void = () => {};
const problems: string[] = [];
const ids = { xss: 0, flaky: 0, slow: 0, nightly: 0 };

beforeAll(async () => {
  if (executablePath === null) return;
  const db = tempDbPath();
  scheduler = new Scheduler({ database: db, logger: silentLogger, maxRunningTasks: 4 });
  scheduler.register('sync', (args: { fail?: boolean }) => {
    if (args.fail) throw new Error('HTTP 503 from 10.0.0.7');
    return { synced: 12 };
  });
  scheduler.register('slow', () => new Promise<void>((resolve) => (release = resolve)));
  ids.xss = (await scheduler.addTask({ key: 'xss', name: XSS, handler: 'sync', args: {} })).id;
  ids.flaky = (
    await scheduler.addTask({
      key: 'flaky',
      name: 'upload-metrics',
      handler: 'sync',
      args: { fail: true },
      retryPolicy: { maxRetries: 1, delay: 0 },
      triggers: [new EventTrigger({ event: 'metrics-ready' })],
    })
  ).id;
  ids.slow = (await scheduler.addTask({ key: 'slow', name: 'firmware-download', handler: 'slow' })).id;
  ids.nightly = (
    await scheduler.addTask({
      key: 'nightly',
      name: 'compact-logs',
      handler: 'sync',
      args: {},
      triggers: [new PeriodicTrigger({ cron: '0 3 * * *', timezone: 'Europe/Berlin' })],
    })
  ).id;
  const ended = nextEvents(scheduler, 'execution:finished', 4);
  await scheduler.start();
  await scheduler.runNow(ids.xss);
  await scheduler.runNow(ids.xss);
  await scheduler.runNow(ids.flaky);
  await ended;
  dashboard = await createDashboard({ database: db, token: TOKEN, allowActions: true });
  server = createServer(dashboard);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  if (executablePath === null) return;
  release();
  await browser?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await dashboard?.close();
  await scheduler?.close();
  expect(problems).toEqual([]);
});

/** A page that has the token's cookie, failing the test on a script error, a dialog or a CSP refusal. */
async function openPage(path: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  await page.goto(`${url}${path}${path.includes('?') ? '&' : '?'}token=${TOKEN}`);
  return page;
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (!process.env.BT_SCREENSHOTS) return;
  const folder = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));
  mkdirSync(folder, { recursive: true });
  await page.screenshot({ path: `${folder}${name}.png`, fullPage: false });
}

test.skipIf(executablePath === null)('the overview renders its figures and a chart drawn by uPlot', async () => {
  const page = await openPage('/');
  await page.waitForSelector('figure[data-chart="per-minute"] .uplot canvas');
  expect(await page.textContent('main')).toContain('schedulers alive');
  expect(await page.textContent('main')).toContain('HTTP # from #');
  await screenshot(page, 'overview');
  // Firing an event from the page gives its listener a run with the payload.
  const ran = nextEvent(scheduler, 'execution:started', (e) => e.taskId === ids.flaky);
  await page.fill('form.fire input[name="event"]', 'metrics-ready');
  await page.fill('form.fire input[name="payload"]', '{"batch":7}');
  await page.click('form.fire button');
  expect((await ran).taskId).toBe(ids.flaky);
  const [fired] = await scheduler.executions({ taskId: ids.flaky, limit: 1 });
  expect(fired!.event).toEqual({ name: 'metrics-ready', payload: { batch: 7 } });
  await page.context().close();
});

test.skipIf(executablePath === null)(
  'a task named like an XSS payload is shown as text, and runs nothing',
  async () => {
    const page = await openPage('/tasks');
    const cell = page.locator('td a', { hasText: XSS });
    await expect(cell.textContent()).resolves.toBe(XSS);
    expect(await page.locator('main img').count()).toBe(0);
    await page.fill('input[name="q"]', 'compact');
    await page.click('form.filters button');
    await page.waitForURL(/q=compact/);
    expect(await page.locator('tbody tr').count()).toBe(1);
    expect(await page.textContent('tbody')).toContain('cron 0 3 * * * Europe/Berlin');
    await page.context().close();
  },
);

test.skipIf(executablePath === null)('executions filter by status and task; failures are grouped', async () => {
  const page = await openPage('/executions');
  await page.selectOption('select[name="status"]', 'failed');
  await page.click('form.filters button');
  await page.waitForURL(/status=failed/);
  const statuses = await page.locator('tbody .status').allTextContents();
  expect(statuses.length).toBeGreaterThanOrEqual(2);
  expect(new Set(statuses)).toEqual(new Set(['failed']));
  await page.goto(`${url}/failures`);
  expect(await page.textContent('table.failures')).toMatch(/upload-metrics \(\d+\)/);
  await screenshot(page, 'failures');
  await page.goto(`${url}/tasks/${ids.flaky}`);
  await page.waitForSelector('figure[data-chart="durations"] .uplot canvas');
  await screenshot(page, 'task');
  await page.context().close();
});

test.skipIf(executablePath === null)('pause from the page: the database changes and the page says so', async () => {
  const page = await openPage(`/tasks/${ids.nightly}`);
  await page.click('button[value="pause"]');
  await page.waitForURL(new RegExp(`/tasks/${ids.nightly}$`));
  expect(await page.textContent('dl.definition')).toContain('paused');
  expect((await scheduler.getTask(ids.nightly))!.paused).toBe(true);
  await page.click('button[value="resume"]');
  await page.waitForURL(new RegExp(`/tasks/${ids.nightly}$`));
  expect((await scheduler.getTask(ids.nightly))!.paused).toBe(false);
  await page.context().close();
});

test.skipIf(executablePath === null)('the live view follows a run to its end without a reload', async () => {
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.runNow(ids.slow);
  await started;
  const page = await openPage(`/tasks/${ids.slow}`);
  await page.waitForSelector('table.executions .status.running');
  const before = await page.evaluate(() => performance.timeOrigin);
  const ended = nextEvent(scheduler, 'execution:succeeded');
  release();
  await ended;
  await page.waitForSelector('table.executions .status.succeeded', { timeout: 10_000 });
  // The same document: refreshed in place, not reloaded.
  expect(await page.evaluate(() => performance.timeOrigin)).toBe(before);
  expect(await page.getAttribute('body', 'data-refreshed')).not.toBeNull();
  await page.context().close();
});
