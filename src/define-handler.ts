// A handler and the tasks that run it, declared together so that the compiler
// checks each task's args against the type the handler takes.
import type { JsonArgsCheck } from './json.js';
import type { Handler } from './runtime/executor.js';
import type { TaskDefinition } from './task.js';
import { describe, nonEmptyString } from './validate.js';
import { ValidationError } from './errors.js';

/** What a task of a defined handler declares: no handler or module (the handler is given), `name` optional. */
export type HandlerTaskDefinition<Args> = Omit<
  TaskDefinition<Args>,
  'handler' | 'module' | 'memoryLimitMb' | 'name'
> & {
  /** Default: the handler's name. */
  name?: string;
} & ([Args] extends [null | undefined] ? unknown : { args: Args });

export interface DefinedHandler<Args> {
  readonly name: string;
  readonly handler: Handler<Args>;
  /** A definition for `addTask` of a task this handler runs; its `args` must be `Args`. */
  task(definition: HandlerTaskDefinition<Args> & JsonArgsCheck<Args>): TaskDefinition<Args>;
}

/**
 * Names a handler and the type of args it takes, for `scheduler.register(defined)`
 * and `scheduler.addTask(defined.task({ args, ... }))`:
 *
 *   const backup = defineHandler('backup', async (args: { path: string }, ctx) => { ... });
 *   scheduler.register(backup);
 *   await scheduler.addTask(backup.task({ key: 'nightly', args: { path: '/var/lib/agent' } }));
 */
export function defineHandler<Args = null>(name: string, handler: Handler<Args>): DefinedHandler<Args> {
  nonEmptyString(name, 'name', 200);
  if (typeof handler !== 'function')
    throw new ValidationError('handler', `must be a function, got ${describe(handler)}`);
  return Object.freeze({
    name,
    handler,
    task: (definition: HandlerTaskDefinition<Args>): TaskDefinition<Args> => {
      const { name: taskName, ...rest } = definition as HandlerTaskDefinition<Args> & { handler?: unknown };
      if ('handler' in rest || 'module' in rest) {
        throw new ValidationError('handler' in rest ? 'handler' : 'module', `is given by defineHandler("${name}")`);
      }
      return { ...rest, name: taskName ?? name, handler: name } as TaskDefinition<Args>;
    },
  });
}

export function isDefinedHandler(value: unknown): value is DefinedHandler<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as DefinedHandler<unknown>).name === 'string' &&
    typeof (value as DefinedHandler<unknown>).handler === 'function' &&
    typeof (value as DefinedHandler<unknown>).task === 'function'
  );
}
