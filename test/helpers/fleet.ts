import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

// The nodes of a fleet test: scheduler processes that print `ready`, then
// `start <executionId>` and `done <executionId>` around each handler. Imports
// nothing of the package, so the acceptance suite can use it too.

export interface FleetNode {
  child: ChildProcess;
  /** Handlers started and not yet finished, as the node reports them. */
  inFlight: Set<string>;
}

/** Starts `script` with `args`; resolves once it is ready. `onDone` hears each finished handler. */
export function startNode(script: string, args: string[], onDone?: (executionId: string) => void): Promise<FleetNode> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const node: FleetNode = { child, inFlight: new Set() };
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [what, id = ''] = line.split(' ');
      if (what === 'ready') resolve(node);
      else if (what === 'start') node.inFlight.add(id);
      else if (what === 'done') {
        node.inFlight.delete(id);
        onDone?.(id);
      }
    });
    child.once('exit', (code) => reject(new Error(`a node exited with ${code} before it was ready`)));
  });
}

/** SIGKILLs the node with the most handlers in flight, if any has one, so that the kill interrupts work. */
export async function killBusiest(nodes: FleetNode[]): Promise<FleetNode | undefined> {
  const busiest = nodes.reduce((a, b) => (b.inFlight.size > a.inFlight.size ? b : a));
  if (busiest.inFlight.size === 0) return undefined;
  busiest.child.kill('SIGKILL');
  await once(busiest.child, 'exit');
  return busiest;
}

/** Stops every node but `victim` with SIGTERM; resolves with their exit codes. */
export function stopSurvivors(nodes: FleetNode[], victim: FleetNode | undefined): Promise<(number | null)[]> {
  return Promise.all(
    nodes
      .filter((node) => node !== victim)
      .map(async ({ child }) => {
        child.kill('SIGTERM');
        return (await once(child, 'exit'))[0] as number | null;
      }),
  );
}

/** Kills whatever is still running: a test that failed must not leave nodes behind. */
export function killAll(nodes: FleetNode[]): void {
  for (const { child } of nodes) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
