/** CPU accounting from /proc, to show that idle processes really idle. */
import { readFile, readdir } from 'node:fs/promises';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

async function stat(pid: number): Promise<string[] | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces; everything after its ')' is space-separated.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Direct children of a process. */
export async function childPids(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = await stat(Number(name));
    if (fields && Number(fields[1]) === pid) out.push(Number(name));
  }
  return out;
}

/** CPU seconds (user + system) a process has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  const fields = await stat(pid);
  if (!fields) return 0;
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Still running: a killed process nobody has reaped yet (a zombie) is not. */
export async function isRunning(pid: number): Promise<boolean> {
  const fields = await stat(pid);
  return fields !== null && fields[0] !== 'Z';
}
