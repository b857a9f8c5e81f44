import type { Command } from 'commander';
import type { Store } from '../store/store.js';
import { UsageError, type CliContext } from './context.js';
import type { SteerJson } from './json.js';
import { parseDuration } from './format.js';
import { fireEventFromOutside, steerTask } from '../steering.js';
import { redriveAllFailed, redriveExecution } from '../redrive.js';

// The commands that change something: each is stored for the running scheduler to
// act on (at its next wake; a removal stops a running handler at its next
// heartbeat). The CLI never runs a task itself.

export function steeringCommands(
  program: Command,
  { open, print, resolveTask, clockNow, positiveInt, since }: CliContext,
): void {
  /** A command on one task; `act` may give more to report (the run it queued). */
  const steer = (
    name: SteerJson['command'],
    description: string,
    act: (store: Store, id: number, now: number) => Promise<{ runId: number | null } | void>,
  ) =>
    program
      .command(name)
      .argument('<task>', 'task id or key')
      .description(description)
      .action(async (ref: string) => {
        const store = await open();
        const task = await resolveTask(store, ref);
        const more = (await act(store, task.id, clockNow())) ?? {};
        const run = 'runId' in more && more.runId !== null ? `, run ${more.runId}` : '';
        print(
          { command: name, taskId: task.id, taskName: task.name, ...more },
          () => `${name}: task ${task.id} (${task.name})${run} — the running scheduler acts on it at its next wake`,
        );
      });
  steer('run-now', 'queue a run now', (store, id, now) => steerTask(store, 'run-now', id, now));
  steer('pause', 'hold the task: its runs wait', (store, id, now) => steerTask(store, 'pause', id, now));
  steer('resume', 'release a paused task', (store, id, now) => steerTask(store, 'resume', id, now));
  steer('remove', 'remove the task and its pending runs (history stays)', (store, id, now) =>
    steerTask(store, 'remove', id, now),
  );

  program
    .command('retry')
    .argument('[execution]', 'a failed execution: its task gets a new run, from attempt 1')
    .option('--task <task>', 'without an execution: only this task (id or key)')
    .option('--since <when>', 'without an execution: failures that started since then (24h, 7d, or a date)')
    .description('redrive: a failed execution, or every run that failed for good and was not redriven, runs again')
    .action(async (execution: string | undefined, options: { task?: string; since?: string }) => {
      const store = await open();
      const now = clockNow();
      if (execution !== undefined) {
        if (options.task !== undefined || options.since !== undefined)
          throw new UsageError('retry: give an execution, or --task and --since, not both');
        const executionId = positiveInt('execution')(execution);
        const runId = await redriveExecution(store, executionId, now);
        print(
          { command: 'retry', runs: 1, runId },
          () => `retry: execution ${executionId} → run ${runId} — the running scheduler starts it at its next wake`,
        );
        return;
      }
      const taskId = options.task === undefined ? null : (await resolveTask(store, options.task)).id;
      const runs = await redriveAllFailed(store, { taskId, since: since(options.since, now) ?? 0, now });
      print({ command: 'retry', runs }, () => `retry: ${runs} failed run(s) queued again`);
    });

  program
    .command('fire')
    .argument('<event>', 'event name')
    .option('--payload <json>', 'the payload, as JSON')
    .option('--key <key>', "the sender's id for this firing: a key already fired for the event makes no runs")
    .option('--key-window <duration>', 'how far back a key counts (e.g. 24h, the default)', '24h')
    .description('fire an event: each listening task gets one run')
    .action(async (event: string, options: { payload?: string; key?: string; keyWindow: string }) => {
      let payload: unknown;
      try {
        payload = options.payload === undefined ? undefined : JSON.parse(options.payload);
      } catch {
        throw new UsageError(`--payload: not valid JSON: ${options.payload}`);
      }
      const key = options.key ?? null;
      const keyWindowMs = parseDuration(options.keyWindow);
      if (keyWindowMs === null || keyWindowMs < 1) {
        throw new UsageError(`--key-window: not a duration (like 30m, 24h, 7d): ${options.keyWindow}`);
      }
      const store = await open();
      const runIds = await fireEventFromOutside(store, { name: event, payload, key, keyWindowMs, now: clockNow() });
      print({ event, runs: runIds.length, runIds }, () => `fired ${event}: ${runIds.length} run(s) queued`);
    });

  program
    .command('prune')
    .description('delete old execution history now')
    .option('--older-than <duration>', 'executions that started longer ago (e.g. 30d)')
    .option('--keep-last <n>', 'keep only the newest n of each task', positiveInt('--keep-last'))
    .action(async (options: { olderThan?: string; keepLast?: number }) => {
      const maxAge = options.olderThan === undefined ? null : parseDuration(options.olderThan);
      if (maxAge === null && options.olderThan !== undefined)
        throw new UsageError(`--older-than: expected a duration like 30d, got "${options.olderThan}"`);
      if (maxAge === null && options.keepLast === undefined)
        throw new UsageError('prune: give --older-than, --keep-last or both');
      const store = await open();
      let deleted = 0;
      for (let n = -1; n !== 0;) {
        n = await store.pruneExecutions({
          endedBefore: maxAge === null ? null : clockNow() - maxAge,
          keepLast: options.keepLast ?? null,
          limit: 1000,
        });
        deleted += n;
      }
      await store.reclaimSpace();
      print({ deleted }, () => `deleted ${deleted} execution(s)`);
    });
}
