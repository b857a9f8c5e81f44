import { test } from 'vitest';
import { contend } from './helpers/flow-contention.js';
import { tempDbPath } from './helpers/setup.js';

test(
  'three processes on one file: no group ever over maxRunning, no rate limit over in any window',
  { timeout: 90_000 },
  () => contend(tempDbPath()),
);
