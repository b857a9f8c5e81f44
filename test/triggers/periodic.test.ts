import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PeriodicTrigger, ValidationError } from '../../src/index.js';
import { nextCronTime } from '../../src/triggers/cron.js';
import { initialState, planFires, type TriggerState } from '../../src/triggers/schedule.js';

const T0 = Date.UTC(2026, 0, 1);
const noJitter = () => 0;

describe('interval', () => {
  test('first fires one interval after it is anchored, then every interval', () => {
    const trigger = new PeriodicTrigger({ interval: 1000 });
    expect(trigger.isReady(T0)).toBe(false);
    expect(trigger.isReady(T0 + 999)).toBe(false);
    expect(trigger.isReady(T0 + 1000)).toBe(true);
    trigger.reset(T0 + 1000);
    expect(trigger.isReady(T0 + 1500)).toBe(false);
    expect(trigger.isReady(T0 + 2000)).toBe(true);
  });

  test('slots stay anchored when a fire is handled late (no drift)', () => {
    const trigger = new PeriodicTrigger({ interval: 1000 });
    trigger.reset(T0);
    trigger.reset(T0 + 1700); // handled 700 ms late
    expect(trigger.next(T0 + 1700)).toBe(T0 + 2000);
  });

  test.each([0, -5, 1.5, Number.NaN, '10' as unknown as number])('refuses interval %s', (interval) => {
    const attempt = () => new PeriodicTrigger({ interval });
    expect(attempt).toThrow(ValidationError);
    try {
      attempt();
    } catch (err) {
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'trigger.interval' });
    }
  });

  test('needs exactly one of interval and cron', () => {
    expect(() => new PeriodicTrigger({} as never)).toThrow(/exactly one/);
    expect(() => new PeriodicTrigger({ interval: 5, cron: '* * * * *' } as never)).toThrow(/exactly one/);
  });
});

describe('cron', () => {
  test('is ready only at cron times, not on every tick', () => {
    const trigger = new PeriodicTrigger({ cron: '0 3 * * *' });
    expect(trigger.isReady(T0)).toBe(false);
    expect(trigger.isReady(T0 + 60_000)).toBe(false);
    expect(trigger.isReady(T0 + 3 * 3600_000 - 1)).toBe(false);
    expect(trigger.isReady(T0 + 3 * 3600_000)).toBe(true);
    trigger.reset(T0 + 3 * 3600_000);
    expect(trigger.isReady(T0 + 3 * 3600_000 + 1)).toBe(false);
    expect(trigger.next(T0 + 3 * 3600_000)).toBe(T0 + 27 * 3600_000);
  });

  test('six fields count seconds', () => {
    const trigger = new PeriodicTrigger({ cron: '*/10 * * * * *' });
    expect(trigger.next(T0)).toBe(T0 + 10_000);
    expect(trigger.next(T0 + 10_000)).toBe(T0 + 20_000);
  });

  test('next is strictly after, even from inside a second', () => {
    expect(nextCronTime('* * * * * *', 'UTC', T0 + 500)).toBe(T0 + 1000);
    expect(nextCronTime('* * * * * *', 'UTC', T0)).toBe(T0 + 1000);
  });

  test('is evaluated in its time zone, once a day across daylight-saving changes', () => {
    const trigger = new PeriodicTrigger({ cron: '30 2 * * *', timezone: 'America/New_York' });
    // 2026-03-08: 02:30 does not exist in New York, and runs at the jump (03:00 EDT);
    // 2026-11-01: it happens twice, and runs at the first.
    const spring = Date.UTC(2026, 2, 7, 12);
    const fires = [trigger.next(spring)!];
    for (let i = 0; i < 2; i++) fires.push(trigger.next(fires[fires.length - 1]!)!);
    expect(fires.map((t) => new Date(t).toISOString())).toEqual([
      '2026-03-08T07:00:00.000Z',
      '2026-03-09T06:30:00.000Z',
      '2026-03-10T06:30:00.000Z',
    ]);
    const fall = Date.UTC(2026, 9, 31, 12);
    const first = trigger.next(fall)!;
    expect(new Date(first).toISOString()).toBe('2026-11-01T07:30:00.000Z');
    expect(new Date(trigger.next(first)!).toISOString()).toBe('2026-11-02T07:30:00.000Z');
  });

  test.each([
    ['not a cron', 'trigger.cron'],
    ['61 * * * *', 'trigger.cron'],
    ['* * *', 'trigger.cron'],
    ['', 'trigger.cron'],
    ['0 0 30 2 *', 'trigger.cron'], // February 30th never comes
  ])('refuses %j with a typed error', (cron, field) => {
    expect(() => new PeriodicTrigger({ cron })).toThrow(ValidationError);
    try {
      new PeriodicTrigger({ cron });
    } catch (err) {
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', field });
    }
  });

  test('refuses an unknown time zone', () => {
    expect(() => new PeriodicTrigger({ cron: '* * * * *', timezone: 'Mars/Olympus' })).toThrow(
      expect.objectContaining({ field: 'trigger.timezone' }),
    );
  });

  test('accepts 29 February, which comes every four years', () => {
    const trigger = new PeriodicTrigger({ cron: '0 0 29 2 *' });
    expect(new Date(trigger.next(T0)!).toISOString()).toBe('2028-02-29T00:00:00.000Z');
  });
});

describe('planning fires', () => {
  const due = (state: TriggerState, now: number) => planFires(state, now, noJitter);

  test('jitter stays within its bound and is drawn per cycle', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 0, max: 0.9999999, noNaN: true }),
        (interval, jitter, r) => {
          const spec = new PeriodicTrigger({ interval, jitter }).spec;
          const state = initialState(spec, T0, () => r);
          expect(state.nextFireAt! - state.nextSlotAt!).toBeGreaterThanOrEqual(0);
          expect(state.nextFireAt! - state.nextSlotAt!).toBeLessThanOrEqual(jitter);
          const plan = planFires(state, state.nextFireAt!, () => r);
          const firedAt = state.nextFireAt!;
          expect(plan.nextSlotAt).toBe(T0 + (Math.floor((firedAt - T0) / interval) + 1) * interval);
          expect(plan.nextFireAt! - plan.nextSlotAt!).toBeLessThanOrEqual(jitter);
        },
      ),
    );
  });

  test('interval slots are anchor + k·interval however late the wake', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 0, max: 10_000_000 }), (interval, late) => {
        const spec = new PeriodicTrigger({ interval }).spec;
        const state = initialState(spec, T0, noJitter);
        const plan = due(state, state.nextFireAt! + late);
        expect((plan.nextSlotAt! - T0) % interval).toBe(0);
        expect(plan.nextSlotAt!).toBeGreaterThan(state.nextFireAt! + late);
        expect(plan.nextSlotAt! - interval).toBeLessThanOrEqual(state.nextFireAt! + late);
        expect(plan.fires.length + plan.missed).toBe(Math.floor(late / interval) + 1);
      }),
    );
  });

  test('misfire once: one run for many missed slots', () => {
    const state = initialState(new PeriodicTrigger({ interval: 1000 }).spec, T0, noJitter);
    const plan = due(state, T0 + 10_500);
    expect(plan).toMatchObject({ fires: [T0 + 1000], missed: 9, nextSlotAt: T0 + 11_000 });
  });

  test('misfire skip: nothing for slots found late, the on-time slot still runs', () => {
    const state = initialState(new PeriodicTrigger({ interval: 60_000, misfire: 'skip' }).spec, T0, noJitter);
    expect(due(state, T0 + 60_000 * 5 + 30_000)).toMatchObject({ fires: [], missed: 5 });
    expect(due(state, T0 + 60_000 * 5 + 10)).toMatchObject({ fires: [T0 + 300_000], missed: 4 });
    expect(due(state, T0 + 60_000)).toMatchObject({ fires: [T0 + 60_000], missed: 0 });
  });

  test('misfire all: replays missed slots up to maxCatchUp', () => {
    const state = initialState(
      new PeriodicTrigger({ interval: 1000, misfire: 'all', maxCatchUp: 3 }).spec,
      T0,
      noJitter,
    );
    expect(due(state, T0 + 2500)).toMatchObject({ fires: [T0 + 1000, T0 + 2000], missed: 0 });
    expect(due(state, T0 + 10_500)).toMatchObject({ fires: [T0 + 1000, T0 + 2000, T0 + 3000], missed: 7 });
  });

  test('cron slots after a long outage land on the next cron time', () => {
    const state = initialState(new PeriodicTrigger({ cron: '0 * * * *' }).spec, T0, noJitter);
    const plan = due(state, T0 + 1000 * 3600_000 + 5);
    expect(plan.fires).toEqual([T0 + 3600_000]);
    expect(plan.missed).toBe(999);
    expect(plan.nextSlotAt).toBe(T0 + 1001 * 3600_000);
  });
});
