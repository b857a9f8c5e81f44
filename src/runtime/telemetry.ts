import {
  context,
  createNoopMeter,
  metrics,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import type { ClaimedRun } from '../store/store.js';
import type { Decision } from './outcome.js';

const SCOPE = 'background-tasks';

/** Held runs as the held_runs gauge reports them: why, and which condition or group (none: a task's own rate limit). */
export interface HeldRunCount {
  hold: 'condition' | 'group-full' | 'group-undefined' | 'rate-limit';
  condition?: string;
  group?: string;
  runs: number;
}

/**
 * Spans and metrics through @opentelemetry/api: a no-op unless the application
 * installs an SDK. One span per attempt (the handler runs inside it, so its own
 * spans nest), and: runs by outcome, duration, start lag, running count, ready backlog,
 * runs held by device conditions, groups and rate limits.
 */
export class Telemetry {
  readonly #tracer = trace.getTracer(SCOPE);
  // The metrics API has no proxy: the meter is taken when the scheduler is made,
  // so an SDK must be installed before that.
  readonly #meter = metrics.getMeter(SCOPE);
  /** Without an SDK, the hot path skips building attributes nobody will read. */
  readonly #measuring = !(this.#meter instanceof createNoopMeter().constructor);
  readonly #runs = this.#meter.createCounter('background_tasks.runs', {
    description: 'Attempts that ended, by outcome',
  });
  readonly #duration = this.#meter.createHistogram('background_tasks.duration', {
    description: 'Wall time of an attempt',
    unit: 'ms',
  });
  readonly #lag = this.#meter.createHistogram('background_tasks.start_lag', {
    description: 'From when a run became due to when its attempt started',
    unit: 'ms',
  });

  constructor(running: () => number, readyBacklog: () => Promise<number>, heldRuns: () => Promise<HeldRunCount[]>) {
    this.#meter
      .createObservableGauge('background_tasks.running', { description: 'Handlers running in this scheduler' })
      .addCallback((result) => result.observe(running()));
    this.#meter
      .createObservableGauge('background_tasks.ready_backlog', { description: 'Runs due and waiting for a slot' })
      .addCallback(async (result) => result.observe(await readyBacklog()));
    this.#meter
      .createObservableGauge('background_tasks.held_runs', {
        description:
          'Ready runs held back, by reason (hold): a condition of their task that does not hold here, a full or undefined group, a rate limit',
      })
      .addCallback(async (result) => {
        for (const { hold, condition, group, runs } of await heldRuns()) {
          result.observe(runs, {
            'background_tasks.hold': hold,
            ...(condition === undefined ? {} : { 'background_tasks.condition': condition }),
            ...(group === undefined ? {} : { 'background_tasks.group': group }),
          });
        }
      });
  }

  /** Starts the attempt's span; returns the context to run the handler in (null when nothing records). */
  started(claim: ClaimedRun): { span: Span; context: Context | null } {
    if (this.#measuring) {
      this.#lag.record(Math.max(0, claim.startedAt - claim.dueAt), { 'background_tasks.task.name': claim.task.name });
    }
    const span = this.#tracer.startSpan(`run ${claim.task.name}`, { startTime: claim.startedAt });
    if (!span.isRecording()) return { span, context: null };
    span.setAttributes({ ...attributesOf(claim), 'background_tasks.reason': claim.reason });
    return { span, context: trace.setSpan(context.active(), span) };
  }

  ended(claim: ClaimedRun, span: Span, decision: Decision, durationMs: number, error: Error | null): void {
    const outcome = decision.status === 'failed' && decision.retryAt !== null ? 'retrying' : decision.status;
    if (this.#measuring) {
      const attributes = { 'background_tasks.task.name': claim.task.name, 'background_tasks.outcome': outcome };
      this.#runs.add(1, attributes);
      this.#duration.record(durationMs, attributes);
    }
    if (!span.isRecording()) return;
    span.setAttribute('background_tasks.outcome', outcome);
    if (error !== null) span.recordException(error);
    span.setStatus(
      decision.status === 'succeeded'
        ? { code: SpanStatusCode.OK }
        : { code: SpanStatusCode.ERROR, message: decision.error ?? outcome },
    );
    span.end();
  }
}

function attributesOf(claim: ClaimedRun): Attributes {
  return {
    'background_tasks.task.id': claim.task.id,
    'background_tasks.task.name': claim.task.name,
    'background_tasks.execution.id': claim.executionId,
    'background_tasks.attempt': claim.attempt,
  };
}
