/** Waiting for a child process to end, whether it already has or not. */
import type { ChildProcess } from 'node:child_process';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves with the child's exit code and signal once it has exited (at once if it has). */
export function exited(p: ChildProcess): Promise<ChildExit> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve({ code: p.exitCode, signal: p.signalCode });
  return new Promise((resolve) => p.once('exit', (code, signal) => resolve({ code, signal })));
}
