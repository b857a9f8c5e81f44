// vitest.config.ts puts this in place of src/runtime/worker-entry-url.ts: the
// tests run the TypeScript sources, and a worker thread needs the built JavaScript.
export const WORKER_ENTRY = new URL('../../dist/runtime/worker-entry.js', import.meta.url);
