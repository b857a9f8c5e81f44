import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

// A database of its own on the test server, for one test. Imports nothing of the
// package, so the acceptance suite can use it too.

export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const server = inject('pgUrl');
  const name = `bt_${randomUUID().replaceAll('-', '')}`;
  await adminQuery(server, `CREATE DATABASE ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => adminQuery(server, `DROP DATABASE ${name} WITH (FORCE)`) };
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
