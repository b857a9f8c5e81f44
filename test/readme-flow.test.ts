import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { EventTrigger, PeriodicTrigger, Scheduler } from '../src/index.js';
import { FakeClock, settle } from '../src/testing.js';
import { mostAtOnce, mostInWindow } from './helpers/limits.js';
import { silentLogger } from './helpers/setup.js';

// The README's flow-control examples run as shown (they are JavaScript as well as
// TypeScript), and do what the README says they do.

const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
  ...args: string[]
) => (...values: unknown[]) => Promise<void>;

function runBlock(marker: string, scheduler: Scheduler): Promise<void> {
  const block = blocks.find((b) => b.includes(marker));
  expect(block).toBeDefined();
  return new AsyncFunction('scheduler', 'PeriodicTrigger', 'EventTrigger', block!)(
    scheduler,
    PeriodicTrigger,
    EventTrigger,
  );
}

test("the README's groups and rate limits: one upload on the modem at a time, ten API calls a minute", async () => {
  const clock = new FakeClock();
  const scheduler = new Scheduler({ database: ':memory:', clock, logger: silentLogger, maxRunningTasks: 8 });
  try {
    await runBlock("defineGroup('modem'", scheduler);
    const tasks = await scheduler.listTasks();
    expect(tasks.map((t) => [t.key, t.groups, t.rateLimit])).toEqual([
      ['upload-logs', ['modem'], null],
      ['upload-inventory', ['modem', 'vendor-api'], null],
      ['poll-status', ['vendor-api'], { max: 1, per: 5_000 }],
    ]);
    const slow = () => new Promise<void>((resolve) => clock.setTimeout(() => resolve(), 30_000));
    scheduler.register('upload-logs', slow);
    scheduler.register('upload-inventory', slow);
    scheduler.register('poll-status', () => null);
    await scheduler.start();
    for (let i = 0; i < 20; i++) {
      await scheduler.fireEvent('inventory-changed');
      await scheduler.fireEvent('status-asked');
    }
    for (let i = 0; i < 700; i++) {
      await clock.advance(1000);
      await settle();
    }
    const rows = await scheduler.executions({ limit: 1000 });
    const of = (...names: string[]) => rows.filter((r) => names.includes(r.taskName));
    expect(mostAtOnce(of('upload-logs', 'upload-inventory'))).toBe(1);
    expect(mostInWindow(of('upload-inventory', 'poll-status'), 60_000)).toBe(10);
    expect(mostInWindow(of('poll-status'), 5_000)).toBe(1);
    expect(of('upload-logs').length).toBeGreaterThan(0);
  } finally {
    await scheduler.close({ timeout: 0 });
  }
});

test("the README's event keys and debounce: a repeated key makes no runs, a burst makes one", async () => {
  const clock = new FakeClock();
  const scheduler = new Scheduler({ database: ':memory:', clock, logger: silentLogger });
  try {
    await scheduler.addTask({ name: 'install', triggers: [new EventTrigger({ event: 'firmware-offered' })] });
    await runBlock("{ key: 'offer-7731' }", scheduler);
    const ran: unknown[] = [];
    scheduler.register('install', () => null);
    scheduler.register('resync-config', (_args, ctx) => {
      ran.push(ctx.event?.payload);
    });
    await scheduler.start();
    for (let i = 0; i < 5; i++) {
      await scheduler.fireEvent('config-changed', i);
      await clock.advance(500);
    }
    await clock.advance(2_000);
    await settle();
    expect(ran).toEqual([4]);
    expect((await scheduler.executions()).filter((e) => e.taskName === 'install')).toHaveLength(1);
  } finally {
    await scheduler.close({ timeout: 0 });
  }
});
