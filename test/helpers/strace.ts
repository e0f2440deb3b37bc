/**
 * Reading what a process did to its files from `strace -f -ttt -T -y` output, so that tests
 * can check the order of system calls (writes, syncs, unlinks) on real files.
 *
 * Lines look like
 *   1234 1796472657.035884 fsync(31</data/default/f.h5>) = 0 <0.000337>
 * and, when another thread interrupts the line,
 *   1234 1796472657.035884 fsync(31</data/default/f.h5> <unfinished ...>
 *   1234 1796472657.036221 <... fsync resumed>) = 0 <0.000337>
 * Timestamps are the wall clock (gettimeofday), the same clock Redis's MONITOR uses.
 */
import { readFileSync } from 'node:fs';

export interface Syscall {
  pid: number;
  name: string;
  /** The first path in the arguments: a file descriptor's (`-y`) or a string argument. */
  path: string | null;
  /** Seconds since the epoch, at entry and at return. */
  start: number;
  end: number;
  /** The return value as strace prints it ('0', '-1 EIO (Input/output error)', ...). */
  result: string;
}

const LINE = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/;
const CALL = /^([a-z0-9_]+)\((.*)$/;

function firstPath(args: string): string | null {
  // -y prints a descriptor as 31</path>: a call on a descriptor names it first. Calls on
  // a path (openat, statx, unlinkat: "AT_FDCWD</cwd>, "/path"") name it in quotes.
  const fd = args.match(/^\d+<([^>]*)>/);
  if (fd) return fd[1]!;
  const quoted = args.match(/"((?:[^"\\]|\\.)*)"/);
  return quoted ? quoted[1]! : null;
}

function finish(rest: string): { result: string; seconds: number } {
  const m = rest.match(/\)\s+=\s+(.*?)(?:\s+<(\d+\.\d+)>)?\s*$/);
  return { result: m?.[1] ?? '?', seconds: m?.[2] ? Number(m[2]) : 0 };
}

export function parseTrace(text: string): Syscall[] {
  const calls: Syscall[] = [];
  const pending = new Map<string, Syscall>();
  for (const line of text.split('\n')) {
    const m = line.match(LINE);
    if (!m) continue;
    const pid = Number(m[1]);
    const at = Number(m[2]);
    const body = m[3]!;
    const resumed = body.match(/^<\.\.\. ([a-z0-9_]+) resumed>(.*)$/);
    if (resumed) {
      const call = pending.get(`${pid}/${resumed[1]}`);
      if (!call) continue;
      pending.delete(`${pid}/${resumed[1]}`);
      const { result, seconds } = finish(resumed[2]!);
      call.result = result;
      call.end = seconds ? call.start + seconds : at;
      continue;
    }
    const c = body.match(CALL);
    if (!c) continue; // signals, exits
    const call: Syscall = { pid, name: c[1]!, path: firstPath(c[2]!), start: at, end: at, result: '?' };
    calls.push(call);
    if (body.endsWith('<unfinished ...>')) {
      pending.set(`${pid}/${call.name}`, call);
    } else {
      const { result, seconds } = finish(c[2]!);
      call.result = result;
      call.end = at + seconds;
    }
  }
  return calls.sort((a, b) => a.start - b.start);
}

export const readTrace = (file: string): Syscall[] => parseTrace(readFileSync(file, 'utf8'));

export const WRITE_CALLS = new Set(['write', 'pwrite64', 'pwritev', 'pwritev2', 'writev', 'ftruncate', 'fallocate']);
export const SYNC_CALLS = new Set(['fsync', 'fdatasync']);

/** The system calls a traced rank or process makes on files, for `strace -e trace=`. */
export const TRACED = 'openat,statx,newfstatat,write,pwrite64,pwritev,pwritev2,writev,ftruncate,fallocate,fsync,fdatasync,unlink,unlinkat';

/**
 * Writes to `file` that no later successful sync of the same file covers by `until` (a
 * sync must start after the write returned and return before `until`). Empty: everything
 * written to the file before `until` was on stable storage by then.
 */
export function unsyncedWrites(calls: Syscall[], file: string, until: number): Syscall[] {
  const syncs = calls.filter((c) => SYNC_CALLS.has(c.name) && c.path === file && c.result === '0' && c.end <= until);
  return calls.filter((c) => WRITE_CALLS.has(c.name) && c.path === file && c.start < until && !syncs.some((s) => s.start >= c.end));
}
