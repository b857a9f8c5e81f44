// Cron next times: the cost of one `next()` call of a PeriodicTrigger (the public
// API), beside cron-parser's own stepping (what the scheduler used before rule 15),
// walking each expression through two years of fire times from 2024. "first" is the
// first call (for ours, after making the trigger, whose validation already loaded the
// zone's data; for cron-parser, its first parse in the zone); "max" is the longest of
// the others.
import { CronExpressionParser } from 'cron-parser';
import { PeriodicTrigger } from 'background-tasks';
import { median } from './lib.mjs';

const CASES = [
  ['30 2 * * *', 'Europe/Berlin'],
  ['*/15 * * * *', 'Pacific/Chatham'],
  ['0 * * * *', 'Australia/Lord_Howe'],
  ['*/5 * * * * *', 'America/New_York'],
  ['0 2 1 * *', 'America/Santiago'],
  ['0 0 29 2 *', 'Asia/Kathmandu'],
  ['0 0 * 2 4#5', 'UTC'],
];

function cronParserNext(cron, timezone, after) {
  try {
    const next = CronExpressionParser.parse(cron, { currentDate: new Date(after), tz: timezone })
      .next()
      .getTime();
    return next > after ? next : cronParserNext(cron, timezone, next);
  } catch {
    return null; // its loop limit: the trigger died
  }
}

/** Ours, through the public API: a trigger's next(after). */
function triggerNext(cron, timezone) {
  const trigger = new PeriodicTrigger({ cron, timezone });
  return (_cron, _timezone, after) => trigger.next(after);
}

function walk(next, cron, timezone, calls) {
  const times = [];
  let at = Date.UTC(2024, 0, 1);
  const until = Date.UTC(2026, 0, 1);
  for (let i = 0; i < calls && at !== null && at < until; i++) {
    const started = performance.now();
    at = next(cron, timezone, at);
    times.push((performance.now() - started) * 1000);
  }
  return times;
}

export function cronBenchmarks(out) {
  out();
  out('## Cron: one `next()` call (µs), walking two years of fire times from 2024');
  out();
  out(
    '| expression | zone | calls | ours first | ours median | ours max | cron-parser first | cron-parser median | cron-parser max | ours / cron-parser (median) |',
  );
  out('|---|---|---|---|---|---|---|---|---|---|');
  for (const [cron, zone] of CASES) {
    const ours = walk(triggerNext(cron, zone), cron, zone, 20_000);
    const theirs = walk(cronParserNext, cron, zone, 20_000);
    const f = (v) => v.toFixed(1);
    const row = (times) => `${f(times[0])} | ${f(median(times))} | ${f(Math.max(...times.slice(1)))}`;
    out(
      `| \`${cron}\` | ${zone} | ${ours.length} | ${row(ours)} | ${row(theirs)} | ` +
        `${(median(ours) / median(theirs)).toFixed(2)}× |`,
    );
  }
  out();
  out('cron-parser walks stop early where it gives up (its loop limit) or answers a time before `after`.');
}

if (import.meta.url === `file://${process.argv[1]}`) cronBenchmarks(console.log);
