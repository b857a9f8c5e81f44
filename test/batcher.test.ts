import { expect, test } from 'vitest';
import { Batcher } from '../src/runtime/batcher.js';

test('items submitted in the same turn are written together; a failing batch is retried item by item', async () => {
  const batches: number[][] = [];
  const batcher = new Batcher<number, number>(async (items) => {
    batches.push(items);
    if (items.includes(3)) throw new Error(`cannot write 3`);
    return items.map((n) => n * 10);
  });
  const results = await Promise.allSettled([1, 2, 3, 4].map((n) => batcher.submit(n)));
  expect(batches).toEqual([[1, 2, 3, 4], [1], [2], [3], [4]]);
  expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
    10,
    20,
    'cannot write 3',
    40,
  ]);
  expect(await batcher.submit(5)).toBe(50);
  expect(batches.at(-1)).toEqual([5]);
});
