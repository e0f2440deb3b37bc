/**
 * Uploads in progress, told apart from staged payloads, so that an API process that died
 * mid-upload (kill -9, OOM, power cut) leaves no garbage behind — and no API process ever
 * removes another live one's upload.
 *
 * A streamed body is written under a partial name that says who writes it:
 *
 *     <uuid>.<boot>-<pidns>-<pid>-<start>.part
 *
 * (`boot`: the first 8 hex digits of the kernel's boot id; `pidns`: the inode of the
 * writer's pid namespace; `pid` and `start`: the writer's pid and its start time in clock
 * ticks since boot, /proc/<pid>/stat field 22 — a pid reused by another process has
 * another start time). Once the body is complete and fsynced it is renamed to
 * `<uuid>.bin`, the only name a job ever refers to; the rename is the commit point. So a
 * `.part` file is never part of an accepted job, and whether its writer is alive is a
 * question about one process:
 *
 * - same boot and pid namespace as the sweeper: /proc answers it exactly (the pid exists
 *   with the same start time, or not);
 * - another host, container or boot (several API processes may share a data directory):
 *   /proc cannot see the writer, so it is alive while it keeps the file's mtime fresh
 *   (writers touch their partial files every HEARTBEAT_MS, also when the client stalls),
 *   and dead once the file has not changed for STALE_MS.
 *
 * Removing a live writer's partial file could only fail that upload (its rename fails,
 * the client gets an error, nothing was accepted); it can never lose an accepted job.
 */
import { readFile, readlink } from 'node:fs/promises';

/** Who writes a partial upload. */
export interface UploadOwner {
  /** First 8 hex digits of /proc/sys/kernel/random/boot_id. */
  boot: string;
  /** Inode of the pid namespace (/proc/self/ns/pid → 'pid:[4026531836]'). */
  pidns: number;
  pid: number;
  /** Start time in clock ticks after boot (/proc/<pid>/stat field 22). */
  start: number;
}

/** How often a writer touches its partial file (the heartbeat foreign sweepers judge by). */
export const HEARTBEAT_MS = 30_000;
/** A foreign writer's partial file unchanged this long: its writer is gone. */
export const STALE_MS = 10 * 60_000;

const PARTIAL = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([0-9a-f]{8})-(\d+)-(\d+)-(\d+)\.part$/;

export function partialName(uuid: string, owner: UploadOwner): string {
  return `${uuid}.${owner.boot}-${owner.pidns}-${owner.pid}-${owner.start}.part`;
}

/** The owner named by a partial upload's file name, or null for any other name. */
export function parsePartialName(name: string): UploadOwner | null {
  const m = PARTIAL.exec(name);
  if (!m) return null;
  return { boot: m[2]!, pidns: Number(m[3]), pid: Number(m[4]), start: Number(m[5]) };
}

export interface PartialFacts {
  /** The file's name in the staging directory. */
  name: string;
  /** This process, or null where /proc cannot tell (then every writer is foreign). */
  self: UploadOwner | null;
  /**
   * The start time of the process that now has the owner's pid in this pid namespace,
   * null if there is none; only looked up (and only meaningful) for a same-namespace owner.
   */
  ownerPidStart: number | null;
  /** Time since the file last changed (its mtime). */
  ageMs: number;
  staleMs?: number;
}

export type PartialFate = { remove: false; why: 'not-partial' | 'mine' | 'owner-alive' | 'fresh' } | { remove: true; why: 'owner-dead' | 'stale' };

/** Whether a file in the staging directory is an orphaned partial upload, and why. */
export function partialFate(f: PartialFacts): PartialFate {
  const owner = parsePartialName(f.name);
  if (!owner) return { remove: false, why: 'not-partial' };
  const self = f.self;
  if (self && owner.boot === self.boot && owner.pidns === self.pidns) {
    if (owner.pid === self.pid && owner.start === self.start) return { remove: false, why: 'mine' };
    return f.ownerPidStart === owner.start ? { remove: false, why: 'owner-alive' } : { remove: true, why: 'owner-dead' };
  }
  return f.ageMs > (f.staleMs ?? STALE_MS) ? { remove: true, why: 'stale' } : { remove: false, why: 'fresh' };
}

/** Field 22 of /proc/<pid>/stat (its start time), or null when there is no such process. */
export async function processStartTime(pid: number | 'self'): Promise<number | null> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[19]); // field 22 overall: the 20th after the name
  return Number.isSafeInteger(start) ? start : null;
}

/** This process as an upload owner, or null where /proc does not tell (not Linux). */
export async function currentOwner(): Promise<UploadOwner | null> {
  try {
    const [bootId, ns, start] = await Promise.all([
      readFile('/proc/sys/kernel/random/boot_id', 'utf8'),
      readlink('/proc/self/ns/pid'),
      processStartTime('self'),
    ]);
    const boot = bootId.trim().replace(/-/g, '').slice(0, 8);
    const pidns = Number(/^pid:\[(\d+)\]$/.exec(ns)?.[1]);
    if (!/^[0-9a-f]{8}$/.test(boot) || !Number.isSafeInteger(pidns) || start === null) return null;
    return { boot, pidns, pid: process.pid, start };
  } catch {
    return null;
  }
}
