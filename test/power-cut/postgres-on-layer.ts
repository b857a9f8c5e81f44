// A PostgreSQL cluster whose data folder lies on the power-cut layer, for the
// PostgreSQL half of the power-cut test. The server runs as the `postgres` user
// (it refuses root), so the layer is mounted with allow_other. Its settings make
// the paths a cut can hurt come within seconds: 1 MiB WAL segments and a small
// max_wal_size (checkpoints: data pages written and synced, pg_control rewritten,
// segments recycled), and an autovacuum that wakes every second (the store's
// compaction: PostgreSQL's reclaimSpace leaves it to autovacuum). A server starting
// after a crash syncs every file in its folder, since the page cache may hold what
// the dead server wrote; after a cut the layer holds nothing unsynced, so syncfs
// (which FUSE does not pass on to the layer) does the same work in a tenth of the time.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ForgetfulFs } from './layer.js';

const SETTINGS = [
  'max_wal_size=4MB',
  'min_wal_size=2MB',
  'checkpoint_timeout=30s',
  'autovacuum_naptime=1s',
  'autovacuum_vacuum_threshold=20',
  'autovacuum_vacuum_scale_factor=0',
  'autovacuum_vacuum_insert_threshold=50',
  'autovacuum_vacuum_insert_scale_factor=0',
  'max_connections=50',
  'recovery_init_sync_method=syncfs',
];

/** The newest PostgreSQL server binaries Debian installed, or null. */
function binDir(): string | null {
  if (!existsSync('/usr/lib/postgresql')) return null;
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    if (existsSync(join(dir, 'initdb'))) return dir;
  }
  return null;
}

/** Why a cluster cannot run on the layer here, or null when it can. */
export function postgresOnLayerUnavailable(): string | null {
  if (binDir() === null) return "no PostgreSQL server binaries (Debian's postgresql package)";
  if (process.getuid?.() !== 0) return 'needs root: the layer is mounted for the postgres user (allow_other)';
  if (spawnSync('id', ['postgres']).status !== 0) return 'no postgres user';
  return null;
}

/** The server's account. */
function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }));
  return { uid: id('-u'), gid: id('-g') };
}

export class PostgresOnLayer {
  readonly fs: ForgetfulFs;
  readonly url: string;
  readonly #bin: string;
  readonly #data: string;
  readonly #run: string; // socket and server log: off the layer
  readonly #port: number;
  readonly #uid: number;
  readonly #gid: number;
  #postmaster: { pid: number; exited: Promise<void> } | null = null;

  private constructor(fs: ForgetfulFs, run: string, port: number) {
    this.fs = fs;
    ({ uid: this.#uid, gid: this.#gid } = postgresUser());
    this.#bin = binDir()!;
    this.#data = join(fs.mountpoint, 'data');
    this.#run = run;
    this.#port = port;
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  /** A new cluster in DIR (initdb'd straight onto the layer's durable side), mounted, not started. */
  static async create(dir: string, port: number): Promise<PostgresOnLayer> {
    const owner = postgresUser().uid;
    chmodSync(dir, 0o755); // the server user walks through it to its data folder
    const durable = join(dir, 'durable');
    const run = join(dir, 'run');
    mkdirSync(join(durable, 'data'), { recursive: true });
    mkdirSync(run);
    chmodSync(durable, 0o755);
    chownSync(join(durable, 'data'), owner, -1);
    chmodSync(join(durable, 'data'), 0o700);
    chownSync(run, owner, -1);
    const bin = binDir()!;
    // Checksums: a torn page that recovery does not mend fails its read.
    const initdb = [join(bin, 'initdb'), '-D', join(durable, 'data'), '-A', 'trust', '-U', 'postgres'];
    execFileSync('runuser', ['-u', 'postgres', '--', ...initdb, '-E', 'UTF8', '--no-sync', '--wal-segsize=1', '-k'], {
      cwd: '/',
      stdio: 'pipe',
    });
    const fs = await ForgetfulFs.mount(dir, { allowOther: true });
    return new PostgresOnLayer(fs, run, port);
  }

  /**
   * Starts the server on what the disk kept (recovering after a cut) and waits until it
   * answers. The postmaster is this process's own child, not pg_ctl's: when the power
   * goes, we reap it at once, where an orphan waits for PID 1 to reap it (a second or
   * two here), and until then its pid in the lock file still answers kill(pid, 0) and
   * keeps the next server from starting.
   */
  async start(): Promise<void> {
    const log = openSync(join(this.#run, 'server.log'), 'a');
    const args = ['-D', this.#data, '-h', '127.0.0.1', '-p', String(this.#port), '-k', this.#run];
    const postmaster = spawn(join(this.#bin, 'postgres'), [...args, ...SETTINGS.flatMap((s) => ['-c', s])], {
      uid: this.#uid,
      gid: this.#gid,
      cwd: '/',
      env: { LANG: 'C', PATH: process.env.PATH },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    const exited = new Promise<void>((resolve) => postmaster.once('exit', () => resolve()));
    let ended = false;
    void exited.then(() => (ended = true));
    const deadline = performance.now() + 120_000;
    while (!ready(join(this.#data, 'postmaster.pid'), postmaster.pid!)) {
      if (ended || performance.now() > deadline)
        throw new Error(
          `the server did not start (${ended ? 'it exited' : 'timed out'}):\n${this.serverLog().slice(-2000)}`,
        );
      await sleep(20);
    }
    this.#postmaster = { pid: postmaster.pid!, exited };
  }

  /**
   * The power goes for the server: the postmaster is stopped (it can start no one),
   * then it and every process it started get SIGKILL. Resolves once all are gone;
   * one blocked at an armed point goes only after the cut, so cut before awaiting.
   */
  powerOff(): Promise<void> {
    const postmaster = this.#postmaster;
    if (postmaster === null) return Promise.resolve();
    this.#postmaster = null;
    signal(postmaster.pid, 'SIGSTOP');
    const backends = childrenOf(postmaster.pid);
    for (const pid of [...backends, postmaster.pid]) signal(pid, 'SIGKILL');
    return (async () => {
      await postmaster.exited;
      // An orphaned backend's zombie holds nothing (its memory is released at exit), so dead is enough.
      while (backends.some(running)) await sleep(10);
    })();
  }

  /** Runs pg_amcheck over every table and index (heap, and each index against its heap): '' or its report. */
  check(): string {
    const args = ['-h', '127.0.0.1', '-p', String(this.#port), '-U', 'postgres', '-d', 'postgres'];
    const result = spawnSync(join(this.#bin, 'pg_amcheck'), [...args, '--install-missing', '--heapallindexed'], {
      encoding: 'utf8',
    });
    return result.status === 0 ? '' : `pg_amcheck (exit ${result.status}): ${result.stdout}${result.stderr}`;
  }

  client(): pg.Client {
    return new pg.Client({ connectionString: this.url });
  }

  serverLog(): string {
    return readFileSync(join(this.#run, 'server.log'), 'utf8');
  }

  /** Stops the server as the power would, and unmounts the layer. */
  async destroy(): Promise<void> {
    await this.powerOff();
    await this.fs.unmount();
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone already.
  }
}

/** Not yet dead: still there, and not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The lock file names this postmaster and says it accepts connections (what pg_ctl -w waits for). */
function ready(lockFile: string, pid: number): boolean {
  try {
    const lines = readFileSync(lockFile, 'utf8').split('\n');
    return Number(lines[0]) === pid && lines[7]?.trim() === 'ready';
  } catch {
    return false;
  }
}

/** The processes whose parent is `pid` (a backend sets up a session of its own, so not a process group). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === pid) children.push(Number(entry));
    } catch {
      // It ended while we looked.
    }
  }
  return children;
}
