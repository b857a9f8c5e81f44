import type { Logger } from 'pino';
import type { ExecutionEvent, SchedulerEventMap } from '../events.js';
import type { ClaimedRun } from '../store/store.js';
import type { Decision, Outcome } from './outcome.js';

export type Emit = <K extends keyof SchedulerEventMap>(event: K, ...args: SchedulerEventMap[K]) => void;

/**
 * Tells listeners and the log how a recorded attempt ended: successes at debug,
 * snoozes at info, retries and interruptions at warn, final failures at error.
 */
export function announce(
  emit: Emit,
  root: Logger,
  logger: () => Logger,
  claim: ClaimedRun,
  outcome: Outcome,
  decision: Decision,
): void {
  const error = 'error' in outcome ? outcome.error : null;
  const event: ExecutionEvent = {
    ...executionEvent(claim, decision.status),
    error,
    result: outcome.status === 'succeeded' ? outcome.result : undefined,
    nextAttemptAt: decision.next.kind === 'again' ? decision.next.dueAt : null,
  };
  if (decision.status === 'succeeded') {
    if (root.isLevelEnabled('debug')) logger().debug('execution succeeded');
    emit('execution:succeeded', event);
  } else if (decision.status === 'failed' && decision.retryAt !== null) {
    logger().warn({ err: error, nextAttemptAt: decision.retryAt }, 'execution failed; retrying');
    emit('execution:retrying', event);
  } else if (decision.status === 'failed') {
    logger().error({ err: error }, 'execution failed');
    emit('execution:failed', event);
  } else if (decision.status === 'snoozed') {
    logger().info({ nextAttemptAt: decision.retryAt }, `execution snoozed: ${decision.error ?? 'retry after'}`);
    emit('execution:snoozed', event);
  } else if (decision.status === 'interrupted') {
    logger().warn({ err: error }, 'execution interrupted; it runs again at the next start');
    emit('execution:interrupted', event);
  } else {
    logger().info('execution cancelled: its task was removed');
    emit('execution:cancelled', event);
  }
  emit('execution:finished', event);
}

export function executionEvent(claim: ClaimedRun, status: ExecutionEvent['status']): ExecutionEvent {
  return {
    executionId: claim.executionId,
    runId: claim.runId,
    taskId: claim.task.id,
    taskName: claim.task.name,
    attempt: claim.attempt,
    status,
    error: null,
    result: undefined,
    nextAttemptAt: null,
  };
}
