import { ValidationError } from './errors.js';
import { describe, nonEmptyString } from './validate.js';

/**
 * What a task's runs wait for on the node that would run them (SPEC rule 21).
 * Every field is optional; a run starts only where all that are set hold.
 */
export interface Conditions {
  /** The 1-minute load average per core, at most. */
  maxLoad?: number;
  /** Free memory, at least (MB). */
  minFreeMemoryMb?: number;
  /** Free space on the database's volume, at least (MB). */
  minFreeDiskMb?: number;
  /** On mains power (not on battery). */
  onAcPower?: boolean;
  /** A network interface other than loopback is up. */
  network?: 'up';
  /** Names of conditions registered with `scheduler.defineCondition`, all true. */
  require?: string[];
}

/** What a node reads of itself; null where the platform cannot say (the condition then holds). */
export interface DeviceReadings {
  loadPerCore: number | null;
  freeMemoryMb: number | null;
  freeDiskMb: number | null;
  onAcPower: boolean | null;
  networkUp: boolean | null;
}

/** A node's readings and the answers of the conditions it defined, by name. */
export interface DeviceState {
  readings: DeviceReadings;
  named: Readonly<Record<string, boolean>>;
}

/** A reading as a scheduler records it in `schedulers.device`: with the time it was taken. */
export interface DeviceSnapshot extends DeviceState {
  sampledAt: number;
}

/** A live scheduler's latest device reading, as explain and doctor weigh it. */
export interface SchedulerDevice {
  /** host:pid */
  scheduler: string;
  device: DeviceState;
}

/** Ready runs that no live scheduler may start for their conditions, as `doctor` reports them. */
export interface HeldRuns {
  conditions: Conditions;
  runs: number;
  /** Per live scheduler that reported its device: what it does not meet. */
  unmet: { scheduler: string; unmet: UnmetCondition[] }[];
}

/**
 * Of ready runs counted by their conditions, those held on every device (all of
 * them when no scheduler reported one), and the named conditions they require
 * that no scheduler defines. Pure.
 */
export function heldRuns(
  groups: { conditionsJson: string; runs: number }[],
  devices: SchedulerDevice[],
): { held: HeldRuns[]; undefinedNames: string[] } {
  const held: HeldRuns[] = [];
  const undefinedNames = new Set<string>();
  for (const { conditionsJson, runs } of groups) {
    const conditions = parseStoredConditions(conditionsJson);
    const unmet = devices.map(({ scheduler, device }) => ({ scheduler, unmet: unmetConditions(conditions, device) }));
    if (unmet.some((u) => u.unmet.length === 0)) continue;
    held.push({ conditions, runs, unmet });
    for (const name of conditions.require ?? []) {
      if (!devices.some(({ device }) => name in device.named)) undefinedNames.add(name);
    }
  }
  return { held, undefinedNames: [...undefinedNames].sort() };
}

/** A condition that does not hold: which, what it wants, and what the node reads. */
export interface UnmetCondition {
  condition: keyof Conditions | `require:${string}`;
  wanted: number | boolean | string;
  reading: number | boolean | string | null;
}

export const MAX_REQUIRED_CONDITIONS = 16;
export const MAX_CONDITION_NAME_LENGTH = 100;
const FIELDS: ReadonlySet<string> = new Set<keyof Conditions>([
  'maxLoad',
  'minFreeMemoryMb',
  'minFreeDiskMb',
  'onAcPower',
  'network',
  'require',
]);

function nonNegative(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ValidationError(field, `must be a number of at least 0, got ${describe(value)}`);
  }
  return value;
}

/** Checks a definition's `conditions`; returns them with a stable field order, `require` sorted (or null for none). */
export function validateConditions(value: unknown, field = 'conditions'): Conditions | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(field, `must be an object, got ${describe(value)}`);
  }
  const input = value as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!FIELDS.has(key))
      throw new ValidationError(`${field}.${key}`, `is not a condition (${[...FIELDS].join(', ')})`);
  }
  const out: Conditions = {};
  if (input.maxLoad !== undefined) out.maxLoad = nonNegative(input.maxLoad, `${field}.maxLoad`);
  if (input.minFreeMemoryMb !== undefined)
    out.minFreeMemoryMb = nonNegative(input.minFreeMemoryMb, `${field}.minFreeMemoryMb`);
  if (input.minFreeDiskMb !== undefined) out.minFreeDiskMb = nonNegative(input.minFreeDiskMb, `${field}.minFreeDiskMb`);
  if (input.onAcPower !== undefined) {
    if (typeof input.onAcPower !== 'boolean')
      throw new ValidationError(`${field}.onAcPower`, `must be true or false, got ${describe(input.onAcPower)}`);
    if (input.onAcPower) out.onAcPower = true; // false asks for nothing
  }
  if (input.network !== undefined) {
    if (input.network !== 'up')
      throw new ValidationError(`${field}.network`, `must be 'up', got ${describe(input.network)}`);
    out.network = 'up';
  }
  if (input.require !== undefined) {
    if (!Array.isArray(input.require))
      throw new ValidationError(
        `${field}.require`,
        `must be an array of condition names, got ${describe(input.require)}`,
      );
    if (input.require.length > MAX_REQUIRED_CONDITIONS) {
      throw new ValidationError(
        `${field}.require`,
        `must name at most ${MAX_REQUIRED_CONDITIONS} conditions, got ${input.require.length}`,
      );
    }
    const names = input.require.map((name, i) => conditionName(name, `${field}.require[${i}]`));
    if (names.length > 0) out.require = [...new Set(names)].sort();
  }
  return Object.keys(out).length === 0 ? null : out;
}

/** The name a stored set that cannot be read is held by: no node defines it, so its runs wait and say why. */
export const UNREADABLE_CONDITIONS = 'unreadable tasks.conditions';

/**
 * Conditions as stored (`tasks.conditions`). Text that is not a valid set (a hand
 * edit in SQL) holds its runs everywhere rather than failing every wake.
 */
export function parseStoredConditions(json: string): Conditions {
  try {
    return validateConditions(JSON.parse(json)) ?? {};
  } catch {
    return { require: [UNREADABLE_CONDITIONS] };
  }
}

export function conditionName(value: unknown, field: string): string {
  return nonEmptyString(value, field, MAX_CONDITION_NAME_LENGTH);
}

/**
 * The conditions that do not hold on a node, in a fixed order; empty when the run
 * may start there. Pure. A reading the node cannot take holds; a named condition
 * the node has not defined does not (another node may define it).
 */
export function unmetConditions(conditions: Conditions, { readings, named }: DeviceState): UnmetCondition[] {
  const unmet: UnmetCondition[] = [];
  const { loadPerCore, freeMemoryMb, freeDiskMb, onAcPower, networkUp } = readings;
  if (conditions.maxLoad !== undefined && loadPerCore !== null && loadPerCore > conditions.maxLoad)
    unmet.push({ condition: 'maxLoad', wanted: conditions.maxLoad, reading: loadPerCore });
  if (conditions.minFreeMemoryMb !== undefined && freeMemoryMb !== null && freeMemoryMb < conditions.minFreeMemoryMb)
    unmet.push({ condition: 'minFreeMemoryMb', wanted: conditions.minFreeMemoryMb, reading: freeMemoryMb });
  if (conditions.minFreeDiskMb !== undefined && freeDiskMb !== null && freeDiskMb < conditions.minFreeDiskMb)
    unmet.push({ condition: 'minFreeDiskMb', wanted: conditions.minFreeDiskMb, reading: freeDiskMb });
  if (conditions.onAcPower === true && onAcPower === false)
    unmet.push({ condition: 'onAcPower', wanted: true, reading: false });
  if (conditions.network === 'up' && networkUp === false)
    unmet.push({ condition: 'network', wanted: 'up', reading: 'down' });
  for (const name of conditions.require ?? []) {
    if (named[name] !== true) unmet.push({ condition: `require:${name}`, wanted: true, reading: named[name] ?? null });
  }
  return unmet;
}

/** One unmet condition in words, for logs, `explain` and the CLI. */
export function describeUnmet({ condition, wanted, reading }: UnmetCondition): string {
  if (condition.startsWith('require:')) {
    const name = condition.slice('require:'.length);
    return reading === null ? `condition "${name}" is not defined here` : `condition "${name}" is false`;
  }
  const shown = typeof reading === 'number' ? round(reading) : String(reading);
  switch (condition) {
    case 'maxLoad':
      return `load ${shown} per core is above maxLoad ${String(wanted)}`;
    case 'minFreeMemoryMb':
      return `free memory ${shown} MB is below minFreeMemoryMb ${String(wanted)}`;
    case 'minFreeDiskMb':
      return `free disk ${shown} MB is below minFreeDiskMb ${String(wanted)}`;
    case 'onAcPower':
      return 'on battery, and onAcPower is asked';
    default:
      return 'no network is up, and network: up is asked';
  }
}

function round(value: number): string {
  return String(Math.round(value * 100) / 100);
}
