import type { Logger } from 'pino';
import type { Handler } from '../runtime/executor.js';
import type { OperatorStore } from '../store/store.js';

/** How often the report looks for ready runs that no registered handler can take. */
const CHECK_EVERY_MS = 30_000;
/** How often a handler that nobody registered is reported again. */
const REPORT_EVERY_MS = 60_000;

/**
 * The unserved-handler report: now and then, after a wake that left slots free,
 * logs the handlers of ready runs that this process has not registered. Such runs
 * wait (rule 13); they are never failed for it.
 */
export class UnservedReport {
  readonly #store: Pick<OperatorStore, 'unservedHandlers'>;
  readonly #handlers: ReadonlyMap<string, Handler>;
  readonly #logger: Logger;
  readonly #reported = new Map<string, number>();
  #lastCheck = Number.NEGATIVE_INFINITY;

  constructor(store: Pick<OperatorStore, 'unservedHandlers'>, handlers: ReadonlyMap<string, Handler>, logger: Logger) {
    this.#store = store;
    this.#handlers = handlers;
    this.#logger = logger;
  }

  async runOnce(now: number): Promise<void> {
    if (now - this.#lastCheck < CHECK_EVERY_MS) return;
    this.#lastCheck = now;
    for (const handler of await this.#store.unservedHandlers({ now, handlers: [...this.#handlers.keys()] })) {
      const last = this.#reported.get(handler);
      if (last !== undefined && now - last < REPORT_EVERY_MS) continue;
      this.#reported.set(handler, now);
      this.#logger.warn(
        { handler },
        `runs are waiting for handler "${handler}", which this process has not registered`,
      );
    }
  }
}
