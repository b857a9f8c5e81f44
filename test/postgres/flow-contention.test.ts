import { test } from 'vitest';
import { contend } from '../helpers/flow-contention.js';
import { testDatabase } from '../helpers/setup.js';

test(
  'three nodes on PostgreSQL: no group ever over maxRunning, no rate limit over in any window',
  { timeout: 90_000 },
  () => contend(testDatabase()),
);
