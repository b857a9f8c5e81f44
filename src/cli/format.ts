import { describeUnmet, type HeldRuns } from '../conditions.js';
import type { GroupInfo } from '../flow.js';
import type { HeldByLimit } from '../runtime/limit-state.js';
import type { TriggerInfo } from '../task.js';
import type { DatabaseInfo } from '../store/store.js';

/** Columns aligned for people; `null` and `undefined` print as "-". */
export function table(rows: readonly object[], columns: string[]): string {
  const cell = (row: object, column: string) => {
    const value: unknown = (row as Record<string, unknown>)[column];
    return value === null || value === undefined || value === '' ? '-' : String(value);
  };
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => cell(row, column).length)));
  const line = (values: string[]) =>
    values
      .map((value, i) => value.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), ...rows.map((row) => line(columns.map((column) => cell(row, column))))].join('\n');
}

const UNITS: [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
];

/** "30d", "12h", "15m", "10s", "250ms" → milliseconds; null if it is not one. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * UNITS.find(([unit]) => unit === match[2])![1];
}

export function formatDuration(ms: number | null): string | null {
  if (ms === null) return null;
  for (const [unit, size] of UNITS) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

export function formatTime(time: number | null): string | null {
  return time === null ? null : new Date(time).toISOString().replace('.000Z', 'Z');
}

/** A trigger in words: "every 5m", "cron 0 3 * * * Europe/Berlin", "on disk-full", "once at …". */
export function describeTrigger(trigger: TriggerInfo): string {
  switch (trigger.kind) {
    case 'interval':
      return `every ${formatDuration(trigger.interval)}${trigger.jitter ? ` ±${formatDuration(trigger.jitter)}` : ''}`;
    case 'cron':
      return `cron ${trigger.cron}${trigger.timezone === 'UTC' ? '' : ` ${trigger.timezone}`}`;
    case 'event':
      return `on ${trigger.event}${trigger.debounce === null ? '' : ` (debounced ${formatDuration(trigger.debounce)})`}`;
    case 'once':
      return trigger.nextFireAt === null ? 'once (fired)' : `once at ${formatTime(trigger.nextFireAt)}`;
  }
}

/** Held runs in words: "3 run(s) wanting {"maxLoad":0.5}: host:42 load 1.2 per core is above maxLoad 0.5". */
export function describeHeld({ conditions, runs, unmet }: HeldRuns): string {
  const where =
    unmet.length === 0
      ? 'no live scheduler reported its device'
      : unmet.map((u) => `${u.scheduler} ${u.unmet.map(describeUnmet).join(', ')}`).join('; ');
  return `${runs} run(s) wanting ${JSON.stringify(conditions)}: ${where}`;
}

/** Runs held by a group or rate limit, in words. */
export function describeHeldByLimit({ reason, group, runs, until }: HeldByLimit): string {
  const by =
    reason === 'group-undefined'
      ? `group "${group}", which is not defined`
      : reason === 'group-full'
        ? `group "${group}", full`
        : group === null
          ? "their tasks' own rate limits"
          : `the rate limit of group "${group}"`;
  return `${runs} run(s) held by ${by}${until === null ? '' : ` (next start allowed at ${formatTime(until)})`}`;
}

/** A group in words: "modem: 2 of 3 running, 10 starts per 1m". */
export function describeGroup(group: GroupInfo): string {
  const running =
    group.maxRunning === null ? `${group.running} running` : `${group.running} of ${group.maxRunning} running`;
  const rate =
    group.rateLimit === null ? '' : `, ${group.rateLimit.max} start(s) per ${formatDuration(group.rateLimit.per)}`;
  return `${group.name}: ${running}${rate}`;
}

export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** The size line of `doctor`: the file, with SQLite's free pages and WAL, or PostgreSQL's tables. */
export function describeSize(info: DatabaseInfo): string {
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  const { walBytes, freePages, autoVacuum } = info.details;
  if (walBytes === undefined || freePages === undefined) return kib(info.sizeBytes);
  const noVacuum =
    autoVacuum === 0
      ? '; auto_vacuum is off, so pruning cannot give space back (PRAGMA auto_vacuum = INCREMENTAL, then VACUUM)'
      : '';
  return `${kib(info.sizeBytes)} (${freePages} free pages), WAL ${kib(walBytes)}${noVacuum}`;
}
