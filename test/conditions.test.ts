import { expect, test } from 'vitest';
import { describeUnmet, heldRuns, unmetConditions, validateConditions, type DeviceState } from '../src/conditions.js';

// The pure rule of device conditions: what holds on a node's reading.

const node = (readings: Partial<DeviceState['readings']> = {}, named: Record<string, boolean> = {}): DeviceState => ({
  readings: {
    loadPerCore: 0.5,
    freeMemoryMb: 512,
    freeDiskMb: 100,
    onAcPower: true,
    networkUp: true,
    ...readings,
  },
  named,
});

test.each([
  ['load at the limit holds', { maxLoad: 0.5 }, node(), []],
  ['load above it does not', { maxLoad: 0.49 }, node(), ['maxLoad']],
  ['free memory at the minimum holds', { minFreeMemoryMb: 512 }, node(), []],
  ['free memory below it does not', { minFreeMemoryMb: 513 }, node(), ['minFreeMemoryMb']],
  ['free disk below the minimum does not', { minFreeDiskMb: 101 }, node(), ['minFreeDiskMb']],
  ['on battery does not', { onAcPower: true }, node({ onAcPower: false }), ['onAcPower']],
  ['no network does not', { network: 'up' }, node({ networkUp: false }), ['network']],
  ['an unreadable reading holds', { maxLoad: 0, onAcPower: true }, node({ loadPerCore: null, onAcPower: null }), []],
  ['a named condition must be true', { require: ['vpn', 'ntp'] }, node({}, { vpn: true, ntp: false }), ['require:ntp']],
  ['a name not defined here does not hold', { require: ['vpn'] }, node(), ['require:vpn']],
  [
    'every unmet one is listed, in a fixed order',
    { maxLoad: 0.1, network: 'up', require: ['a'] },
    node({ networkUp: false }),
    ['maxLoad', 'network', 'require:a'],
  ],
] as const)('%s', (_, conditions, device, unmet) => {
  expect(unmetConditions(validateConditions(conditions)!, device).map((u) => u.condition)).toEqual(unmet);
});

test('equal conditions are stored as equal text, whatever order they came in', () => {
  const a = validateConditions({ require: ['b', 'a', 'b'], network: 'up', maxLoad: 1 });
  const b = validateConditions({ maxLoad: 1, network: 'up', require: ['a', 'b'] });
  expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  expect(validateConditions({})).toBeNull();
  expect(validateConditions({ onAcPower: false, require: [] })).toBeNull();
});

test('unmet conditions in words name the reading', () => {
  const [load, name] = unmetConditions({ maxLoad: 0.5, require: ['vpn'] }, node({ loadPerCore: 1.234 }));
  expect(describeUnmet(load!)).toBe('load 1.23 per core is above maxLoad 0.5');
  expect(describeUnmet(name!)).toBe('condition "vpn" is not defined here');
});

test('doctor: runs are held when no live device meets them, and names nobody defines are listed', () => {
  const groups = [
    { conditionsJson: JSON.stringify({ maxLoad: 1 }), runs: 3 },
    { conditionsJson: JSON.stringify({ require: ['vpn'] }), runs: 2 },
    { conditionsJson: JSON.stringify({ network: 'up' }), runs: 1 },
  ];
  const devices = [
    { scheduler: 'a:1', device: node({ loadPerCore: 2 }) },
    { scheduler: 'b:2', device: node({ loadPerCore: 3, networkUp: false }) },
  ];
  const { held, undefinedNames } = heldRuns(groups, devices);
  expect(held.map((h) => [h.conditions, h.runs])).toEqual([
    [{ maxLoad: 1 }, 3],
    [{ require: ['vpn'] }, 2],
  ]);
  expect(undefinedNames).toEqual(['vpn']);
  expect(heldRuns(groups, []).held).toHaveLength(3);
});
