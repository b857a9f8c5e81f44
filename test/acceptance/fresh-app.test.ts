// A new user's application, written from the README: a fresh folder installs the
// package (a tarball packed from this checkout, as npm packs a git dependency after
// its `prepare`), keeps its own drizzle tables in the scheduler's file and migrates
// them with drizzle-kit, runs the scheduler, reads `executions` with typed drizzle
// queries, and type-checks under `strict` (with `skipLibCheck: false` as far as
// drizzle-orm's own declarations allow).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { tempDir } from '../helpers/setup.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The README's fenced blocks of one language, in order. */
function readmeBlocks(language: string): string[] {
  return [...readme.matchAll(new RegExp('^```' + language + '\\n([\\s\\S]*?)^```', 'gm'))].map((m) => m[1]!);
}

/** A README block that is a whole program (it has its imports), by a line it contains. */
function readmeProgram(language: string, marker: string): string {
  const block = readmeBlocks(language).find((b) => b.includes(marker));
  if (!block) throw new Error(`README: no ${language} block with "${marker}"`);
  return block;
}

const APP_SCHEMA = `import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

// The application's own table, in the scheduler's file.
export const devices = sqliteTable('devices', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  serial: text('serial').notNull().unique(),
  provisionedAt: integer('provisioned_at'),
});
`;

const APP_MAIN = `import Database from 'better-sqlite3';
import { and, desc, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { defineHandler, Scheduler, type ExecutionEvent } from 'background-tasks';
import { executions } from 'background-tasks/schema';
import { devices } from './schema.js';

const db = drizzle(new Database('tasks.db'));
db.insert(devices).values({ serial: 'edge-1' }).onConflictDoNothing().run();

const scheduler = new Scheduler({ database: 'tasks.db', maxRunningTasks: 2 });
const provision = defineHandler('provision', async (args: { serial: string }, ctx) => {
  ctx.signal.throwIfAborted();
  db.update(devices).set({ provisionedAt: Date.now() }).where(eq(devices.serial, args.serial)).run();
  return { serial: args.serial };
});
scheduler.register(provision);

const failures: string[] = [];
scheduler.on('execution:failed', (e: ExecutionEvent) => failures.push(e.error?.code ?? 'no code'));

const task = await scheduler.addTask(provision.task({ key: 'provision-edge-1', args: { serial: 'edge-1' } }));
// @ts-expect-error the handler's args type is checked: serial is a string
provision.task({ args: { serial: 1 } });
await scheduler.start();
const outcome = await scheduler.waitForRun(await scheduler.runNow(task.id), { timeout: 30_000 });
await scheduler.close();

const succeeded = db
  .select({ taskId: executions.taskId, status: executions.status, result: executions.result, final: executions.final })
  .from(executions)
  .where(and(eq(executions.taskId, task.id), eq(executions.status, 'succeeded')))
  .orderBy(desc(executions.id))
  .all();
const status: 'running' | 'succeeded' | 'failed' | 'interrupted' | 'cancelled' | 'snoozed' | undefined = succeeded[0]?.status;
const final: boolean | undefined = succeeded[0]?.final;
// @ts-expect-error a status the column cannot hold
db.select().from(executions).where(eq(executions.status, 'done'));

console.log(JSON.stringify({
  outcome: outcome.status,
  status,
  final,
  result: succeeded[0]?.result,
  devices: db.select().from(devices).all().map((d) => ({ serial: d.serial, provisioned: d.provisionedAt !== null })),
  failures,
}));
`;

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    skipLibCheck: false,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2022',
    types: ['node'],
    rootDir: 'src',
    outDir: 'dist',
  },
  include: ['src'],
};

const DRIZZLE_CONFIG = `import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './src/schema.ts',
  out: './drizzle',
  dbCredentials: { url: 'tasks.db' },
});
`;

test(
  'an application in a fresh folder, from the README: installs, migrates its own tables with drizzle-kit, runs, queries typed, type-checks strictly',
  { timeout: 300_000 },
  () => {
    expect(existsSync(join(root, 'dist', 'index.js')), 'npm test builds dist first').toBe(true);
    const work = process.env.BT_KEEP_APP ?? tempDir(); // BT_KEEP_APP=DIR keeps the app to look at
    const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    const tarball = join(work, packed.split('\n').at(-1)!);

    const app = join(work, 'edge-agent');
    mkdirSync(join(app, 'src'), { recursive: true });
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({
        name: 'edge-agent',
        private: true,
        type: 'module',
        dependencies: {
          'background-tasks': `file:${tarball}`,
          'drizzle-orm': rootManifest.dependencies['drizzle-orm'],
        },
        devDependencies: {
          'drizzle-kit': rootManifest.devDependencies['drizzle-kit'],
          typescript: rootManifest.devDependencies['typescript'],
          '@types/node': rootManifest.devDependencies['@types/node'],
        },
      }),
    );
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    writeFileSync(
      join(app, 'tsconfig.core.json'),
      JSON.stringify({
        extends: './tsconfig.json',
        include: [],
        files: ['src/readme-example.ts', 'src/readme-testing.ts'],
      }),
    );
    writeFileSync(join(app, 'drizzle.config.ts'), DRIZZLE_CONFIG);
    writeFileSync(
      join(app, 'drizzle.tasks.config.js'),
      readmeProgram('js', "migrations: { table: '__background_tasks_migrations' }"),
    );
    writeFileSync(join(app, 'src', 'schema.ts'), APP_SCHEMA);
    writeFileSync(join(app, 'src', 'main.ts'), APP_MAIN);
    writeFileSync(join(app, 'src', 'readme-example.ts'), readmeProgram('ts', 'defineHandler('));
    writeFileSync(join(app, 'src', 'readme-query.ts'), readmeProgram('ts', "from 'background-tasks/schema'"));
    writeFileSync(
      join(app, 'src', 'readme-testing.ts'),
      "import { Scheduler } from 'background-tasks';\n" + readmeProgram('ts', "from 'background-tasks/testing'"),
    );

    const sh = (command: string, args: string[]) => {
      try {
        return execFileSync(command, args, { cwd: app, encoding: 'utf8', stdio: 'pipe', timeout: 240_000 });
      } catch (err) {
        const { stdout, stderr } = err as { stdout?: string; stderr?: string };
        throw new Error(`${[command, ...args].join(' ')} failed:\n${stdout ?? ''}${stderr ?? ''}`);
      }
    };
    // Install scripts are skipped (no prebuilt better-sqlite3 is reachable here, and
    // compiling it takes minutes): the checkout's own build of the same version stands in.
    sh('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund']);
    const binary = join('build', 'Release', 'better_sqlite3.node');
    mkdirSync(join(app, 'node_modules', 'better-sqlite3', 'build', 'Release'), { recursive: true });
    copyFileSync(
      join(root, 'node_modules', 'better-sqlite3', binary),
      join(app, 'node_modules', 'better-sqlite3', binary),
    );
    expect(existsSync(join(app, 'node_modules', 'pg')), 'pg is an optional peer').toBe(false);
    expect(existsSync(join(app, 'node_modules', '.bin', 'background-tasks'))).toBe(true);

    // Its own schema through drizzle-kit, the package's migrations through the README's
    // config, in the same file, in that order (the scheduler then has nothing to apply).
    const kit = join(app, 'node_modules', 'drizzle-kit', 'bin.cjs');
    sh(process.execPath, [kit, 'generate', '--name', 'devices']);
    expect(readdirSync(join(app, 'drizzle')).some((f) => f.endsWith('_devices.sql'))).toBe(true);
    sh(process.execPath, [kit, 'migrate']);
    sh(process.execPath, [kit, 'migrate', '--config', 'drizzle.tasks.config.js']);

    // The package's own types (the README's programs that use no drizzle) pass strict
    // with skipLibCheck false. drizzle-orm 0.45's declarations do not (drizzle-orm
    // issue 5187: its mysql, singlestore and gel builders fail to type-check), so the
    // whole app, which imports drizzle, may fail only inside drizzle-orm's own files.
    const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
    sh(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.core.json']);
    const whole = spawnSync(process.execPath, [tsc, '--noEmit', '--pretty', 'false'], { cwd: app, encoding: 'utf8' });
    const errors = whole.stdout.split('\n').filter((line) => /^\S.*\(\d+,\d+\): error TS/.test(line));
    expect(whole.status === 0 || errors.length > 0, whole.stdout + whole.stderr).toBe(true);
    expect(errors.filter((line) => !line.startsWith('node_modules/drizzle-orm/'))).toEqual([]);
    sh(process.execPath, [tsc, '--skipLibCheck']);
    const printed = sh(process.execPath, [join('dist', 'main.js')]);
    expect(JSON.parse(printed.trim().split('\n').at(-1)!)).toEqual({
      outcome: 'succeeded',
      status: 'succeeded',
      final: true,
      result: '{"serial":"edge-1"}',
      devices: [{ serial: 'edge-1', provisioned: true }],
      failures: [],
    });

    // Both sets of migrations are recorded apart, and a second drizzle-kit run of the
    // application's own, after the scheduler, still finds nothing to do.
    sh(process.execPath, [kit, 'migrate']);
    const file = new Database(join(app, 'tasks.db'), { readonly: true });
    try {
      const count = (table: string) => (file.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      expect(count('__drizzle_migrations')).toBe(1);
      expect(count('__background_tasks_migrations')).toBeGreaterThan(0);
      expect(file.pragma('auto_vacuum', { simple: true })).toBe(2);
    } finally {
      file.close();
    }
    // The CLI beside it, from the installed bin.
    const cli = JSON.parse(sh(join(app, 'node_modules', '.bin', 'background-tasks'), ['tasks', '--json'])) as {
      key: string;
      executions: number;
    }[];
    expect(cli).toEqual([expect.objectContaining({ key: 'provision-edge-1', executions: 1 })]);
  },
);
