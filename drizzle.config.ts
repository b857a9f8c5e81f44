import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` writes a new migration into migrations/sqlite after a change
// to the schema; the scheduler applies pending ones when it opens a database.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/store/sqlite/schema.ts',
  out: './migrations/sqlite',
  // The package's own record of applied migrations (src/store/sqlite/open.ts), apart
  // from the `__drizzle_migrations` of an application sharing the file.
  migrations: { table: '__background_tasks_migrations' },
});
