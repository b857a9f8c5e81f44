import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` writes a new migration into migrations/sqlite after a change
// to the schema; the scheduler applies pending ones when it opens a database.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/store/sqlite/schema.ts',
  out: './migrations/sqlite',
});
