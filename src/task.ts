import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { validateConditions, type Conditions } from './conditions.js';
import { validateRateLimit, validateTaskGroups, type RateLimit } from './flow.js';
import { ValidationError } from './errors.js';
import { toJson, type JsonValue } from './json.js';
import { normalizeRetryPolicy, type NormalizedRetryPolicy, type RetryPolicy } from './retry-policy.js';
import type { TriggerState } from './triggers/schedule.js';
import type { TriggerSpec } from './triggers/spec.js';
import { Trigger } from './triggers/trigger.js';
import { describe, integerIn, MAX_TIMER_MS, nonEmptyString, oneOf, storableText } from './validate.js';
import { CONDITION_LOST_POLICIES, type ConditionLostPolicy } from './values.js';

/**
 * A task as an application declares it. `Args` is the type of `args`: the
 * scheduler's methods infer it and check that it is JSON (see `defineHandler` to
 * tie it to a handler's).
 */
export interface TaskDefinition<Args = JsonValue | object> {
  /** What the task is called in logs and history. */
  name: string;
  /** A stable identity: `addTask` with a key that exists updates that task in place. */
  key?: string;
  /** The registered handler to call. Default: `name`. */
  handler?: string;
  description?: string;
  /** JSON given to the handler as its first argument. Default `null`. */
  args?: Args;
  /** Higher starts first when runs wait for a slot. An integer; default 0. */
  priority?: number;
  /** Ms after which `ctx.signal` is aborted and the attempt fails. Default: none. */
  timeout?: number;
  /**
   * A module file (absolute, or relative to the working directory) whose default
   * export is the handler, run in its own worker thread: exact CPU and memory
   * figures, a hard `memoryLimitMb`, and a `timeout` that terminates it. No
   * `register` call is needed, and any scheduler on the file may run it.
   */
  module?: string;
  /** With `module`: the worker's heap limit in MB; beyond it the attempt fails. */
  memoryLimitMb?: number;
  triggers?: Trigger[];
  retryPolicy?: RetryPolicy;
  /** Add the task paused: its runs wait until `resumeTask`. Default false. */
  paused?: boolean;
  /**
   * What the node that would run it must allow first (SPEC rule 21): its runs wait,
   * durably, until a scheduler whose device meets them takes them.
   */
  conditions?: Conditions;
  /**
   * When conditions stop holding during an attempt: `'wait'` (default) lets it
   * finish; `'abort'` aborts `ctx.signal` with CONDITION_LOST, records it
   * `interrupted`, and runs it again, with the same attempt number, once they hold.
   */
  conditionLost?: ConditionLostPolicy;
  /**
   * Concurrency groups it belongs to (SPEC rule 16), defined with `defineGroup`: a
   * run starts only where each has a free place, and within each group's rate limit.
   */
  groups?: string[];
  /** At most `max` of its runs start in any window of `per` ms, across every process and node (rule 17). */
  rateLimit?: RateLimit;
}

/** A definition after validation, ready for the store. */
export interface NewTask {
  key: string | null;
  name: string;
  handler: string;
  module: string | null;
  memoryLimitMb: number | null;
  description: string | null;
  argsJson: string;
  priority: number;
  timeoutMs: number | null;
  retryPolicy: NormalizedRetryPolicy | null;
  paused: boolean;
  /** The conditions as stored: JSON with a fixed field order, so equal sets are equal text. */
  conditionsJson: string | null;
  conditionLost: ConditionLostPolicy;
  /** Sorted; null: none. */
  groups: string[] | null;
  rateLimit: RateLimit | null;
  triggers: TriggerSpec[];
}

/** A new task with the schedule each of its triggers starts from, should it be new. */
export type NewTaskWithSchedule = Omit<NewTask, 'triggers'> & { triggers: TriggerState[] };

/** A trigger as read back: its definition and where its schedule stands. */
export type TriggerInfo = TriggerSpec & {
  id: number;
  /** The next nominal slot; `nextFireAt` is that slot plus its jitter. */
  nextSlotAt: number | null;
  nextFireAt: number | null;
  lastFiredAt: number | null;
  fireCount: number;
  missedCount: number;
  coalescedCount: number;
};

/** A task as read back from the store. */
export interface Task {
  id: number;
  key: string | null;
  name: string;
  handler: string;
  module: string | null;
  memoryLimitMb: number | null;
  description: string | null;
  args: JsonValue;
  priority: number;
  timeout: number | null;
  retryPolicy: NormalizedRetryPolicy | null;
  paused: boolean;
  conditions: Conditions | null;
  conditionLost: ConditionLostPolicy;
  /** Its concurrency groups, sorted; empty: none. */
  groups: string[];
  rateLimit: RateLimit | null;
  triggers: TriggerInfo[];
  createdAt: number;
  updatedAt: number;
}

export const MAX_NAME_LENGTH = 200;
export const MAX_KEY_LENGTH = 200;
export const MAX_DESCRIPTION_LENGTH = 10_000;
export const MAX_TRIGGERS = 32;
const PRIORITY_LIMIT = 2 ** 31 - 1;

/** Checks a definition and returns it normalized; throws ValidationError naming the field. */
/** The fields a definition may have: from JavaScript, a misspelt one would be silently ignored. */
const DEFINITION_FIELDS: ReadonlySet<string> = new Set<keyof TaskDefinition>([
  'name',
  'key',
  'handler',
  'description',
  'args',
  'priority',
  'timeout',
  'module',
  'memoryLimitMb',
  'triggers',
  'retryPolicy',
  'paused',
  'conditions',
  'conditionLost',
  'groups',
  'rateLimit',
]);

export function validateDefinition(definition: TaskDefinition<unknown>): NewTask {
  if (definition === null || typeof definition !== 'object') {
    throw new ValidationError('definition', `must be an object, got ${describe(definition)}`);
  }
  for (const field of Object.keys(definition)) {
    if (!DEFINITION_FIELDS.has(field)) {
      throw new ValidationError(field, `is not a field of a task definition (${[...DEFINITION_FIELDS].join(', ')})`);
    }
  }
  const name = nonEmptyString(definition.name, 'name', MAX_NAME_LENGTH);
  const triggers = definition.triggers ?? [];
  if (!Array.isArray(triggers)) throw new ValidationError('triggers', 'must be an array of triggers');
  if (triggers.length > MAX_TRIGGERS) {
    throw new ValidationError('triggers', `must hold at most ${MAX_TRIGGERS} triggers, got ${triggers.length}`);
  }
  const specs = triggers.map((trigger, i) => {
    if (!(trigger instanceof Trigger)) {
      throw new ValidationError(
        `triggers[${i}]`,
        `must be a PeriodicTrigger, EventTrigger or OneTimeTrigger, got ${describe(trigger)}`,
      );
    }
    return trigger.spec;
  });
  if (definition.memoryLimitMb !== undefined && definition.module === undefined) {
    throw new ValidationError('memoryLimitMb', 'applies only to a task with a module');
  }
  if (definition.module !== undefined && definition.handler !== undefined) {
    throw new ValidationError('handler', "a task with a module has no handler: the module's default export is run");
  }
  const module = definition.module === undefined ? null : resolve(nonEmptyString(definition.module, 'module', 4096));
  if (module !== null && !existsSync(module)) {
    throw new ValidationError('module', `no such file: ${module}`);
  }
  if (definition.paused !== undefined && typeof definition.paused !== 'boolean') {
    throw new ValidationError('paused', `must be a boolean, got ${describe(definition.paused)}`);
  }
  return {
    key: definition.key === undefined ? null : nonEmptyString(definition.key, 'key', MAX_KEY_LENGTH),
    name,
    handler: definition.handler === undefined ? name : nonEmptyString(definition.handler, 'handler', MAX_NAME_LENGTH),
    module,
    memoryLimitMb:
      definition.memoryLimitMb === undefined ? null : integerIn(definition.memoryLimitMb, 'memoryLimitMb', 4, 1 << 20),
    description: optionalText(definition.description, 'description', MAX_DESCRIPTION_LENGTH),
    argsJson: toJson(definition.args ?? null, 'args'),
    priority: integerIn(definition.priority ?? 0, 'priority', -PRIORITY_LIMIT, PRIORITY_LIMIT),
    timeoutMs: definition.timeout === undefined ? null : integerIn(definition.timeout, 'timeout', 1, MAX_TIMER_MS),
    retryPolicy: normalizeRetryPolicy(definition.retryPolicy),
    paused: definition.paused ?? false,
    conditionsJson: conditionsJson(definition.conditions),
    conditionLost: oneOf(definition.conditionLost ?? 'wait', 'conditionLost', CONDITION_LOST_POLICIES),
    groups: validateTaskGroups(definition.groups),
    rateLimit: validateRateLimit(definition.rateLimit, 'rateLimit'),
    triggers: specs,
  };
}

function conditionsJson(value: unknown): string | null {
  const conditions = validateConditions(value);
  return conditions === null ? null : JSON.stringify(conditions);
}

function optionalText(value: unknown, field: string, maxLength: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new ValidationError(field, `must be a string, got ${describe(value)}`);
  if (value.length > maxLength) throw new ValidationError(field, `must be at most ${maxLength} characters`);
  return storableText(value, field);
}
