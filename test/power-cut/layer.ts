// The power-cut layer from a test: forgetful_fs.py mounted on a folder, driven by
// JSON lines on its stdin. See forgetful_fs.py for what it keeps and forgets.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./forgetful_fs.py', import.meta.url));
const PYTHON = '/usr/bin/python3';

/** Why the layer cannot run here, or null when it can: FUSE, fusepy, and the right to mount. */
export function powerCutUnavailable(): string | null {
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse on this machine';
  if (!existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import fusepy']).status !== 0)
    return 'python3-fusepy is not installed (Debian: apt-get install python3-fusepy)';
  if (process.getuid?.() !== 0 && spawnSync('sh', ['-c', 'command -v fusermount']).status !== 0)
    return 'not root and no fusermount to mount with';
  return null;
}

export type Keep = 'none' | 'prefix' | 'pages';
export type ArmedOp = 'fsync' | 'write' | 'truncate';

export interface MountOptions {
  /** Other users may use the mount (root only): a PostgreSQL server runs as its own. */
  allowOther?: boolean;
}

export interface CutReport {
  pending: number;
  kept: number;
}

export class ForgetfulFs {
  readonly durable: string;
  readonly mountpoint: string;
  #process: ChildProcess;
  #queue: Record<string, unknown>[] = [];
  #waiters: ((message: Record<string, unknown>) => void)[] = [];
  #events: ((message: Record<string, unknown>) => void)[] = [];
  #exited: Promise<void>;

  private constructor(dir: string, options: MountOptions) {
    this.durable = join(dir, 'durable');
    this.mountpoint = join(dir, 'mnt');
    mkdirSync(this.mountpoint, { recursive: true });
    const args = [SCRIPT, this.durable, this.mountpoint, ...(options.allowOther ? ['--allow-other'] : [])];
    this.#process = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#exited = new Promise((resolve) => this.#process.once('exit', () => resolve()));
    createInterface({ input: this.#process.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as Record<string, unknown>;
      if (message.event === 'armed') for (const listener of this.#events.splice(0)) listener(message);
      else if (this.#waiters.length > 0) this.#waiters.shift()!(message);
      else this.#queue.push(message);
    });
  }

  /** Mounts the layer at DIR/mnt over DIR/durable (kept from an earlier mount, if any). */
  static async mount(dir: string, options: MountOptions = {}): Promise<ForgetfulFs> {
    const fs = new ForgetfulFs(dir, options);
    const first = await fs.#next();
    if (first.event !== 'mounted') throw new Error(`forgetful_fs: ${JSON.stringify(first)}`);
    return fs;
  }

  #next(): Promise<Record<string, unknown>> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift()!);
    return new Promise((resolve, reject) => {
      this.#waiters.push(resolve);
      void this.#exited.then(() => reject(new Error('forgetful_fs exited')));
    });
  }

  async #command(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.#process.stdin!.write(JSON.stringify(command) + '\n');
    const answer = await this.#next();
    if (answer.ok !== true) throw new Error(`forgetful_fs: ${JSON.stringify(answer)}`);
    return answer;
  }

  /** The power goes: unsynced writes are dropped, or a random prefix or subset of their pages kept. */
  async cut(keep: Keep, seed: number): Promise<CutReport> {
    const answer = await this.#command({ cmd: 'cut', keep, seed });
    return { pending: answer.pending as number, kept: answer.kept as number };
  }

  /**
   * The next `op` (after `after` more) on a file whose path matches the regular
   * expression `match` (Python's syntax) blocks; `reached`
   * resolves then. (Wrapped: an async function would wait for a promise it returns.)
   */
  async arm(op: ArmedOp, match: string, after: number): Promise<{ reached: Promise<void> }> {
    const reached = new Promise<void>((resolve) => this.#events.push(() => resolve()));
    await this.#command({ cmd: 'arm', op, match, after });
    return { reached };
  }

  async stats(): Promise<{ fsync: Record<string, number>; fsyncdir: number; writes: number; pending: number }> {
    return (await this.#command({ cmd: 'stats' })) as never;
  }

  async unmount(): Promise<void> {
    const umount = process.getuid?.() === 0 ? ['umount', [this.mountpoint]] : ['fusermount', ['-u', this.mountpoint]];
    try {
      execFileSync(umount[0] as string, umount[1] as string[], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', this.mountpoint], { stdio: 'pipe' });
    }
    await this.#exited;
  }
}
