import { readdir, readFile, statfs } from 'node:fs/promises';
import { availableParallelism, freemem, loadavg, networkInterfaces, platform } from 'node:os';
import { join } from 'node:path';
import type { DeviceReadings } from '../conditions.js';

// What the node reads of itself, for device conditions (SPEC rule 21), with
// Node's own calls where there is one; a reading the platform cannot give is null
// (conditions on it hold, and the watch says so once).

/** A source of readings: the operating system's, or one a test or an application passes (`deviceState`). */
export type DeviceSource = () => Partial<DeviceReadings> | Promise<Partial<DeviceReadings>>;

const MB = 1024 * 1024;
const POWER_SUPPLIES = '/sys/class/power_supply';

/** The operating system's readings; `diskPath` is a folder on the volume whose free space counts. */
export function systemDevice(diskPath: string): DeviceSource {
  return async () => {
    const [freeDiskMb, onAcPower] = await Promise.all([freeDisk(diskPath), mainsPower()]);
    return { loadPerCore: loadPerCore(), freeMemoryMb: freemem() / MB, freeDiskMb, onAcPower, networkUp: networkUp() };
  };
}

/** Windows has no load average (os.loadavg gives zeros there). */
function loadPerCore(): number | null {
  if (platform() === 'win32') return null;
  return loadavg()[0]! / availableParallelism();
}

async function freeDisk(path: string): Promise<number | null> {
  try {
    const stats = await statfs(path);
    return (stats.bavail * stats.bsize) / MB; // what an unprivileged process may still use
  } catch {
    return null;
  }
}

/**
 * Linux's power supplies: on mains when one of type Mains is online; on battery
 * when Mains supplies exist and none is, or when a battery discharges. A machine
 * that lists no supply (a server, a container) says nothing: null.
 */
async function mainsPower(): Promise<boolean | null> {
  let names: string[];
  try {
    names = await readdir(POWER_SUPPLIES);
  } catch {
    return null;
  }
  let mains = 0;
  let discharging = false;
  for (const name of names) {
    const read = (file: string) =>
      readFile(join(POWER_SUPPLIES, name, file), 'utf8').then(
        (text) => text.trim(),
        () => '',
      );
    const type = await read('type');
    if (type === 'Mains') {
      mains++;
      if ((await read('online')) === '1') return true;
    } else if (type === 'Battery' && (await read('status')) === 'Discharging') discharging = true;
  }
  return mains > 0 || discharging ? false : null;
}

/** An interface other than loopback with an address: the node can reach something. */
function networkUp(): boolean {
  return Object.values(networkInterfaces()).some((addresses) => addresses?.some((a) => !a.internal));
}
