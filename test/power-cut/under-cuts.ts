// The scheduler under power cuts, on either store. A child process
// (fixtures/power-cut/scheduler-child.mjs) works on the database and reports each
// acknowledgement after its promise resolved; at a random moment, or when the layer
// reaches an armed point, it is killed with SIGKILL together with whatever else the
// power feeds (a database server), the power is cut (unsynced writes dropped, or a
// random prefix of them kept, or a random subset of their pages: torn writes), and
// what the disk kept is checked: the store's own integrity check, every
// acknowledged task, firing and execution present, no id handed out twice. The
// next child opens that database: it must resume.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Kept } from './kept.js';
import type { ArmedOp, ForgetfulFs, Keep } from './layer.js';

export const KEEPS: Keep[] = ['none', 'prefix', 'pages'];
const KEEP_LAST = 5; // the child's history policy
const schedulerChild = fileURLToPath(new URL('../fixtures/power-cut/scheduler-child.mjs', import.meta.url));
const loaded = performance.now();
const trace = (line: string) =>
  void (
    process.env.BT_POWER_CUT_TRACE && console.error(`${((performance.now() - loaded) / 1000).toFixed(2)} s ${line}`)
  );

/** A point in the store's life where the power going hurts most: the (0..upTo)th `op` on a path matching `match`. */
export interface ArmedPoint {
  op: ArmedOp;
  match: string;
  upTo: number;
  what: string;
}

export interface Machine {
  fs: ForgetfulFs;
  /** What the child opens: a file under the layer, or a URL. */
  database: string;
  /** Where a cut is armed, in turn; null is a random moment. */
  armed: (ArmedPoint | null)[];
  /** Everything else the power feeds goes; resolves once gone (cut before awaiting: one may be held at an armed point). */
  powerOff(): Promise<void>;
  /** The power is back: what must run before the child can (a server, recovering). */
  powerOn(): Promise<void>;
  /** What the disk kept, to read. */
  kept(): Promise<Kept>;
}

export interface CutsReport {
  summary: string;
  /** What fails either mode: an integrity failure, an id handed out twice, a scheduler that could not resume; and under 'full', a loss. */
  problems: string[];
  integrityFailures: number;
  tasks: number;
  executions: number;
}

/** One line of the scheduler child's output. */
interface Ack {
  t: 'resumed' | 'task' | 'fire' | 'exec';
  listener: number;
  id: number;
  key: string;
  runIds: number[];
  runId: number;
  taskId: number;
  status: string;
}

/** A child's output, line by line, until it has closed its stdout. */
export function run(args: string[]) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const lines: string[] = [];
  const listeners: (() => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const listener of listeners) listener();
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  /** Resolves when `enough(lines)` holds, the child ends, or `ms` pass. */
  const until = (enough: (lines: string[]) => boolean, ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      const check = () => {
        if (enough(lines)) {
          clearTimeout(timer);
          resolve();
        }
      };
      listeners.push(check);
      void closed.then(() => {
        clearTimeout(timer);
        resolve();
      });
      check();
    });
  /** SIGKILL; resolves once it is gone. (A child blocked at an armed point dies only after the cut.) */
  const kill = () => {
    child.kill('SIGKILL');
    return closed;
  };
  return { lines, until, kill, stderr: () => stderr };
}

export async function underPowerCuts(
  machine: Machine,
  durability: 'full' | 'normal',
  cuts: number,
): Promise<CutsReport> {
  const { fs } = machine;
  const keys = new Map<string, number>(); // acknowledged task key → id
  const taskIds = new Map<number, string>();
  const runIds = new Set<number>();
  const executions = new Map<number, { runId: number; taskId: number; status: string }>();
  const problems: string[] = [];
  let listener = 0;
  let epoch = Date.now();
  let lost = 0;
  let acknowledged = 0;
  let armedReached = 0;
  let integrityFailures = 0;
  await machine.powerOn();
  for (let cut = 0; cut < cuts; cut++) {
    const armed = machine.armed[cut % machine.armed.length]!;
    const reached = armed
      ? (await fs.arm(armed.op, armed.match, Math.floor(Math.random() * (armed.upTo + 1)))).reached
      : undefined;
    const began = performance.now();
    trace(`cut ${cut}: ${armed?.what ?? 'random'}`);
    const child = run([schedulerChild, machine.database, durability, String(epoch), String(1000 + cut)]);
    let hit = false;
    void reached?.then(() => (hit = true));
    await Promise.race([
      ...(reached ? [reached] : []),
      child.until((lines) => lines.some((l) => l.includes('"resumed"')), 20_000),
    ]);
    // An armed point may come while it opens the database (migrating, recovering): a cut then is fine too.
    const resumed = child.lines.some((l) => l.includes('"resumed"'));
    if (!resumed && !hit) problems.push(`cut ${cut}: the scheduler did not resume: ${child.stderr().slice(0, 500)}`);
    const target = child.lines.length + 10 + Math.floor(Math.random() * 60);
    if (hit) {
      // The power goes at the armed point.
    } else if (reached) {
      await Promise.race([reached, child.until(() => false, 4_000)]);
    } else {
      await child.until((lines) => lines.length >= target, 5_000);
    }
    trace(`cut ${cut}: ${child.lines.length} lines, power off`);
    const gone = Promise.all([child.kill(), machine.powerOff()]);
    if (hit) armedReached++;
    await fs.cut(KEEPS[cut % KEEPS.length]!, cut);
    await gone;
    trace(`cut ${cut}: cut, power on`);
    await machine.powerOn();
    epoch = Math.max(Date.now(), epoch + Math.ceil((performance.now() - began) * 60) + 1_000);

    // What the child acknowledged.
    for (const line of child.lines) {
      const ack = JSON.parse(line) as Ack;
      if (ack.t !== 'resumed') acknowledged++;
      if (ack.t === 'resumed') listener = ack.listener;
      if (ack.t === 'task') {
        const other = taskIds.get(ack.id);
        if (other !== undefined && other !== ack.key) problems.push(`task id ${ack.id} handed out twice`);
        keys.set(ack.key, ack.id);
        taskIds.set(ack.id, ack.key);
      }
      if (ack.t === 'fire')
        for (const id of ack.runIds) {
          if (runIds.has(id)) problems.push(`run id ${id} handed out twice`);
          runIds.add(id);
        }
      if (ack.t === 'exec') {
        if (executions.has(ack.id)) problems.push(`execution id ${ack.id} handed out twice`);
        executions.set(ack.id, { runId: ack.runId, taskId: ack.taskId, status: ack.status });
      }
    }

    // What the disk kept.
    trace(`cut ${cut}: on, checking`);
    const kept = await machine.kept();
    try {
      const integrity = await kept.integrity();
      if (integrity !== '') {
        integrityFailures++;
        problems.push(`cut ${cut}: ${integrity}`);
        continue;
      }
      if (!(await kept.hasSchema())) {
        lost += keys.size + runIds.size + executions.size;
        if (durability === 'full') problems.push(`cut ${cut}: the schema is gone`);
        keys.clear();
        taskIds.clear();
        runIds.clear();
        executions.clear();
        continue;
      }
      const missingTasks = await kept.missingTasks([...keys.keys()]);
      const unknownRuns = await kept.unknownRuns([...runIds]);
      const found = await kept.executions([...executions.keys()]);
      const missing = [...missingTasks].map((key) => `task ${key}`);
      // A fired run that ran may have had its execution pruned (keepLast) since.
      const listenerRuns = (await kept.executionsOf(listener)).length;
      if (listenerRuns < KEEP_LAST) missing.push(...[...unknownRuns].map((id) => `run ${id}`));
      const ofTask = new Map<number, number[]>();
      for (const [id, e] of executions) {
        const row = found.get(id);
        if (row === undefined) {
          if (!ofTask.has(e.taskId)) ofTask.set(e.taskId, await kept.executionsOf(e.taskId));
          // Pruned, if KEEP_LAST newer executions of its task are kept.
          if (ofTask.get(e.taskId)!.filter((other) => other > id).length < KEEP_LAST) missing.push(`execution ${id}`);
        } else if (row.runId !== e.runId || row.status !== e.status) {
          missing.push(`execution ${id} changed to ${JSON.stringify(row)}`);
        }
      }
      // Ids are handed out once: the sequences never fall behind what was acknowledged.
      const behind = async (table: 'tasks' | 'runs' | 'executions', ids: Iterable<number>) => {
        const top = Math.max(0, ...ids);
        if ((await kept.sequence(table)) < top) missing.push(`${table} sequence below ${top}`);
      };
      await behind('tasks', taskIds.keys());
      await behind('runs', runIds);
      await behind('executions', executions.keys());
      lost += missing.length;
      if (durability === 'full' && missing.length > 0)
        problems.push(`cut ${cut} (${armed?.what ?? 'random'}): lost ${missing.slice(0, 5).join(', ')}`);
      if (durability === 'normal') {
        // What is gone (lost, or pruned) is gone for good, and its id may come again
        // once lost: forget it, so later cuts are checked on their own.
        for (const key of missingTasks) {
          taskIds.delete(keys.get(key)!);
          keys.delete(key);
        }
        for (const id of unknownRuns) runIds.delete(id);
        for (const id of executions.keys()) if (!found.has(id)) executions.delete(id);
      }
    } finally {
      await kept.close();
      trace(`cut ${cut}: checked`);
    }
  }
  const stats = await fs.stats();
  return {
    summary:
      `durability ${durability}: ${cuts} cuts (${armedReached} at an armed point), ` +
      `${acknowledged} acknowledgements (at the end ${keys.size} tasks, ${runIds.size} fired runs, ` +
      `${executions.size} executions checked at every cut), ` +
      `${lost} lost, ${integrityFailures} integrity failures; ${stats.fsyncdir} directory syncs seen`,
    problems,
    integrityFailures,
    tasks: keys.size,
    executions: executions.size,
  };
}
