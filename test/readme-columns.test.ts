import { readFileSync } from 'node:fs';
import { is } from 'drizzle-orm';
import { getTableConfig, SQLiteTable } from 'drizzle-orm/sqlite-core';
import * as sqliteSchema from '../src/store/sqlite/schema.js';
import { expect, test } from 'vitest';
import * as schema from '../src/schema.js';

// Operators read the history with SQL from the README's table of columns: every
// column the package stores is named there, under its table.

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('## Tables you can query'), readme.indexOf('## Resource use'));

test("the README's 'Tables you can query' names every column of every table", () => {
  const missing: string[] = [];
  // Every table of the schema: a new one cannot be left out of the README.
  const tables = Object.values(sqliteSchema).filter((value) => is(value, SQLiteTable));
  expect(tables.length).toBeGreaterThanOrEqual(7);
  // …and each is exported for typed queries.
  for (const table of tables) expect(Object.values(schema)).toContain(table);
  for (const table of tables) {
    const { name, columns } = getTableConfig(table);
    const start = section.indexOf(`**\`${name}\`**`);
    expect(start, `README describes ${name}`).toBeGreaterThanOrEqual(0);
    const next = section.indexOf('**`', start + name.length + 6);
    const text = section.slice(start, next === -1 ? undefined : next);
    for (const column of columns) if (!text.includes(`\`${column.name}\``)) missing.push(`${name}.${column.name}`);
  }
  expect(missing).toEqual([]);
});
