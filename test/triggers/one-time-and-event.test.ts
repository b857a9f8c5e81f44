import { describe, expect, test } from 'vitest';
import { EventTrigger, OneTimeTrigger, ValidationError } from '../../src/index.js';

const T0 = Date.UTC(2026, 0, 1);

describe('OneTimeTrigger', () => {
  test('fires once, delay after it is first asked', () => {
    const trigger = new OneTimeTrigger({ delay: 500 });
    expect(trigger.isReady(T0)).toBe(false);
    expect(trigger.next(T0)).toBe(T0 + 500);
    expect(trigger.isReady(T0 + 500)).toBe(true);
    trigger.reset(T0 + 500);
    expect(trigger.isReady(T0 + 10_000)).toBe(false);
    expect(trigger.next(T0 + 500)).toBeNull();
  });

  test('fires at a fixed time; one in the past is ready at once', () => {
    const at = new Date(T0 + 60_000);
    expect(new OneTimeTrigger({ at }).next(T0)).toBe(T0 + 60_000);
    const past = new OneTimeTrigger({ at: new Date(T0 - 1) });
    expect(past.isReady(T0)).toBe(true);
  });

  test('accepts dates beyond 2038', () => {
    const at = new Date('2100-01-01T00:00:00Z');
    expect(new OneTimeTrigger({ at }).next(T0)).toBe(at.getTime());
  });

  test.each([
    [{ delay: -1 }, 'trigger.delay'],
    [{ delay: 1.5 }, 'trigger.delay'],
    [{ at: new Date('nonsense') }, 'trigger.at'],
    [{}, 'trigger'],
    [{ delay: 1, at: new Date() }, 'trigger'],
  ])('refuses %o', (options, field) => {
    try {
      new OneTimeTrigger(options as never);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', field });
    }
  });
});

describe('EventTrigger', () => {
  test('is never due by time; each fire is consumed once', () => {
    const trigger = new EventTrigger({ event: 'disk-full' });
    expect(trigger.next(T0)).toBeNull();
    expect(trigger.isReady(T0)).toBe(false);
    trigger.fire();
    expect(trigger.isReady(T0)).toBe(true);
    trigger.reset(T0);
    expect(trigger.isReady(T0)).toBe(false);
  });

  test('refuses an empty event name', () => {
    expect(() => new EventTrigger({ event: '' })).toThrow(expect.objectContaining({ field: 'trigger.event' }));
  });
});
