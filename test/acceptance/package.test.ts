// The package as an application installs it: imported by name from another folder.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
let app: string | undefined;

afterEach(() => {
  if (app) rmSync(app, { recursive: true, force: true });
});

test('an application in another folder imports the built package, and its migrations are found', () => {
  app = mkdtempSync(join(tmpdir(), 'bt-app-'));
  mkdirSync(join(app, 'node_modules'));
  symlinkSync(root, join(app, 'node_modules', 'background-tasks'), 'dir');
  writeFileSync(
    join(app, 'main.mjs'),
    `import { Scheduler, OneTimeTrigger } from 'background-tasks';
     const scheduler = new Scheduler({ database: 'app.db', maxRunningTasks: 1 });
     scheduler.register('hello', (args) => 'hello ' + args.who);
     const task = await scheduler.addTask({ name: 'hello', args: { who: 'edge' }, triggers: [new OneTimeTrigger({ delay: 0 })] });
     scheduler.on('execution:finished', async (e) => {
       const [row] = await scheduler.executions({ taskId: task.id });
       console.log(JSON.stringify(row));
       await scheduler.close();
     });
     await scheduler.start();`,
  );
  const output = execFileSync(process.execPath, ['main.mjs'], { cwd: app, encoding: 'utf8', timeout: 15_000 });
  expect(JSON.parse(output.trim())).toMatchObject({ status: 'succeeded', result: 'hello edge', attempt: 1 });
  expect(existsSync(join(app, 'app.db'))).toBe(true);
});

test('the package ships its types and migrations', () => {
  expect(existsSync(join(root, 'dist', 'index.d.ts'))).toBe(true);
  expect(existsSync(join(root, 'dist', 'testing.d.ts'))).toBe(true);
  expect(existsSync(join(root, 'migrations', 'sqlite', 'meta', '_journal.json'))).toBe(true);
});
