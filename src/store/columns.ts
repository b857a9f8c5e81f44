// Column lists shared by both stores' hand-written SQL, under the names drizzle
// gives the columns, so that rows.ts maps the rows of either alike. They name the
// tables by alias: `g` for triggers, `t` for tasks.

export const TRIGGER_COLUMNS = `g.id, g.task_id AS "taskId", g.kind, g.interval_ms AS "intervalMs", g.cron, g.timezone,
  g.jitter_ms AS "jitterMs", g.misfire, g.max_catch_up AS "maxCatchUp", g.event_name AS "eventName",
  g.delay_ms AS "delayMs", g.at, g.anchor_at AS "anchorAt", g.next_slot_at AS "nextSlotAt",
  g.next_fire_at AS "nextFireAt", g.last_fired_at AS "lastFiredAt", g.fire_count AS "fireCount",
  g.missed_count AS "missedCount", g.coalesced_count AS "coalescedCount"`;

export const RETRY_COLUMNS = `t.max_retries AS "maxRetries", t.retry_delay_ms AS "retryDelayMs",
  t.retry_backoff AS "retryBackoff", t.retry_max_delay_ms AS "retryMaxDelayMs"`;
