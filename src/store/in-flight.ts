// Store operations still waiting on a network database. A fake clock's settle()
// waits for them, so that tests drive a PostgreSQL-backed scheduler by hand as
// they do a SQLite one (whose operations finish before they return). Off until the
// testing kit turns it on (a FakeClock does): in production `track` is a no-op.

let tracking = false;
let pending = 0;
let waiters: (() => void)[] = [];

/** Starts counting store operations in flight, for settle(). */
export function trackOperations(): void {
  tracking = true;
}

/** Counts `work` as in flight until it settles, when tracking is on. */
export function track<T>(work: Promise<T>): Promise<T> {
  if (!tracking) return work;
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
