import { expect, test } from 'vitest';
import { OneTimeTrigger, PeriodicTrigger } from '../../src/index.js';
import { FakeClock, nextEvent, settle } from '../../src/testing.js';
import { createHarness } from '../helpers/setup.js';

const HOUR = 3600_000;

async function runFor(hours: number, clock: FakeClock): Promise<void> {
  for (let i = 0; i < hours; i++) await clock.advance(HOUR);
  await settle();
}

test.each([
  [
    'spring forward',
    Date.UTC(2026, 2, 7, 7),
    // 02:30 does not exist on 8 March: it runs at the jump, 03:00 EDT.
    ['2026-03-07T07:30:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z'],
  ],
  [
    'fall back',
    Date.UTC(2026, 9, 31, 6),
    ['2026-10-31T06:30:00.000Z', '2026-11-01T07:30:00.000Z', '2026-11-02T07:30:00.000Z'],
  ],
])(
  'a 02:30 daily job in New York runs once a day across %s',
  async (_, start, expected) => {
    const clock = new FakeClock(start);
    const { scheduler } = createHarness({ clock });
    const ranAt: string[] = [];
    scheduler.register('daily', () => void ranAt.push(new Date(clock.now()).toISOString()));
    await scheduler.addTask({
      name: 'daily',
      triggers: [new PeriodicTrigger({ cron: '30 2 * * *', timezone: 'America/New_York' })],
    });
    await scheduler.start();
    // Each simulated hour is hundreds of wakes and heartbeats: on PostgreSQL, round trips.
    await runFor(50, clock);
    expect(ranAt).toEqual(expected);
  },
  120_000,
);

test('29 February: a leap-day job runs on the next leap day', async () => {
  const clock = new FakeClock(Date.UTC(2028, 1, 28, 20));
  const { scheduler } = createHarness({ clock });
  let ranAt = 0;
  scheduler.register('leap', () => void (ranAt = clock.now()));
  await scheduler.addTask({ name: 'leap', triggers: [new PeriodicTrigger({ cron: '0 12 29 2 *' })] });
  await scheduler.start();
  await runFor(20, clock);
  expect(new Date(ranAt).toISOString()).toBe('2028-02-29T12:00:00.000Z');
}, 120_000);

test('dates beyond 2038 and very large intervals are stored and scheduled exactly', async () => {
  const clock = new FakeClock(Date.UTC(2040, 0, 1));
  const { scheduler } = createHarness({ clock });
  const at = new Date('2099-12-31T23:59:59.999Z');
  const task = await scheduler.addTask({
    name: 'far',
    triggers: [new OneTimeTrigger({ at }), new PeriodicTrigger({ interval: 50 * 365 * 24 * HOUR })],
  });
  const read = await scheduler.getTask(task.id);
  expect(read?.triggers[0]?.nextFireAt).toBe(at.getTime());
  expect(read?.triggers[1]?.nextFireAt).toBe(clock.now() + 50 * 365 * 24 * HOUR);
});

test('a 1 ms interval runs back to back without piling up runs', async () => {
  const { scheduler, clock } = createHarness();
  let runs = 0;
  scheduler.register('fast', () => void runs++);
  const task = await scheduler.addTask({ name: 'fast', triggers: [new PeriodicTrigger({ interval: 1 })] });
  await scheduler.start();
  for (let i = 0; i < 50; i++) await clock.advance(1);
  await settle();
  expect(runs).toBeGreaterThan(10);
  expect(runs).toBeLessThanOrEqual(50);
  const trigger = (await scheduler.getTask(task.id))!.triggers[0]!;
  expect(trigger.fireCount + trigger.coalescedCount + trigger.missedCount).toBeGreaterThanOrEqual(49);
});

test('six-field cron runs every few seconds', async () => {
  const { scheduler, clock } = createHarness();
  let runs = 0;
  scheduler.register('s', () => void runs++);
  await scheduler.addTask({ name: 's', triggers: [new PeriodicTrigger({ cron: '*/5 * * * * *' })] });
  await scheduler.start();
  const fourth = nextEvent(scheduler, 'execution:succeeded', () => runs === 4);
  for (let i = 0; i < 20; i++) await clock.advance(1000);
  await fourth;
  expect(runs).toBe(4);
});
