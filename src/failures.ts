import type { Execution } from './execution.js';

// Failures grouped by what went wrong (the CLI's `failures`, and the dashboard's
// page of them): "what failed overnight, and is it still failing?". Pure.

/** Failed attempts that share a message once the parts that vary (numbers, ids) are set aside. */
export interface FailureGroup {
  /** The message with numbers, hex ids and UUIDs replaced by `#`, `<hex>`, `<uuid>`. */
  error: string;
  /** Failed attempts, and how many of them failed their run for good (no retry left). */
  attempts: number;
  final: number;
  /** The tasks it happened to, by name, most failures first. */
  tasks: { name: string; attempts: number }[];
  firstAt: number;
  lastAt: number;
  /** The newest such attempt: its id (for `retry`), and its message as recorded. */
  latest: { executionId: number; taskId: number; error: string };
}

const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;
const HEX = /\b(?:0x)?[0-9a-f]*\d[0-9a-f]*[a-f][0-9a-f]*\b|\b(?:0x)?[0-9a-f]*[a-f][0-9a-f]*\d[0-9a-f]*\b/gi;
const NUMBER = /\d+(?:\.\d+)*/g;
const MAX_KEY_LENGTH = 500;

/** What failures are grouped by: the message without what varies from one to the next. */
export function normalizeError(error: string | null): string {
  if (error === null || error === '') return '(no message)';
  const text = error
    .replace(UUID, '<uuid>')
    .replace(HEX, (match) => (match.replace(/^0x/i, '').length >= 8 ? '<hex>' : match))
    .replace(NUMBER, '#')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > MAX_KEY_LENGTH ? `${text.slice(0, MAX_KEY_LENGTH)}…` : text;
}

/** Failed attempts (newest first, as `executions` gives them) grouped by message, most attempts first. */
export function groupFailures(failed: readonly Execution[]): FailureGroup[] {
  const groups = new Map<string, FailureGroup & { byTask: Map<string, number> }>();
  for (const execution of failed) {
    if (execution.status !== 'failed') continue;
    const key = normalizeError(execution.error);
    let group = groups.get(key);
    if (group === undefined) {
      group = {
        error: key,
        attempts: 0,
        final: 0,
        tasks: [],
        firstAt: execution.startedAt,
        lastAt: execution.startedAt,
        latest: { executionId: execution.id, taskId: execution.taskId, error: execution.error ?? '' },
        byTask: new Map(),
      };
      groups.set(key, group);
    }
    group.attempts++;
    if (execution.final) group.final++;
    group.byTask.set(execution.taskName, (group.byTask.get(execution.taskName) ?? 0) + 1);
    group.firstAt = Math.min(group.firstAt, execution.startedAt);
    if (
      execution.startedAt > group.lastAt ||
      (execution.startedAt === group.lastAt && execution.id > group.latest.executionId)
    ) {
      group.lastAt = execution.startedAt;
      group.latest = { executionId: execution.id, taskId: execution.taskId, error: execution.error ?? '' };
    }
  }
  return [...groups.values()]
    .map(({ byTask, ...group }) => ({
      ...group,
      tasks: [...byTask]
        .map(([name, attempts]) => ({ name, attempts }))
        .sort((a, b) => b.attempts - a.attempts || a.name.localeCompare(b.name)),
    }))
    .sort((a, b) => b.attempts - a.attempts || b.lastAt - a.lastAt);
}
