import { defineConfig } from 'drizzle-kit';

// `npm run db:generate:pg` writes a new PostgreSQL migration into migrations/pg
// after a change to src/store/postgres/schema.ts.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/store/postgres/schema.ts',
  out: './migrations/pg',
});
