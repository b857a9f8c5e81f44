import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { expect, test } from 'vitest';
import { OneTimeTrigger } from '../src/index.js';
import { nextEvent, nextEvents } from '../src/testing.js';
import { createHarness } from './helpers/setup.js';

// The SDK is installed before any scheduler is made, as an application would.
const spans = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

async function collected(): Promise<Map<string, { value: unknown; attributes: Record<string, unknown> }[]>> {
  await reader.forceFlush();
  const found = new Map<string, { value: unknown; attributes: Record<string, unknown> }[]>();
  for (const batch of metricExporter.getMetrics()) {
    for (const scope of batch.scopeMetrics) {
      for (const metric of scope.metrics) {
        found.set(
          metric.descriptor.name,
          metric.dataPoints.map((point) => ({
            value: point.value,
            attributes: point.attributes as Record<string, unknown>,
          })),
        );
      }
    }
  }
  return found;
}

test('each attempt is a span, with the handler’s own spans inside it, and its outcome', async () => {
  spans.reset();
  const { scheduler } = createHarness();
  scheduler.register('traced', async () => {
    await trace.getTracer('app').startActiveSpan('inner work', async (span) => span.end());
    return 'ok';
  });
  scheduler.register('failing', () => {
    throw new Error('nope');
  });
  const ok = await scheduler.addTask({ name: 'traced' });
  const bad = await scheduler.addTask({ name: 'failing' });
  await scheduler.start();
  const done = nextEvents(scheduler, 'execution:finished', 2);
  await scheduler.runNow(ok.id);
  await scheduler.runNow(bad.id);
  await done;
  const finished = spans.getFinishedSpans();
  const run = finished.find((s) => s.name === 'run traced')!;
  const inner = finished.find((s) => s.name === 'inner work')!;
  expect(run.attributes).toMatchObject({
    'background_tasks.task.id': ok.id,
    'background_tasks.attempt': 1,
    'background_tasks.outcome': 'succeeded',
  });
  expect(inner.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
  const failed = finished.find((s) => s.name === 'run failing')!;
  expect(failed.status).toMatchObject({ code: 2, message: 'nope' });
  expect(failed.events.some((e) => e.name === 'exception')).toBe(true);
});

test('metrics: runs by outcome, duration, start lag, running count and ready backlog', async () => {
  const { scheduler, clock } = createHarness({ maxRunningTasks: 1 });
  let release!: () => void;
  scheduler.register('block', () => new Promise<void>((resolve) => (release = resolve)));
  scheduler.register('quick', () => 'ok');
  scheduler.register('flaky', (_args, ctx) => {
    if (ctx.attempt === 1) throw new Error('first');
  });
  const block = await scheduler.addTask({ name: 'block' });
  await scheduler.addTasks([
    { name: 'quick', triggers: [new OneTimeTrigger({ delay: 0 })] },
    { name: 'quick', triggers: [new OneTimeTrigger({ delay: 0 })] },
  ]);
  const flaky = await scheduler.addTask({ name: 'flaky', retryPolicy: { maxRetries: 1, delay: 100 } });
  await scheduler.runNow(block.id);
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.start();
  await started;
  // The blocker holds the only slot: two quick runs wait.
  let seen = await collected();
  expect(seen.get('background_tasks.running')?.[0]?.value).toBe(1);
  expect(seen.get('background_tasks.ready_backlog')?.[0]?.value).toBe(2);

  const all = nextEvents(scheduler, 'execution:finished', 5);
  await scheduler.runNow(flaky.id);
  release();
  await clock.advance(100);
  await all;
  seen = await collected();
  const runs = seen.get('background_tasks.runs')!;
  const count = (name: string, outcome: string) =>
    runs.find(
      (p) =>
        p.attributes['background_tasks.task.name'] === name && p.attributes['background_tasks.outcome'] === outcome,
    )?.value;
  expect(count('quick', 'succeeded')).toBe(2);
  expect(count('flaky', 'retrying')).toBe(1);
  expect(count('flaky', 'succeeded')).toBe(1);
  expect(seen.get('background_tasks.duration')?.length).toBeGreaterThan(0);
  expect(seen.get('background_tasks.start_lag')?.length).toBeGreaterThan(0);
  expect(seen.get('background_tasks.running')?.[0]?.value).toBe(0);
});

test('metrics: ready runs held by device conditions, by the condition that does not hold', async () => {
  const { scheduler, clock } = createHarness({ deviceState: () => ({ loadPerCore: 2, networkUp: false }) });
  scheduler.register('job', () => null);
  await scheduler.addTasks([
    { name: 'a', handler: 'job', conditions: { maxLoad: 1 }, triggers: [new OneTimeTrigger({ delay: 0 })] },
    {
      name: 'b',
      handler: 'job',
      conditions: { maxLoad: 1, network: 'up' },
      triggers: [new OneTimeTrigger({ delay: 0 })],
    },
    { name: 'c', handler: 'job', conditions: { require: ['vpn'] }, triggers: [new OneTimeTrigger({ delay: 0 })] },
    { name: 'd', handler: 'job', conditions: { maxLoad: 3 }, triggers: [new OneTimeTrigger({ delay: 0 })] },
  ]);
  const ran = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.start();
  await clock.advance(0);
  expect((await ran).taskName).toBe('d');
  const held = (await collected()).get('background_tasks.held_runs')!;
  const by = Object.fromEntries(held.map((p) => [p.attributes['background_tasks.condition'], p.value]));
  expect(by).toEqual({ maxLoad: 2, network: 1, 'require:vpn': 1 });
});

test('metrics: ready runs held by groups and rate limits, by reason and group', async () => {
  const { scheduler, clock } = createHarness({ maxRunningTasks: 8 });
  const release: (() => void)[] = [];
  scheduler.register('job', () => new Promise<void>((resolve) => release.push(resolve)));
  await scheduler.defineGroup('modem', { maxRunning: 1 });
  await scheduler.defineGroup('api', { rateLimit: { max: 1, per: 60_000 } });
  const once = () => [new OneTimeTrigger({ delay: 0 })];
  await scheduler.addTasks([
    ...[1, 2, 3].map((i) => ({ name: `modem-${i}`, handler: 'job', groups: ['modem'], triggers: once() })),
    ...[1, 2].map((i) => ({ name: `api-${i}`, handler: 'job', groups: ['api'], triggers: once() })),
    { name: 'lost', handler: 'job', groups: ['nowhere'], triggers: once() },
  ]);
  const started = nextEvents(scheduler, 'execution:started', 2);
  await scheduler.start();
  await clock.advance(0);
  await started;
  const held = (await collected()).get('background_tasks.held_runs')!;
  const by = Object.fromEntries(
    held
      .filter((p) => p.attributes['background_tasks.group'] !== undefined)
      .map((p) => [`${p.attributes['background_tasks.hold']} ${p.attributes['background_tasks.group']}`, p.value]),
  );
  expect(by).toEqual({ 'group-full modem': 2, 'rate-limit api': 1, 'group-undefined nowhere': 1 });
  for (const resolve of release) resolve();
});
