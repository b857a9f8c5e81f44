import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.js';
import { TaskTimeoutError } from '../errors.js';
import type { ClaimedRun } from '../store/store.js';
import { failure, type RunningAttempt } from './executor.js';
import type { Outcome } from './outcome.js';
import { WORKER_ENTRY as ENTRY } from './worker-entry-url.js';

type FromWorker =
  | { type: 'log'; level: string; args: unknown[] }
  | { type: 'done'; resultJson: string | null; heapBytes: number }
  | {
      type: 'failed';
      error: { name: string; message: string; code?: unknown; retryAfterMs?: unknown };
      heapBytes: number;
    };

/**
 * One attempt of a module task, in its own worker thread: its own heap (capped by
 * memoryLimitMb), its own busy time, and a timeout that terminates it outright
 * when the handler ignores its signal.
 */
export function startWorkerAttempt(claim: ClaimedRun, logger: () => Logger, clock: Clock): RunningAttempt {
  const { module, memoryLimitMb, timeoutMs } = claim.task;
  const worker = new Worker(ENTRY, {
    workerData: {
      module,
      argsJson: claim.task.argsJson,
      context: {
        taskId: claim.task.id,
        taskName: claim.task.name,
        executionId: claim.executionId,
        attempt: claim.attempt,
        event: claim.event,
      },
    },
    ...(memoryLimitMb === null ? {} : { resourceLimits: { maxOldGenerationSizeMb: memoryLimitMb } }),
    stdout: false,
    stderr: false,
  });
  let resolve!: (outcome: Outcome) => void;
  const done = new Promise<Outcome>((r) => (resolve = r));
  let heapBytes: number | null = null;
  let timer: TimerHandle | undefined;
  let ended = false;
  let usage: RunningAttempt['usage'] = null;
  let abortReason: Error | undefined;
  const end = (outcome: Outcome): void => {
    if (ended) return;
    ended = true;
    if (timer !== undefined) clock.clearTimeout(timer);
    const busy = worker.performance.eventLoopUtilization();
    usage = { cpuUserUs: Math.round(busy.active * 1000), cpuSystemUs: 0, rssBytes: heapBytes ?? 0 };
    void worker.terminate();
    resolve(outcome);
  };

  worker.on('message', (message: FromWorker) => {
    if (message.type === 'log') {
      const log = logger() as unknown as Record<string, (...args: unknown[]) => void>;
      log[message.level]?.(...message.args);
      return;
    }
    heapBytes = message.heapBytes;
    if (message.type === 'done')
      return end({
        status: 'succeeded',
        result: message.resultJson === null ? undefined : JSON.parse(message.resultJson),
      });
    const error = Object.assign(new Error(message.error.message), {
      name: message.error.name,
      code: message.error.code,
      retryAfterMs: message.error.retryAfterMs,
    });
    end(failure(error, abortReason));
  });
  worker.on('error', (error: Error & { code?: string }) => {
    // ERR_WORKER_OUT_OF_MEMORY when the handler outgrew memoryLimitMb.
    end({ status: 'failed', error });
  });
  worker.on('exit', (code) =>
    end({ status: 'failed', error: new Error(`the worker thread exited with code ${code}`) }),
  );

  if (timeoutMs !== null) {
    timer = clock.setTimeout(() => end({ status: 'failed', error: new TaskTimeoutError(timeoutMs) }), timeoutMs);
  }

  return {
    claim,
    done,
    abort: (reason) => {
      abortReason ??= reason;
      worker.postMessage({
        type: 'abort',
        reason: { name: reason.name, message: reason.message, code: (reason as { code?: string }).code },
      });
    },
    end,
    get usage() {
      return usage;
    },
  };
}
