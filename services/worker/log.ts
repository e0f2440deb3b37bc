/**
 * Plain line logs for the worker ranks: one line each, prefixed with the rank, so the
 * interleaved output of N ranks under mpirun stays readable.
 */
import { logLevel } from '../shared/config.js';
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export function rankLogger(rank: number, level = logLevel()): Logger {
  const quiet = level === 'warn' || level === 'error' || level === 'silent';
  const line = (lvl: string, msg: string) => process.stderr.write(`${new Date().toISOString()} worker[${rank}] ${lvl} ${msg}\n`);
  return {
    info: (msg) => {
      if (!quiet) line('info', msg);
    },
    warn: (msg) => {
      if (level !== 'error' && level !== 'silent') line('warn', msg);
    },
    error: (msg) => {
      if (level !== 'silent') line('error', msg);
    },
  };
}
