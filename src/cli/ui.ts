import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Command } from 'commander';
import { isLoopback } from '../dashboard/security.js';
import { NoFileError, UsageError } from './context.js';

// `background-tasks ui`: the dashboard on a port of its own, until Ctrl-C.

export interface UiContext {
  database: () => string;
  noFileYet: (db: string) => boolean;
  out: (text: string) => void;
}

export function uiCommand(program: Command, { database, noFileYet, out }: UiContext): void {
  program
    .command('ui')
    .description('serve the web dashboard (127.0.0.1 unless --host; actions only with --allow-actions, behind a token)')
    .option('--port <port>', 'port to listen on (0: any free one)', '4280')
    .option('--host <host>', 'address to listen on; another than loopback needs --token', '127.0.0.1')
    .option(
      '--allow-actions',
      'enable run now, pause, resume, remove, fire and retry (a token is made if none is given)',
    )
    .option('--token <token>', 'asked of every request (or BACKGROUND_TASKS_TOKEN)')
    .action(async (options: { port: string; host: string; allowActions?: boolean; token?: string }) => {
      const db = database();
      if (noFileYet(db)) throw new NoFileError(`${db}: no such database file`);
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535)
        throw new UsageError(`--port: not a port: ${options.port}`);
      let token = options.token ?? process.env.BACKGROUND_TASKS_TOKEN;
      if (!isLoopback(options.host) && token === undefined) {
        throw new UsageError(`--host ${options.host}: an address other than loopback needs --token`);
      }
      if (options.allowActions && token === undefined) token = randomBytes(18).toString('base64url');
      // Loaded here: the other commands need none of the web server.
      const { createDashboard } = await import('../dashboard/index.js');
      const dashboard = await createDashboard({
        database: db,
        allowActions: options.allowActions ?? false,
        ...(token === undefined ? {} : { token }),
      });
      const server = createServer(dashboard);
      server.listen(port, options.host);
      await once(server, 'listening');
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      out(`dashboard on http://${host}:${bound}/${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`);
      out(options.allowActions ? 'actions on' : 'read-only (no actions)');
      await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await dashboard.close();
    });
}
