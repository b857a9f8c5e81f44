import type { Logger } from 'pino';

/**
 * A handler may leave a promise rejected with nobody listening (a forgotten
 * await). Node's default for that is to crash the process, and with it every
 * other task. While a scheduler runs, and only if the application has not said
 * what it wants by listening itself, such rejections are logged instead.
 */
let holders = 0;
let listener: ((reason: unknown) => void) | undefined;

export function holdStrayRejections(logger: Logger): void {
  holders++;
  if (listener || process.listenerCount('unhandledRejection') > 0) return;
  listener = (reason) =>
    logger.error({ err: reason }, 'a promise was rejected and nobody handled it (a handler forgot to await?)');
  process.on('unhandledRejection', listener);
}

export function releaseStrayRejections(): void {
  holders = Math.max(0, holders - 1);
  if (holders > 0 || !listener) return;
  process.off('unhandledRejection', listener);
  listener = undefined;
}
