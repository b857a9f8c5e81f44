// Where a module task's worker thread starts: worker-entry.js beside this file.
// (The test suite, which runs the TypeScript sources, points this module at the
// built file in vitest.config.ts: a worker thread needs JavaScript.)
export const WORKER_ENTRY = new URL('./worker-entry.js', import.meta.url);
