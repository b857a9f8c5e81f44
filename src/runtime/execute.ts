import { context } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { ClaimedRun } from '../store/store.js';
import { executionEvent, type Emit } from './announce.js';
import type { EndedAttempt } from './completer.js';
import { startAttempt, type Handler, type RunningAttempt } from './executor.js';
import type { InFlight } from './in-flight-attempts.js';
import type { Telemetry } from './telemetry.js';
import { startWorkerAttempt } from './worker-attempt.js';

/**
 * The executor's steps for one attempt of a claimed run, in order: a logger for
 * it, the `execution:started` event, a trace span, the resource baseline, the
 * handler started (in this process, or in a worker thread for a module task), and
 * its outcome handed to the completer.
 */

export interface ExecuteDeps {
  handlers: ReadonlyMap<string, Handler>;
  clock: Clock;
  logger: Logger;
  emit: Emit;
  telemetry: Telemetry;
}

export function execute(claim: ClaimedRun, deps: ExecuteDeps, complete: (ended: EndedAttempt) => void): InFlight {
  const { handlers, clock, logger: root, emit, telemetry } = deps;
  // The child logger is made on first use: most runs of a quiet scheduler never log.
  let child: Logger | undefined;
  const logger = () =>
    (child ??= root.child({
      taskId: claim.task.id,
      taskName: claim.task.name,
      executionId: claim.executionId,
      attempt: claim.attempt,
    }));
  if (root.isLevelEnabled('debug')) logger().debug({ reason: claim.reason }, 'execution started');
  emit('execution:started', executionEvent(claim, 'running'));
  const traced = telemetry.started(claim);
  const before = { cpu: process.cpuUsage(), at: performance.now() };
  let attempt: RunningAttempt;
  if (claim.task.module !== null) {
    attempt = startWorkerAttempt(claim, logger, clock);
  } else {
    const handler = handlers.get(claim.task.handler)!;
    const spanContext = traced.context;
    const inSpan: Handler =
      spanContext === null ? handler : (args, ctx) => context.with(spanContext, () => handler(args, ctx));
    attempt = startAttempt(claim, inSpan, logger, clock);
  }
  const recorded = attempt.done.then((outcome) =>
    complete({ claim, outcome, before, logger, span: traced.span, measured: attempt.usage }),
  );
  return { attempt, recorded };
}
