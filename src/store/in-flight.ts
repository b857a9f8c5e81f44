// Store operations still waiting on a network database. A fake clock's settle()
// waits for them, so that tests drive a PostgreSQL-backed scheduler by hand as
// they do a SQLite one (whose operations finish before they return).

let pending = 0;
let waiters: (() => void)[] = [];

/** Counts `work` as in flight until it settles. */
export function track<T>(work: Promise<T>): Promise<T> {
  pending++;
  return work.finally(() => {
    pending--;
    if (pending > 0) return;
    const ready = waiters;
    waiters = [];
    for (const resolve of ready) resolve();
  });
}

export function isIdle(): boolean {
  return pending === 0;
}

/** Resolves when no tracked operation is in flight. */
export function whenIdle(): Promise<void> {
  return pending === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
}
