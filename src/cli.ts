#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { BackgroundTasksError } from './errors.js';
import { openSqlite } from './store/sqlite/open.js';

const USAGE = `Usage: background-tasks <command> [--db FILE]

Commands:
  migrate   create the database or apply pending migrations

Options:
  --db FILE   the SQLite file (default: tasks.db)
  --help      show this text`;

/** Exit codes: 0 done, 1 the database refused, 2 bad usage. */
function main(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { db: { type: 'string', default: 'tasks.db' }, help: { type: 'boolean', default: false } },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (command !== 'migrate' || rest.length > 0) {
    console.error(command === undefined ? USAGE : `unknown command: ${[command, ...rest].join(' ')}\n\n${USAGE}`);
    return 2;
  }
  try {
    openSqlite(parsed.values.db).sqlite.close();
    console.log(`${parsed.values.db}: schema is up to date`);
    return 0;
  } catch (err) {
    const code = err instanceof BackgroundTasksError ? ` [${err.code}]` : '';
    console.error(`${parsed.values.db}: ${(err as Error).message}${code}`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
