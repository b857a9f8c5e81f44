import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Owner } from '../store/store.js';

/** Scheduler instances started in this process and not yet stopped. */
const liveInThisProcess = new Set<string>();

export function createOwner(): Owner {
  return { id: randomUUID(), host: hostname(), pid: process.pid };
}

export function markLive(owner: Owner, live: boolean): void {
  if (live) liveInThisProcess.add(owner.id);
  else liveInThisProcess.delete(owner.id);
}

/**
 * Whether a running run's owner can no longer finish it: an earlier instance in
 * this process, a process on this host that has exited, or anyone whose lease
 * has lapsed. A live instance of this process is never presumed dead.
 */
export function isOwnerGone(owner: Owner, leaseExpiresAt: number, now: number): boolean {
  if (liveInThisProcess.has(owner.id)) return false;
  if (leaseExpiresAt <= now) return true;
  if (owner.host !== hostname()) return false;
  if (owner.pid === process.pid) return true;
  return !processExists(owner.pid);
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
