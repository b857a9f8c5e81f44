import { earliest } from '../../clock.js';
import {
  Admission,
  groupLimiter,
  parseStoredGroups,
  taskLimiter,
  type Admitted,
  type Group,
  type WindowStarts,
} from '../../flow.js';
import { rateLimitOf } from '../rows.js';
import type { ClaimParams } from '../store.js';
import { query, type Queryable } from './connection.js';

// Concurrency groups and rate limits on PostgreSQL (SPEC rules 16 and 17). Claims of
// limited tasks take one fleet-wide lock (for the transaction), so each reads the
// running counts and recorded starts that every earlier one committed; claims of
// other tasks never take it. Under the lock the ready limited runs are walked in
// claim order, as on SQLite, and the admitted ones are handed to the claim.

/** pg_advisory_xact_lock's two keys: 'bt' and the flow lock. */
const FLOW_LOCK = [0x6274, 16];

const GROUPS = `
  SELECT g.name, g.max_running AS "maxRunning", g.rate_max AS "rateMax", g.rate_per_ms AS "ratePerMs",
         coalesce(r.running, 0)::int AS running, s.count::int AS "startCount", s.oldest AS "oldestStart"
  FROM background_tasks.task_groups g
  LEFT JOIN (
    SELECT jsonb_array_elements_text(t.groups::jsonb) AS name, count(*) AS running
    FROM background_tasks.runs r JOIN background_tasks.tasks t ON t.id = r.task_id
    WHERE r.state = 'running' AND t.groups IS NOT NULL GROUP BY 1
  ) r ON r.name = g.name
  -- One walk of rate_starts_limiter per group for both the count and the oldest start.
  CROSS JOIN LATERAL (
    SELECT count(*) AS count, min(started_at) AS oldest FROM background_tasks.rate_starts
    WHERE limiter = 'group:' || g.name AND started_at > $1 - g.rate_per_ms
  ) s`;

/**
 * Ready runs of limited tasks in claim order, leaving out tasks already looked at
 * and groups known to be full: a backlog behind a full group costs one index walk.
 */
const LIMITED_READY = `
  SELECT r.id AS "runId", r.task_id AS "taskId", t.groups, t.rate_max AS "rateMax", t.rate_per_ms AS "ratePerMs"
  FROM background_tasks.runs r JOIN background_tasks.tasks t ON t.id = r.task_id
  WHERE r.state = 'waiting' AND r.due_at <= $1 AND NOT t.paused AND t.running_run_id IS NULL
    AND (t.module IS NOT NULL OR t.handler = ANY($2::text[]))
    AND (t.conditions IS NULL OR t.conditions = ANY($3::text[]))
    AND (t.groups IS NOT NULL OR t.rate_max IS NOT NULL)
    AND (t.groups IS NULL OR NOT t.groups::jsonb ?| $4::text[])
    AND r.task_id <> ALL($5::bigint[])
  ORDER BY r.priority DESC, r.due_at, r.task_id, r.id
  LIMIT $6`;

const TASK_STARTS = `
  SELECT x.limiter, count(s.started_at)::int AS count, min(s.started_at) AS oldest
  FROM unnest($1::text[], $2::bigint[]) AS x(limiter, since)
  LEFT JOIN background_tasks.rate_starts s ON s.limiter = x.limiter AND s.started_at > x.since
  GROUP BY x.limiter`;

const RECORD_STARTS = `
  INSERT INTO background_tasks.rate_starts (limiter, started_at) SELECT unnest($1::text[]), $2`;

const FORGET_STARTS = `
  DELETE FROM background_tasks.rate_starts s USING unnest($1::text[], $2::bigint[]) AS x(limiter, before)
  WHERE s.limiter = x.limiter AND s.started_at <= x.before`;

/** Pages of ready limited runs read at most, per claim. */
const MAX_PAGES = 8;

interface LimitedRow {
  runId: number;
  taskId: number;
  groups: string | null;
  rateMax: number | null;
  ratePerMs: number | null;
}

/** The limited runs this claim may take, each with the starts to record if it does; and when to look again. */
export interface Admissions {
  allowed: Map<number, Admitted['starts']>;
  retryAt: number | null;
}

/** Waits for the flow lock, held until the transaction ends. */
export async function lockFlow(client: Queryable): Promise<void> {
  await query(client, 'SELECT pg_advisory_xact_lock($1, $2)', FLOW_LOCK, 'bt_flow_lock');
}

/** Under the flow lock: walks the ready limited runs in claim order and admits what fits. */
export async function admitLimited(
  client: Queryable,
  { now, limit, handlers }: Pick<ClaimParams, 'now' | 'limit' | 'handlers'>,
  holding: string[],
): Promise<Admissions> {
  // `'group:' || name` is groupLimiter's name in SQL.
  const groupRows = await query<{
    name: string;
    maxRunning: number | null;
    rateMax: number | null;
    ratePerMs: number | null;
    running: number;
    startCount: number;
    oldestStart: number | null;
  }>(client, GROUPS, [now], 'bt_flow_groups');
  const groups = new Map<string, Pick<Group, 'maxRunning' | 'rateLimit'>>();
  const running = new Map<string, number>();
  const starts = new Map<string, WindowStarts>();
  const full: string[] = [];
  // A group whose starts are spent is left out of the walk: the wake its window's end is armed here.
  let spentUntil: number | null = null;
  for (const row of groupRows) {
    const rateLimit = rateLimitOf(row);
    groups.set(row.name, { maxRunning: row.maxRunning, rateLimit });
    running.set(row.name, row.running);
    starts.set(groupLimiter(row.name), { count: row.startCount, oldest: row.oldestStart });
    const spent = rateLimit !== null && row.startCount >= rateLimit.max;
    if (spent && row.oldestStart !== null) spentUntil = earliest(spentUntil, row.oldestStart + rateLimit.per);
    if ((row.maxRunning !== null && row.running >= row.maxRunning) || spent) full.push(row.name);
  }
  const admission = new Admission(
    {
      group: (name) => groups.get(name),
      running: (name) => running.get(name) ?? 0,
      startsAfter: (limiter) => starts.get(limiter) ?? { count: 0, oldest: null },
    },
    now,
  );
  const allowed = new Map<number, Admitted['starts']>();
  const seen: number[] = [];
  const pageSize = limit * 2 + 16;
  for (let page = 0; page < MAX_PAGES && allowed.size < limit; page++) {
    const rows = await query<LimitedRow>(
      client,
      LIMITED_READY,
      [now, handlers, holding, full, seen, pageSize],
      'bt_flow_ready',
    );
    await readTaskStarts(client, rows, now, starts);
    const looked = new Set<number>();
    for (const row of rows) {
      if (looked.has(row.taskId) || allowed.size === limit) continue;
      looked.add(row.taskId);
      const groupNames = parseStoredGroups(row.groups);
      const admitted = admission.admit({ taskId: row.taskId, groups: groupNames, rateLimit: rateLimitOf(row) });
      if (admitted.kind === 'admitted') allowed.set(row.runId, admitted.starts);
      else if (admitted.group !== null) full.push(admitted.group);
    }
    seen.push(...looked);
    if (rows.length < pageSize) break;
  }
  return { allowed, retryAt: earliest(admission.retryAt, spentUntil) };
}

/** The recorded starts of the tasks' own rate limits, read for a page at once. */
async function readTaskStarts(
  client: Queryable,
  rows: LimitedRow[],
  now: number,
  starts: Map<string, WindowStarts>,
): Promise<void> {
  const limiters: string[] = [];
  const since: number[] = [];
  for (const row of rows) {
    const limiter = taskLimiter(row.taskId);
    if (row.ratePerMs === null || starts.has(limiter) || limiters.includes(limiter)) continue;
    limiters.push(limiter);
    since.push(now - row.ratePerMs);
  }
  if (limiters.length === 0) return;
  const counts = await query<{ limiter: string; count: number; oldest: number | null }>(
    client,
    TASK_STARTS,
    [limiters, since],
    'bt_flow_task_starts',
  );
  for (const { limiter, count, oldest } of counts) starts.set(limiter, { count, oldest });
}

/** Records the starts of the limited runs claimed, and forgets those that left their window. */
export async function recordStarts(client: Queryable, starts: Admitted['starts'], startedAt: number): Promise<void> {
  if (starts.length === 0) return;
  const limiters = starts.map((s) => s.limiter);
  await query(client, RECORD_STARTS, [limiters, startedAt], 'bt_flow_record');
  await query(client, FORGET_STARTS, [limiters, starts.map((s) => startedAt - s.per)], 'bt_flow_forget');
}
