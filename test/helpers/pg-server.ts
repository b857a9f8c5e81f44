import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

// Global setup of the `postgres` test project: the server named by BT_TEST_PG_URL
// (as .ci/run starts one), or else a throw-away cluster of its own.

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}

const SCRIPT = fileURLToPath(new URL('../../scripts/pg-throwaway.sh', import.meta.url));

export default async function setup(project: TestProject): Promise<() => void> {
  let url = process.env.BT_TEST_PG_URL;
  let stop = (): void => undefined;
  if (!url) {
    const dir = mkdtempSync(join(tmpdir(), 'background-tasks-pg-'));
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    url = execFileSync('bash', [SCRIPT, 'start', dir, String(port)], { encoding: 'utf8' }).trim();
    stop = () => void execFileSync('bash', [SCRIPT, 'stop', dir]);
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.end();
  project.provide('pgUrl', url);
  return stop;
}
