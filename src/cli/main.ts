import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { systemClock } from '../clock.js';
import { BackgroundTasksError, ExecutionNotFoundError, TaskNotFoundError, ValidationError } from '../errors.js';
import type { Execution, ExecutionStatus } from '../execution.js';
import { heldRuns } from '../conditions.js';
import { explainFromOutside, readExecutions, taskIdOf, taskOf } from '../operator-reads.js';
import { groupFailures } from '../failures.js';
import { heldByLimits } from '../runtime/limit-state.js';
import { isOwnerGone } from '../runtime/owner.js';
import { isLive, liveDevices, liveHandlers } from '../runtime/registration.js';
import { isPostgresUrl } from '../store/postgres/connection.js';
import { EXECUTION_STATUSES } from '../values.js';
import { PgStore } from '../store/postgres/store.js';
import { SqliteStore } from '../store/sqlite/store.js';
import type { Store } from '../store/store.js';
import { NoFileError, NoTaskError, UsageError } from './context.js';
import type { CliErrorJson, CliJson, DoctorJson, FailuresJson, StatsRow, TaskRow } from './json.js';
import {
  describeGroup,
  describeHeld,
  describeHeldByLimit,
  describeSize,
  describeTrigger,
  formatDuration,
  formatTime,
  parseDuration,
  percentile,
  table,
} from './format.js';
import { steeringCommands } from './steer.js';
import { uiCommand } from './ui.js';

/** The most failed attempts `failures` reads: the newest, when there are more. */
const MAX_FAILURES = 100_000;

/** Exit codes: 0 done; 1 the database refused or is unhealthy; 2 bad usage; 3 no such task; 4 no such file. */
export const EXIT = { ok: 0, database: 1, usage: 2, notFound: 3, noFile: 4 } as const;

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** The version in the package's own package.json (two folders above dist/cli). */
function packageVersion(): string {
  const manifest = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

export async function main(argv: string[], io: Io = { out: console.log, err: console.error }): Promise<number> {
  let stores: Store[] = [];
  let exitCode: number = EXIT.ok;
  const program = new Command('background-tasks')
    .description('Inspect and steer the background-tasks scheduler of a database file. Safe while a scheduler runs.')
    .option('--db <file|url>', 'the SQLite database file, or a postgres:// URL', 'tasks.db')
    .option('--json', 'print JSON for scripts instead of tables')
    .option('--busy-timeout <ms>', 'how long to wait for a lock held by a running scheduler', '5000')
    .version(packageVersion(), '-V, --version', 'print the version of background-tasks')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text.trimEnd()),
      // Under --json, commander's own complaints are reported as JSON below.
      writeErr: (text) => (wantsJson() ? undefined : io.err(text.trimEnd())),
    });
  // Also before commander has parsed the options (a usage error comes first).
  const wantsJson = () => argv.includes('--json');

  const global = () => program.opts<{ db: string; json?: boolean; busyTimeout: string }>();
  /** A SQLite database named that has no file yet (a PostgreSQL URL always has a server). */
  const noFileYet = (db: string) => !isPostgresUrl(db) && !existsSync(db);
  /** Opens an existing database: inspecting must not create one by accident. */
  const open = async (create = false): Promise<Store> => {
    const { db } = global();
    const postgres = isPostgresUrl(db);
    if (!create && noFileYet(db))
      throw new NoFileError(`${db}: no such database file (run "background-tasks migrate --db ${db}" to create one)`);
    const busyTimeout = Number(global().busyTimeout);
    if (!Number.isInteger(busyTimeout) || busyTimeout < 0)
      throw new UsageError(`--busy-timeout: expected milliseconds, got "${global().busyTimeout}"`);
    const store = postgres ? new PgStore(db, { lockTimeout: busyTimeout }) : new SqliteStore(db, { busyTimeout });
    stores.push(store);
    await store.opened();
    return store;
  };
  /** Now, on the clock the database agrees on (PostgreSQL's, corrected for this machine's offset). */
  const clockNow = () => (stores.at(-1)?.agreedClock ?? systemClock).now();
  const print = (json: CliJson, text: () => string) => io.out(wantsJson() ? JSON.stringify(json, null, 2) : text());
  const noTask = (ref: string) => new NoTaskError(`no task with id or key "${ref}"`);
  const resolveTask = async (store: Store, ref: string) => {
    const task = await taskOf(store, ref);
    if (!task) throw noTask(ref);
    return task;
  };
  // History outlives its task: an id is taken as it is, a key needs the task.
  const historyTaskId = async (store: Store, ref: string) => {
    const id = await taskIdOf(store, ref);
    if (id === undefined) throw noTask(ref);
    return id;
  };
  const since = (text: string | undefined, now: number): number | undefined => {
    if (text === undefined) return undefined;
    const duration = parseDuration(text);
    if (duration !== null) return now - duration;
    const time = Date.parse(text);
    if (Number.isNaN(time))
      throw new UsageError(`--since: expected a duration like 24h or 7d, or a date, got "${text}"`);
    return time;
  };
  const positiveInt = (name: string) => (text: string) => {
    if (!/^\d+$/.test(text) || Number(text) < 1)
      throw new UsageError(`${name}: expected a positive whole number, got "${text}"`);
    return Number(text);
  };

  program
    .command('migrate')
    .description('create the database or apply pending migrations')
    .action(async () => {
      const database = global().db;
      const created = database !== ':memory:' && noFileYet(database);
      await open(true);
      print({ database, created, upToDate: true }, () =>
        created ? `${database}: created, schema is up to date` : `${database}: schema is up to date`,
      );
    });

  program
    .command('doctor')
    .description('integrity, schema version, stuck runs, handlers nobody serves, file and WAL size')
    .action(async () => {
      const store = await open();
      const now = clockNow();
      const info = await store.inspect();
      const stuck = (await store.runningRuns()).filter((run) => isOwnerGone(run.owner, run.leaseExpiresAt, now));
      const schedulers = await store.schedulers();
      // The same question the loop asks of its own handlers, for every live scheduler's.
      const unserved = await store.unservedHandlers({ now, handlers: [...liveHandlers(schedulers, now)] });
      const seen = schedulers.map((s) => ({ ...s, alive: isLive(s, now) }));
      const devices = liveDevices(schedulers, now);
      const { held, undefinedNames } = heldRuns(await store.readyByConditions({ now }), devices);
      const limited = await heldByLimits(store, now);
      const undefinedGroups = limited.flatMap((h) => (h.reason === 'group-undefined' ? [h.group!] : []));
      const report: DoctorJson = {
        ...info,
        stuckRuns: stuck.map((run) => run.runId),
        unservedHandlers: unserved,
        heldRuns: held,
        undefinedConditions: undefinedNames,
        limitedRuns: limited,
        undefinedGroups,
        schedulers: seen,
      };
      print(report, () =>
        [
          `integrity        ${info.integrity}`,
          `schema           ${info.schemaVersion}`,
          `${isPostgresUrl(global().db) ? 'tables ' : 'file   '}          ${describeSize(info)}`,
          `stuck runs       ${stuck.length === 0 ? 'none' : stuck.map((run) => `run ${run.runId} (owner pid ${run.owner.pid} on ${run.owner.host} is gone)`).join(', ')}`,
          `unserved         ${unserved.length === 0 ? 'none' : unserved.map((h) => `"${h}" (ready runs, no live scheduler registered it)`).join(', ')}`,
          `held             ${held.length === 0 ? 'none' : held.map(describeHeld).join('; ')}`,
          `limited          ${limited.length === 0 ? 'none' : limited.map(describeHeldByLimit).join('; ')}`,
          ...(undefinedNames.length === 0
            ? []
            : [
                `undefined        ${undefinedNames.map((n) => `condition "${n}" (ready runs require it, no live scheduler defines it)`).join(', ')}`,
              ]),
          `schedulers       ${seen.length === 0 ? 'none running' : seen.map((s) => `pid ${s.pid} on ${s.host}, seen ${formatTime(s.lastSeenAt)}${s.alive ? '' : ' (not seen for over a minute: presumed dead)'}`).join('; ')}`,
        ].join('\n'),
      );
      // Runs that nobody will take are trouble too, as a stuck run is.
      const waitForNobody = undefinedNames.length > 0 || undefinedGroups.length > 0;
      if (info.integrity !== 'ok' || stuck.length > 0 || unserved.length > 0 || waitForNobody) exitCode = EXIT.database;
    });

  program
    .command('groups')
    .description('concurrency groups: their limits, and the runs of their tasks running now')
    .action(async () => {
      const groups = await (await open()).groups();
      print(groups, () => (groups.length === 0 ? 'no groups' : groups.map(describeGroup).join('\n')));
    });

  program
    .command('tasks')
    .description('every task: triggers in words, priority, paused, next fire, last status, counts')
    .action(async () => {
      const store = await open();
      const tasks = [];
      for (let page = await store.listTasks({ limit: 1000, afterId: 0 }); page.length > 0;) {
        tasks.push(...page);
        page = await store.listTasks({ limit: 1000, afterId: page.at(-1)!.id });
      }
      const counts = await store.taskCounts(tasks.map((t) => t.id));
      const rows: TaskRow[] = tasks.map((task) => {
        const c = counts.get(task.id);
        const next = task.triggers.map((t) => t.nextFireAt).filter((t): t is number => t !== null);
        return {
          id: task.id,
          key: task.key,
          name: task.name,
          handler: task.module === null ? task.handler : null,
          module: task.module,
          triggers: task.triggers.map(describeTrigger),
          priority: task.priority,
          paused: task.paused,
          nextFireAt: next.length > 0 ? Math.min(...next) : null,
          lastStatus: c?.lastStatus ?? null,
          executions: c?.total ?? 0,
          succeeded: c?.succeeded ?? 0,
          failed: c?.failed ?? 0,
        };
      });
      const cells = rows.map((row) => ({
        id: row.id,
        key: row.key,
        name: row.name,
        triggers: row.triggers.join('; '),
        priority: row.priority,
        paused: row.paused ? 'yes' : 'no',
        next: formatTime(row.nextFireAt),
        last: row.lastStatus,
        runs: row.executions,
        ok: row.succeeded,
        failed: row.failed,
      }));
      print(rows, () => (cells.length === 0 ? 'no tasks' : table(cells, Object.keys(cells[0]!))));
    });

  program
    .command('show')
    .argument('<task>', 'task id or key')
    .description('one task in full, its next five fire times, and why it is or is not about to run')
    .action(async (ref: string) => {
      const store = await open();
      const now = clockNow();
      const task = await resolveTask(store, ref);
      const explanation = await explainFromOutside(store, task, now);
      print({ task, ...explanation }, () =>
        [
          `task ${task.id}${task.key ? ` (${task.key})` : ''}: ${task.name}, ${task.module === null ? `handler ${task.handler}` : `module ${task.module}${task.memoryLimitMb === null ? '' : `, memory limit ${task.memoryLimitMb} MB`}`}, priority ${task.priority}${task.paused ? ', paused' : ''}`,
          ...(task.description === null ? [] : [`description ${task.description}`]),
          `args ${JSON.stringify(task.args)}`,
          `timeout ${formatDuration(task.timeout) ?? 'none'}; retries ${task.retryPolicy ? `${task.retryPolicy.maxRetries} × ${formatDuration(task.retryPolicy.delay)} ${task.retryPolicy.backoff}` : 'none'}`,
          `triggers: ${task.triggers.map(describeTrigger).join('; ') || 'none'}`,
          ...(task.conditions === null
            ? []
            : [`conditions ${JSON.stringify(task.conditions)}; when lost: ${task.conditionLost}`]),
          ...(task.groups.length === 0 ? [] : [`groups ${task.groups.join(', ')}`]),
          ...(task.rateLimit === null
            ? []
            : [`rate limit ${task.rateLimit.max} start(s) per ${formatDuration(task.rateLimit.per)}`]),
          `state: ${explanation.state}`,
          `next fires: ${explanation.nextFireTimes.map(formatTime).join(', ') || 'none'}`,
          ...explanation.reasons.map((reason) => `- ${reason}`),
        ].join('\n'),
      );
    });

  program
    .command('history')
    .description('executions, newest first, with duration and error')
    .option('--task <task>', 'task id or key')
    .addOption(new Option('--status <status>', 'only this status').choices(EXECUTION_STATUSES))
    .option('--since <when>', 'a duration back from now (24h, 7d) or a date')
    .option('--limit <n>', 'at most this many rows', positiveInt('--limit'), 50)
    .action(async (options: { task?: string; status?: ExecutionStatus; since?: string; limit: number }) => {
      const store = await open();
      const taskId = options.task === undefined ? undefined : await historyTaskId(store, options.task);
      const from = since(options.since, clockNow());
      const rows = await store.executions({
        limit: Math.min(options.limit, 10_000),
        ...(taskId === undefined ? {} : { taskId }),
        ...(options.status === undefined ? {} : { status: options.status }),
        ...(from === undefined ? {} : { since: from }),
      });
      print(rows, () =>
        rows.length === 0
          ? 'no executions'
          : table(
              rows.map((e) => ({
                id: e.id,
                task: `${e.taskId} ${e.taskName}`,
                attempt: e.attempt,
                status: e.status,
                reason: e.reason,
                started: formatTime(e.startedAt),
                duration: e.durationMs === null ? null : `${e.durationMs}ms`,
                error: e.error?.slice(0, 60) ?? null,
              })),
              ['id', 'task', 'attempt', 'status', 'reason', 'started', 'duration', 'error'],
            ),
      );
    });

  program
    .command('failures')
    .description(
      'failed attempts grouped by message (numbers and ids set aside): how many, which tasks, first and last',
    )
    .option('--since <when>', 'a duration back from now (24h, 7d) or a date', '24h')
    .option('--task <task>', 'task id or key')
    .action(async (options: { since: string; task?: string }) => {
      const store = await open();
      const from = since(options.since, clockNow())!;
      const taskId = options.task === undefined ? undefined : await historyTaskId(store, options.task);
      const filter = { status: 'failed' as const, since: from, ...(taskId === undefined ? {} : { taskId }) };
      const failed = await readExecutions(store, filter, MAX_FAILURES);
      const groups: FailuresJson = groupFailures(failed);
      print(groups, () =>
        groups.length === 0
          ? `no failures since ${formatTime(from)}`
          : table(
              groups.map((g) => ({
                attempts: g.attempts,
                final: g.final,
                tasks: g.tasks.map((t) => `${t.name} (${t.attempts})`).join(', '),
                first: formatTime(g.firstAt),
                last: formatTime(g.lastAt),
                latest: g.latest.executionId,
                error: g.error,
              })),
              ['attempts', 'final', 'tasks', 'first', 'last', 'latest', 'error'],
            ),
      );
    });

  program
    .command('stats')
    .description('per task: attempts, successes, final failures, retried failures, interruptions, p50/p95 duration')
    .option('--since <when>', 'a duration back from now (24h, 7d) or a date', '24h')
    .action(async (options: { since: string }) => {
      const store = await open();
      const from = since(options.since, clockNow())!;
      const all = await readExecutions(store, { since: from }, 1_000_000);
      const byTask = new Map<number, Execution[]>();
      for (const e of all) {
        const list = byTask.get(e.taskId);
        if (list) list.push(e);
        else byTask.set(e.taskId, [e]);
      }
      const rows: StatsRow[] = [...byTask.entries()]
        .sort(([a], [b]) => a - b)
        .map(([taskId, list]) => {
          const durations = list
            .map((e) => e.durationMs)
            .filter((d): d is number => d !== null)
            .sort((a, b) => a - b);
          const count = (status: ExecutionStatus, final?: boolean) =>
            list.filter((e) => e.status === status && (final === undefined || e.final === final)).length;
          return {
            taskId,
            task: list[0]!.taskName,
            attempts: list.length,
            succeeded: count('succeeded'),
            // A failure that ended its run, apart from one that was retried.
            failed: count('failed', true),
            retried: count('failed', false),
            interrupted: count('interrupted'),
            snoozed: count('snoozed'),
            p50ms: percentile(durations, 50),
            p95ms: percentile(durations, 95),
          };
        });
      print(rows, () =>
        rows.length === 0 ? `no executions since ${formatTime(from)}` : table(rows, Object.keys(rows[0]!)),
      );
    });

  steeringCommands(program, { open, print, resolveTask, clockNow, positiveInt, since });
  uiCommand(program, { database: () => global().db, noFileYet, out: io.out });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError && err.exitCode === 0) return EXIT.ok; // --help, --version
    const { code, exitCode: failed } = classify(err);
    const message = (err instanceof Error ? err.message : String(err)).replace(/^error: /, '');
    if (wantsJson()) {
      const report: CliErrorJson = { error: { code, message, exitCode: failed } };
      io.err(JSON.stringify(report));
    } else if (!(err instanceof CommanderError)) {
      io.err(`error: ${message}${err instanceof BackgroundTasksError ? ` [${err.code}]` : ''}`);
    }
    return failed;
  } finally {
    for (const store of stores) await store.close();
    stores = [];
  }
}

/** The stable code and exit code of a failed command. */
function classify(err: unknown): { code: string; exitCode: number } {
  if (err instanceof CommanderError || err instanceof UsageError) return { code: 'USAGE', exitCode: EXIT.usage };
  if (err instanceof ValidationError) return { code: err.code, exitCode: EXIT.usage };
  if (err instanceof NoFileError) return { code: 'NO_SUCH_FILE', exitCode: EXIT.noFile };
  if (err instanceof NoTaskError) return { code: 'TASK_NOT_FOUND', exitCode: EXIT.notFound };
  if (err instanceof TaskNotFoundError || err instanceof ExecutionNotFoundError)
    return { code: err.code, exitCode: EXIT.notFound };
  if (err instanceof BackgroundTasksError) return { code: err.code, exitCode: EXIT.database };
  return { code: 'ERROR', exitCode: EXIT.database };
}
