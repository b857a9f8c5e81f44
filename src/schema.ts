// `background-tasks/schema`: the package's drizzle tables, for typed queries over
// them (the execution history above all) from an application's own drizzle
// database on the same file or server. Read them freely; write them only through
// the scheduler, which keeps the rules.
//
//   import { executions } from 'background-tasks/schema';
//   db.select().from(executions).where(eq(executions.status, 'failed'));
//
// The SQLite tables are the default exports; PostgreSQL's (in the
// `background_tasks` schema) are under `pg`.
export {
  eventKeys,
  executions,
  rateStarts,
  runs,
  schedulers,
  spentKeys,
  taskGroups,
  tasks,
  triggers,
} from './store/sqlite/schema.js';
export * as pg from './store/postgres/schema.js';
