import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './setup.js';

/** A drizzle-kit migrations folder as a release that shipped its first `count` migrations had it. */
export function migrationsOfRelease(folder: string, count: number): string {
  const copy = join(tempDir(), 'migrations');
  mkdirSync(join(copy, 'meta'), { recursive: true });
  const journal = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as {
    entries: { tag: string }[];
  };
  journal.entries = journal.entries.slice(0, count);
  for (const { tag } of journal.entries) copyFileSync(join(folder, `${tag}.sql`), join(copy, `${tag}.sql`));
  writeFileSync(join(copy, 'meta', '_journal.json'), JSON.stringify(journal));
  return copy;
}
