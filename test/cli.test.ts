import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, expect, test } from 'vitest';
import type {
  CliErrorJson,
  DoctorJson,
  Execution,
  FailuresJson,
  FireJson,
  GroupsJson,
  PruneJson,
  RetryJson,
  ShowJson,
  StatsRow,
  SteerJson,
  TaskRow,
} from '../src/index.js';
import { EventTrigger, OneTimeTrigger, Scheduler } from '../src/index.js';
import { nextEvents } from '../src/testing.js';
import { silentLogger, tempDbPath } from './helpers/setup.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const childScript = fileURLToPath(new URL('./fixtures/cli-scheduler-child.mjs', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const json = <T>(...args: string[]): T => {
  const result = run(...args, '--json');
  if (result.status !== 0) throw new Error(`exit ${result.status}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
};
let child: ChildProcess | undefined;

afterEach(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  child = undefined;
});

async function until<T>(probe: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function startScheduler(database: string, mode = 'ticking'): Promise<void> {
  child = spawn(process.execPath, [childScript, database, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) =>
    child!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()),
  );
}

test('migrate creates the schema and says so', () => {
  const db = tempDbPath();
  const result = run('migrate', '--db', db);
  expect(result.status).toBe(0);
  expect(result.stdout).toContain('created, schema is up to date');
  expect(run('migrate', '--db', db).stdout).toBe(`${db}: schema is up to date\n`);
  const sqlite = new Database(db, { readonly: true });
  expect(sqlite.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'executions'").pluck().get()).toBe(1);
  sqlite.close();
});

test('exit codes: 2 for bad usage, 4 for a missing file, 1 for a file that is not a database, 3 for no such task', () => {
  expect(run('frobnicate').status).toBe(2);
  expect(run('migrate', '--nope').status).toBe(2);
  const missing = run('tasks', '--db', tempDbPath());
  expect(missing.status).toBe(4);
  expect(missing.stderr).toContain('no such database file');
  const garbage = tempDbPath();
  writeFileSync(garbage, 'x'.repeat(4096));
  const corrupt = run('tasks', '--db', garbage);
  expect(corrupt.status).toBe(1);
  expect(corrupt.stderr).toContain('DATABASE_CORRUPT');
  const db = tempDbPath();
  run('migrate', '--db', db);
  expect(run('show', 'nope', '--db', db).status).toBe(3);
  expect(run('history', '--limit', 'x', '--db', db).status).toBe(2);
  expect(run('history', '--status', 'bogus', '--db', db).status).toBe(2);
  expect(run('fire', 'e', '--payload', '{bad', '--db', db).status).toBe(2);
  expect(run('prune', '--db', db).status).toBe(2);
  expect(run('stats', '--since', 'yesterday-ish', '--db', db).status).toBe(2);
});

test('under --json a failure is JSON on stderr, with a stable code and the exit code', () => {
  const db = tempDbPath();
  run('migrate', '--db', db);
  const failures: [string[], string, number][] = [
    [['frobnicate'], 'USAGE', 2],
    [['history', '--limit', 'x', '--db', db], 'USAGE', 2],
    [['fire', '', '--db', db], 'INVALID_ARGUMENT', 2],
    [['show', 'nope', '--db', db], 'TASK_NOT_FOUND', 3],
    [['tasks', '--db', tempDbPath()], 'NO_SUCH_FILE', 4],
  ];
  for (const [args, code, exitCode] of failures) {
    const result = run(...args, '--json');
    expect(result.status).toBe(exitCode);
    expect(result.stdout).toBe('');
    const report = JSON.parse(result.stderr) as CliErrorJson;
    expect(report).toEqual({ error: { code, message: expect.any(String), exitCode } });
    expect(report.error.message).not.toMatch(/^error:/);
  }
});

test('while a scheduler runs in another process, the CLI reads and steers it', async () => {
  const db = tempDbPath();
  await startScheduler(db);
  // --json is typed: numbers as numbers, booleans as booleans, ids apart from names.
  const tasks = json<TaskRow[]>('tasks', '--db', db);
  expect(tasks.map((t) => [t.key, t.triggers, t.paused, typeof t.id, t.handler, t.executions])).toEqual([
    ['job', ['on poke'], false, 'number', 'job', 0],
    ['tick', ['every 500ms'], false, 'number', 'tick', expect.any(Number)],
  ]);
  expect(typeof tasks[1]!.nextFireAt).toBe('number');
  const job = tasks[0]!;

  // fire: stored by the CLI, run by the scheduler.
  const fire = json<FireJson>('fire', 'poke', '--payload', '{"n":1}', '--db', db);
  expect(fire).toMatchObject({ runs: 1, runIds: [expect.any(Number)] });
  const fired = await until(
    () => json<Execution[]>('history', '--task', 'job', '--db', db).find((e) => e.status === 'succeeded'),
    'the fired run',
  );
  expect(fired.result).toEqual({ event: { name: 'poke', payload: { n: 1 } } });

  // run-now, pause and resume.
  expect(run('pause', 'job', '--db', db).status).toBe(0);
  expect(json<ShowJson>('show', String(job.id), '--db', db)).toMatchObject({
    state: 'paused',
  });
  const queued = json<SteerJson>('run-now', 'job', '--db', db);
  expect(queued).toMatchObject({ command: 'run-now', taskId: job.id, runId: expect.any(Number) });
  const waiting = json<ShowJson>('show', 'job', '--db', db);
  expect(waiting.reasons.some((r) => r.includes('paused'))).toBe(true);
  expect(run('resume', 'job', '--db', db).status).toBe(0);
  await until(
    () =>
      json<Execution[]>('history', '--task', 'job', '--status', 'succeeded', '--db', db).length === 2
        ? true
        : undefined,
    'the manual run',
  );

  // stats, doctor, prune.
  const stats = json<StatsRow[]>('stats', '--since', '1h', '--db', db);
  expect(stats.find((s) => s.task === 'job')).toMatchObject({ attempts: 2, succeeded: 2, failed: 0, retried: 0 });
  expect(typeof stats[0]!.taskId).toBe('number');
  const doctor = json<DoctorJson>('doctor', '--db', db);
  expect(doctor).toMatchObject({ integrity: 'ok', stuckRuns: [] });
  expect(doctor.schedulers[0]?.handlers.sort()).toEqual(['job', 'tick']);
  expect(json<PruneJson>('prune', '--keep-last', '1', '--db', db).deleted).toBeGreaterThan(0);
  expect(json<Execution[]>('history', '--task', 'job', '--db', db)).toHaveLength(1);

  // remove: the task goes, its history stays readable.
  expect(run('remove', 'job', '--db', db).status).toBe(0);
  expect(run('show', 'job', '--db', db).status).toBe(3);
  expect(json<TaskRow[]>('tasks', '--db', db).map((t) => t.key)).toEqual(['tick']);
});

test('a database locked beyond the busy timeout is a clear error with exit code 1', () => {
  const db = tempDbPath();
  run('migrate', '--db', db);
  const holder = new Database(db);
  holder.exec('BEGIN IMMEDIATE');
  try {
    const result = run('run-now', '1', '--db', db, '--busy-timeout', '50');
    // Reading works under WAL; the task does not exist, so this is "no such task", not a hang.
    expect(result.status).toBe(3);
    const tasks = run('fire', 'e', '--db', db, '--busy-timeout', '50');
    expect(tasks.status).toBe(1);
    expect(tasks.stderr).toContain('DATABASE_LOCKED');
  } finally {
    holder.exec('ROLLBACK');
    holder.close();
  }
});

test('work stored by the CLI wakes an idle scheduler in another process within about a second', async () => {
  const db = tempDbPath();
  await startScheduler(db, 'quiet'); // nothing due: without a nudge it sleeps up to 10 s
  const reader = new Database(db, { readonly: true });
  const started = reader
    .prepare("SELECT started_at FROM executions WHERE task_name = 'job' ORDER BY id DESC LIMIT 1")
    .pluck();
  try {
    // Three times, so that the 5 s heartbeat cannot pass for the watcher by luck.
    let last = 0;
    for (let i = 1; i <= 3; i++) {
      expect(run('run-now', 'job', '--db', db).status).toBe(0);
      const asked = Date.now(); // the CLI has committed and exited
      const at = await until(() => {
        const time = started.get() as number | undefined;
        return time !== undefined && time >= asked - 1_000 && time > last ? time : undefined;
      }, `run ${i}`);
      last = at;
      expect(at - asked).toBeLessThan(2_000);
    }
  } finally {
    reader.close();
  }
});

test('--version prints the package version; fire refuses an empty event name as the API does', () => {
  const version = run('--version');
  expect(version.status).toBe(0);
  expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  const db = tempDbPath();
  expect(run('migrate', '--db', db).status).toBe(0);
  const empty = run('fire', '', '--db', db);
  expect(empty.status).toBe(2);
  expect(empty.stderr).toMatch(/event: must be a non-empty string/);
});

test('history --task shows the executions of a task that is gone (a one-time task that ran)', async () => {
  const db = tempDbPath();
  const scheduler = new Scheduler({ database: db, logger: silentLogger });
  scheduler.register('once', () => 'done');
  const ran = new Promise((resolve) => scheduler.once('execution:succeeded', resolve));
  const task = await scheduler.addTask({ name: 'once', triggers: [new OneTimeTrigger({ delay: 0 })] });
  await scheduler.start();
  await ran;
  await scheduler.close();
  expect(run('show', String(task.id), '--db', db).status).toBe(3); // the task is gone
  const rows = json<Execution[]>('history', '--task', String(task.id), '--db', db);
  expect(rows).toMatchObject([{ taskId: task.id, status: 'succeeded' }]);
});

test('doctor exits 1 when ready runs have no live scheduler to take them, and marks schedulers presumed dead', async () => {
  const db = tempDbPath();
  const scheduler = new Scheduler({ database: db, logger: silentLogger });
  const task = await scheduler.addTask({ name: 'orphan', handler: 'nobody-registers-this' });
  await scheduler.runNow(task.id);
  await scheduler.close();
  // A scheduler row left by a process that died an hour ago.
  const raw = new Database(db);
  const hourAgo = Date.now() - 3_600_000;
  raw
    .prepare('INSERT INTO schedulers (id, host, pid, handlers, started_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)')
    .run('dead-one', 'elsewhere', 4242, '[]', hourAgo, hourAgo);
  raw.close();
  const result = run('doctor', '--db', db, '--json');
  expect(result.status).toBe(1);
  const report = JSON.parse(result.stdout) as { unservedHandlers: string[]; schedulers: { alive: boolean }[] };
  expect(report.unservedHandlers).toEqual(['nobody-registers-this']);
  expect(report.schedulers).toEqual([expect.objectContaining({ id: 'dead-one', alive: false })]);
  expect(run('doctor', '--db', db).stdout).toContain('presumed dead');
});

test('show and doctor say which condition holds a run on which scheduler, and doctor flags a condition nobody defines', async () => {
  const db = tempDbPath();
  const scheduler = new Scheduler({ database: db, logger: silentLogger, deviceState: () => ({ loadPerCore: 3 }) });
  try {
    scheduler.register('compact', () => null);
    await scheduler.addTask({
      key: 'quiet',
      name: 'compact',
      conditions: { maxLoad: 1 },
      conditionLost: 'abort',
      triggers: [new OneTimeTrigger({ delay: 0 })],
    });
    await scheduler.addTask({
      key: 'vpn',
      name: 'compact',
      conditions: { require: ['vpn'] },
      triggers: [new OneTimeTrigger({ delay: 0 })],
    });
    await scheduler.start();
    const text = run('show', 'quiet', '--db', db).stdout;
    expect(text).toContain('conditions {"maxLoad":1}; when lost: abort');
    expect(text).toContain('state: held');
    expect(text).toMatch(
      /held by their conditions on every live scheduler \(.+:\d+: load 3 per core is above maxLoad 1\)/,
    );
    const shown = json<ShowJson>('show', 'quiet', '--db', db);
    expect(shown.conditions).toEqual([
      { scheduler: expect.any(String), unmet: [{ condition: 'maxLoad', wanted: 1, reading: 3 }] },
    ]);

    const result = run('doctor', '--db', db, '--json');
    expect(result.status).toBe(1);
    const report = JSON.parse(result.stdout) as DoctorJson;
    expect(report.heldRuns.map((h) => [h.conditions, h.runs])).toEqual([
      [{ maxLoad: 1 }, 1],
      [{ require: ['vpn'] }, 1],
    ]);
    expect(report.undefinedConditions).toEqual(['vpn']);
    expect(report.schedulers[0]!.device).toMatchObject({ readings: { loadPerCore: 3, networkUp: null } });
    const doctorText = run('doctor', '--db', db).stdout;
    expect(doctorText).toContain('1 run(s) wanting {"maxLoad":1}');
    expect(doctorText).toContain('condition "vpn" (ready runs require it, no live scheduler defines it)');
  } finally {
    await scheduler.close();
  }
});

test('groups lists groups with their running runs; show and doctor say which group or rate limit holds a run', async () => {
  const db = tempDbPath();
  const scheduler = new Scheduler({ database: db, logger: silentLogger, maxRunningTasks: 8 });
  const release: (() => void)[] = [];
  try {
    scheduler.register('upload', () => new Promise<void>((resolve) => release.push(resolve)));
    await scheduler.defineGroup('modem', { maxRunning: 1 });
    await scheduler.defineGroup('api', { rateLimit: { max: 1, per: 3_600_000 } });
    const once = () => [new OneTimeTrigger({ delay: 0 })];
    await scheduler.addTask({ key: 'first', name: 'upload', groups: ['modem'], priority: 2, triggers: once() });
    await scheduler.addTask({ key: 'second', name: 'upload', groups: ['modem'], priority: 1, triggers: once() });
    await scheduler.addTask({ key: 'call-1', name: 'upload', groups: ['api'], triggers: once() });
    await scheduler.addTask({ key: 'call-2', name: 'upload', groups: ['api'], triggers: once() });
    await scheduler.addTask({ key: 'lost', name: 'upload', groups: ['nowhere'], triggers: once() });
    const started = nextEvents(scheduler, 'execution:started', 2);
    await scheduler.start();
    await started;

    expect(run('groups', '--db', db).stdout).toBe('api: 1 running, 1 start(s) per 1h\nmodem: 1 of 1 running\n');
    expect(json<GroupsJson>('groups', '--db', db)).toMatchObject([
      { name: 'api', maxRunning: null, rateLimit: { max: 1, per: 3_600_000 }, running: 1 },
      { name: 'modem', maxRunning: 1, rateLimit: null, running: 1 },
    ]);
    const text = run('show', 'second', '--db', db).stdout;
    expect(text).toContain('groups modem');
    expect(text).toContain('state: held');
    expect(text).toContain('held: group "modem" is full: 1 of 1 running');
    const shown = json<ShowJson>('show', 'call-2', '--db', db);
    expect(shown.limits).toEqual([
      { kind: 'rate-limit', group: 'api', max: 1, per: 3_600_000, until: expect.any(Number) },
    ]);

    const result = run('doctor', '--db', db, '--json');
    expect(result.status).toBe(1);
    const report = JSON.parse(result.stdout) as DoctorJson;
    expect(report.limitedRuns).toEqual(
      expect.arrayContaining([
        { reason: 'group-full', group: 'modem', runs: 1, until: null },
        { reason: 'rate-limit', group: 'api', runs: 1, until: expect.any(Number) },
        { reason: 'group-undefined', group: 'nowhere', runs: 1, until: null },
      ]),
    );
    expect(report.undefinedGroups).toEqual(['nowhere']);
    const doctorText = run('doctor', '--db', db).stdout;
    expect(doctorText).toContain('1 run(s) held by group "modem", full');
    expect(doctorText).toMatch(/1 run\(s\) held by the rate limit of group "api" \(next start allowed at /);
    expect(doctorText).toContain('1 run(s) held by group "nowhere", which is not defined');
  } finally {
    for (const resolve of release) resolve();
    await scheduler.close();
  }
});

test('failures groups failed attempts by message, for all tasks or one', async () => {
  const db = tempDbPath();
  const scheduler = new Scheduler({ database: db, logger: silentLogger });
  try {
    let call = 0;
    scheduler.register('upload', () => {
      throw new Error(`HTTP 503 from 10.0.0.${++call}`);
    });
    scheduler.register('backup', () => {
      throw new Error('disk full');
    });
    const upload = await scheduler.addTask({ key: 'upload', name: 'upload', retryPolicy: { maxRetries: 2, delay: 0 } });
    const backup = await scheduler.addTask({ key: 'backup', name: 'backup' });
    const ended = nextEvents(scheduler, 'execution:failed', 2);
    await scheduler.start();
    await scheduler.runNow(upload.id);
    await scheduler.runNow(backup.id);
    await ended;
    const groups = json<FailuresJson>('failures', '--db', db);
    expect(groups.map((g) => [g.error, g.attempts, g.final, g.tasks])).toEqual([
      ['HTTP # from #', 3, 1, [{ name: 'upload', attempts: 3 }]],
      ['disk full', 1, 1, [{ name: 'backup', attempts: 1 }]],
    ]);
    expect(json<FailuresJson>('failures', '--task', 'backup', '--db', db).map((g) => g.error)).toEqual(['disk full']);
    const text = run('failures', '--db', db).stdout;
    expect(text).toContain('upload (3)');
    expect(text).toContain('HTTP # from #');
    expect(run('failures', '--since', '1h', '--task', 'nope', '--db', db).status).toBe(3);
  } finally {
    await scheduler.close();
  }
});

test('fire --key makes no runs for a key already fired for the event; show describes a debounced trigger', async () => {
  const db = tempDbPath();
  const scheduler = new Scheduler({ database: db, logger: silentLogger });
  await scheduler.addTask({ key: 'door', name: 'alarm', triggers: [new EventTrigger({ event: 'door-open' })] });
  await scheduler.addTask({
    key: 'reload',
    name: 'reload',
    triggers: [new EventTrigger({ event: 'config-changed', debounce: 30_000 })],
  });
  await scheduler.close();
  expect(json<FireJson>('fire', 'door-open', '--key', 'msg-1', '--db', db).runs).toBe(1);
  expect(json<FireJson>('fire', 'door-open', '--key', 'msg-1', '--db', db).runs).toBe(0);
  expect(run('fire', 'door-open', '--key', 'msg-1', '--db', db).stdout).toBe('fired door-open: 0 run(s) queued\n');
  expect(json<FireJson>('fire', 'door-open', '--key', 'msg-2', '--db', db).runs).toBe(1);
  const bad = run('fire', 'door-open', '--key', 'msg-3', '--key-window', 'soon', '--db', db);
  expect(bad.status).toBe(2);
  expect(bad.stderr).toContain('--key-window');
  expect(run('fire', 'door-open', '--key', '', '--db', db).status).toBe(2);
  expect(run('show', 'reload', '--db', db).stdout).toContain('triggers: on config-changed (debounced 30s)');
});

test('retry EXECUTION redrives one failed attempt; retry --task --since redrives runs that failed for good', async () => {
  const db = tempDbPath();
  const scheduler = new Scheduler({ database: db, logger: silentLogger });
  scheduler.register('upload', () => {
    throw new Error('refused');
  });
  scheduler.register('ok', () => 'fine');
  const upload = await scheduler.addTask({
    key: 'upload',
    name: 'upload',
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  const ok = await scheduler.addTask({ key: 'ok', name: 'ok', triggers: [new OneTimeTrigger({ delay: 0 })] });
  const ended = nextEvents(scheduler, 'execution:finished', 2);
  await scheduler.start();
  const [a, b] = await ended;
  const failed = [a!, b!].find((e) => e.taskId === upload.id)!;
  const succeeded = [a!, b!].find((e) => e.taskId === ok.id)!;
  await scheduler.close();

  expect(run('show', 'upload', '--db', db).stdout).toContain('its one-time run failed for good');
  const one = json<RetryJson>('retry', String(failed.executionId), '--db', db);
  expect(one).toEqual({ command: 'retry', runs: 1, runId: expect.any(Number) });
  expect(run('retry', String(succeeded.executionId), '--db', db).status).toBe(2);
  expect(run('retry', '999999', '--db', db).status).toBe(3);
  expect(run('retry', String(failed.executionId), '--task', 'upload', '--db', db).status).toBe(2);
  // The failure was redriven already: nothing more to do.
  expect(json<RetryJson>('retry', '--task', 'upload', '--since', '24h', '--db', db).runs).toBe(0);
  expect(run('retry', '--since', 'never', '--db', db).status).toBe(2);
  const raw = new Database(db);
  raw.prepare('UPDATE executions SET redriven_run_id = NULL').run();
  raw.close();
  expect(run('retry', '--task', 'upload', '--db', db).stdout).toBe('retry: 1 failed run(s) queued again\n');
});

test("show names a module task's module, memory limit and description", async () => {
  const db = tempDbPath();
  const scheduler = new Scheduler({ database: db, logger: silentLogger });
  const module = fileURLToPath(new URL('./fixtures/modules/busy.mjs', import.meta.url));
  await scheduler.addTask({ key: 'm', name: 'crunch', module, memoryLimitMb: 64, description: 'numbers, crunched' });
  await scheduler.close();
  const text = run('show', 'm', '--db', db).stdout;
  expect(text).toContain(`module ${module}, memory limit 64 MB`);
  expect(text).toContain('description numbers, crunched');
  expect(json<ShowJson>('show', 'm', '--db', db).task).toMatchObject({
    module,
    memoryLimitMb: 64,
  });
  expect(json<TaskRow[]>('tasks', '--db', db)[0]).toMatchObject({ handler: null, module });
});
