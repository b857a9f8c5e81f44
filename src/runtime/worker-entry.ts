// Runs one attempt of a module task inside a worker thread (see worker-attempt.ts).
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';

interface Start {
  module: string;
  argsJson: string;
  context: { taskId: number; taskName: string; executionId: number; attempt: number; event: unknown };
}

const port = parentPort!;
const { module, argsJson, context } = workerData as Start;
const controller = new AbortController();
port.on('message', (message: { type: 'abort'; reason: { name: string; message: string; code?: string } }) => {
  if (message.type !== 'abort') return;
  controller.abort(Object.assign(new Error(message.reason.message), message.reason));
});

// ctx.logger forwards to the scheduler's logger for this execution.
const log =
  (level: string) =>
  (...args: unknown[]): void =>
    port.postMessage({ type: 'log', level, args: JSON.parse(JSON.stringify(args, errorsAsObjects)) as unknown[] });
const logger = Object.fromEntries(
  ['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((level) => [level, log(level)]),
);

function errorsAsObjects(_key: string, value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;
}

try {
  const loaded = (await import(pathToFileURL(module).href)) as { default?: unknown; handler?: unknown };
  const handler = loaded.default ?? loaded.handler;
  if (typeof handler !== 'function') throw new TypeError(`${module} has no default export that is a function`);
  // An abort that came while the module loaded would never reach a handler that
  // listens for the 'abort' event: the attempt ends here instead.
  controller.signal.throwIfAborted();
  const result: unknown = await handler(JSON.parse(argsJson), { ...context, signal: controller.signal, logger });
  let resultJson: string | null = null;
  try {
    resultJson = result === undefined ? null : (JSON.stringify(result) ?? null);
  } catch {
    resultJson = null;
  }
  port.postMessage({ type: 'done', resultJson, heapBytes: getHeapStatistics().used_heap_size });
} catch (thrown) {
  const error =
    thrown instanceof Error
      ? {
          name: thrown.name,
          message: thrown.message,
          code: (thrown as { code?: unknown }).code,
          // RetryAfterError's delay crosses the thread with its code (errorClassOf reads both).
          retryAfterMs: (thrown as { retryAfterMs?: unknown }).retryAfterMs,
        }
      : { name: 'Error', message: typeof thrown === 'string' ? thrown : String(JSON.stringify(thrown) ?? thrown) };
  port.postMessage({ type: 'failed', error, heapBytes: getHeapStatistics().used_heap_size });
}
