import fc from 'fast-check';
import { expect, test } from 'vitest';
import { unmetConditions, type Conditions, type DeviceState } from '../../src/conditions.js';
import { OneTimeTrigger } from '../../src/index.js';
import { PgStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { Owner, Store } from '../../src/store/store.js';
import { validateDefinition } from '../../src/task.js';
import { initialState, planFires } from '../../src/triggers/schedule.js';
import { onPostgres, testDatabase } from '../helpers/setup.js';

// The claim on each store, against the rule: of the ready runs, it takes, in
// priority order, the first `limit` whose conditions hold on this node, and passes
// over the others (no head-of-line blocking), whatever mix of conditions and
// readings (unreadable ones included) the tasks and the device have.

const NOW = Date.UTC(2026, 0, 1);
const owner: Owner = { id: 'property', host: 'test-host', pid: 1_000_001 };
const NAMES = ['vpn', 'ntp', 'quiet'];

const conditionsArb: fc.Arbitrary<Conditions> = fc.record(
  {
    maxLoad: fc.constantFrom(0.5, 1, 2),
    minFreeMemoryMb: fc.constantFrom(100, 1000),
    minFreeDiskMb: fc.constantFrom(10, 500),
    onAcPower: fc.constant(true),
    network: fc.constant('up' as const),
    require: fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 2 }),
  },
  { requiredKeys: [] },
);

const deviceArb: fc.Arbitrary<DeviceState> = fc.record({
  readings: fc.record({
    loadPerCore: fc.option(fc.constantFrom(0.2, 0.5, 1, 3), { nil: null }),
    freeMemoryMb: fc.option(fc.constantFrom(50, 100, 2000), { nil: null }),
    freeDiskMb: fc.option(fc.constantFrom(5, 10, 1000), { nil: null }),
    onAcPower: fc.option(fc.boolean(), { nil: null }),
    networkUp: fc.option(fc.boolean(), { nil: null }),
  }),
  named: fc.dictionary(fc.constantFrom(...NAMES), fc.boolean()),
});

const caseArb = fc.record({
  tasks: fc.array(
    fc.record({ priority: fc.integer({ min: -2, max: 2 }), conditions: fc.option(conditionsArb, { nil: undefined }) }),
    { minLength: 1, maxLength: 10 },
  ),
  device: deviceArb,
  limit: fc.integer({ min: 1, max: 12 }),
});

test('the claim takes the first ready runs whose conditions hold here, and passes over the rest', async () => {
  const database = testDatabase();
  const store: Store = onPostgres ? new PgStore(database) : new SqliteStore(database);
  await store.opened();
  let round = 0;
  try {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ tasks, device, limit }) => {
        // A handler of its own per round: runs an earlier round left waiting are not this round's.
        const handler = `work-${round++}`;
        const added = await store.addTasks({
          tasks: tasks.map(({ priority, conditions }, i) => {
            const task = validateDefinition({
              name: `t${i}`,
              handler,
              priority,
              ...(conditions === undefined ? {} : { conditions }),
              triggers: [new OneTimeTrigger({ at: NOW })],
            });
            return { ...task, triggers: task.triggers.map((spec) => initialState(spec, NOW, () => 0)) };
          }),
          now: NOW,
        });
        const allowed = (conditions: Conditions | null) =>
          conditions === null || unmetConditions(conditions, device).length === 0;
        const expected = added
          .map(({ task }) => task)
          .filter((task) => allowed(task.conditions))
          .sort((a, b) => b.priority - a.priority || a.id - b.id)
          .slice(0, limit)
          .map((task) => task.id);
        const { claims } = await store.cycle({
          now: NOW,
          completions: [],
          plan: (state) => planFires(state, NOW, () => 0),
          triggerLimit: 100,
          claim: {
            limit,
            handlers: [handler],
            owner,
            leaseUntil: NOW + 15_000,
            time: () => NOW,
            holds: (json) => allowed(JSON.parse(json) as Conditions),
            // Every other round, the sets known not to hold too (SQLite leaves them out in SQL).
            held: () =>
              round % 2
                ? [
                    ...new Set(
                      added
                        .map(({ task }) => task.conditions)
                        .filter((c) => c !== null && !allowed(c))
                        .map((c) => JSON.stringify(c)),
                    ),
                  ]
                : [],
          },
        });
        expect(claims.map((claim) => claim.task.id).sort((a, b) => a - b)).toEqual(expected.sort((a, b) => a - b));
      }),
      { numRuns: onPostgres ? 40 : 100 },
    );
  } finally {
    await store.close();
  }
});
