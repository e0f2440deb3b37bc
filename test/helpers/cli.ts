/** The `ph5` command line run as a user runs it: a child process against a stack's URL and token. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PH5 = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'services', 'cli', 'ph5.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ph5 <args>` with PH5_URL and PH5_TOKEN set; `stdin` is its whole standard input (empty by default). */
export function runPh5(url: string, token: string, args: string[], opts: { stdin?: Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PH5, ...args], {
      env: { ...process.env, PH5_URL: url, PH5_TOKEN: token, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.stdin ?? Buffer.alloc(0));
  });
}
