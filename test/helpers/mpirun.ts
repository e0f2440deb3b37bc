/**
 * Helpers for the native tests: launch a fixture under mpirun and collect what each rank
 * reports, and run the independent readers (h5py under /usr/bin/python3, h5dump).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

export const fixture = (name: string): string => path.join(here, '..', 'native', 'fixtures', `${name}.js`);

export interface MpiRun<T> {
  /** index = rank */
  results: T[];
  stdout: string;
  stderr: string;
  ms: number;
}

function mpiEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (process.getuid?.() === 0) {
    env.OMPI_ALLOW_RUN_AS_ROOT = '1';
    env.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = '1';
  }
  return env;
}

/** `mpirun --oversubscribe -n N node <fixture> args...`; rejects on failure or timeout. */
export function mpirun<T = unknown>(n: number, name: string, args: string[], timeoutMs = 60_000): Promise<MpiRun<T>> {
  return mpirunWrapped<T>(n, [], name, args, timeoutMs);
}

/** Like mpirun, with each rank's node started by `wrapper` (e.g. valgrind and its options). */
export function mpirunWrapped<T = unknown>(n: number, wrapper: string[], name: string, args: string[], timeoutMs = 60_000): Promise<MpiRun<T>> {
  const started = Date.now();
  const resultDir = mkdtempSync(path.join(os.tmpdir(), 'ph5-results-'));
  const child = spawn('mpirun', ['--oversubscribe', '-n', String(n), ...wrapper, process.execPath, fixture(name), ...args], {
    env: { ...mpiEnv(), PH5_RESULT_DIR: resultDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group, so a hung job can be killed as a whole
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        /* already gone */
      }
      reject(new Error(`mpirun -n ${n} ${name} timed out after ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        rmSync(resultDir, { recursive: true, force: true });
        reject(new Error(`mpirun -n ${n} ${name} exited with ${code ?? signal}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        return;
      }
      const results: T[] = [];
      try {
        for (const f of readdirSync(resultDir)) {
          const r = JSON.parse(readFileSync(path.join(resultDir, f), 'utf8')) as { rank: number };
          results[r.rank] = r as T;
        }
      } catch (e) {
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what readdirSync or JSON.parse threw
        reject(e);
        return;
      } finally {
        rmSync(resultDir, { recursive: true, force: true });
      }
      if (results.length !== n || Object.keys(results).length !== n) {
        reject(new Error(`mpirun -n ${n} ${name}: expected ${n} results, got ${Object.keys(results).length}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        return;
      }
      resolve({ results, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Serial h5py (no MPI environment) on `file`; the snippet sets `out`. */
export async function h5py<T = unknown>(file: string, snippet: string, prelude = ''): Promise<T> {
  const program = ['import json, sys, h5py, numpy as np', 'path = sys.argv[1]', prelude, 'out = None', snippet, 'print(json.dumps(out))'].join('\n');
  const env = { ...process.env };
  delete env.OMPI_COMM_WORLD_SIZE;
  delete env.H5PY_ALWAYS_USE_MPI;
  const { stdout } = await execFileP('/usr/bin/python3', ['-c', program, file], { env, maxBuffer: 64 << 20 });
  return JSON.parse(stdout) as T;
}

/** `h5dump -H`: the header of every object, as text. */
export async function h5dumpHeader(file: string): Promise<string> {
  const { stdout } = await execFileP('h5dump', ['-H', file], { maxBuffer: 64 << 20 });
  return stdout;
}

/**
 * The DATATYPE of each dataset in an `h5dump -H` output: dataset path (no leading '/') ->
 * the type text with whitespace collapsed, e.g. `H5T_STD_I32LE` or
 * `H5T_ENUM { H5T_STD_I8LE; "FALSE" 0; "TRUE" 1; }`. h5dump indents three spaces per
 * level, which gives the group path.
 */
export function h5dumpTypes(header: string): Map<string, string> {
  const out = new Map<string, string>();
  const stack: string[] = [];
  let current: string | null = null;
  let type: string[] | null = null;
  for (const line of header.split('\n')) {
    if (type !== null && current !== null) {
      if (
        /^\s*(DATASPACE|STORAGE_LAYOUT|FILTERS|FILLVALUE|ATTRIBUTE)\b/.test(line) ||
        (/^\s*}\s*$/.test(line) && type.join(' ').split('{').length === type.join(' ').split('}').length)
      ) {
        out.set(current, type.join(' ').replace(/\s+/g, ' ').trim());
        type = null;
        current = null;
      } else {
        type.push(line.trim());
        continue;
      }
    }
    const level = Math.floor((line.length - line.trimStart().length) / 3);
    const g = line.match(/^\s*GROUP "([^"]*)"/);
    if (g) {
      stack.length = level;
      stack[level] = g[1] === '/' ? '' : (g[1] as string);
      continue;
    }
    const d = line.match(/^\s*DATASET "([^"]*)"/);
    if (d) {
      current = [...stack.slice(0, level), d[1]].filter(Boolean).join('/');
      continue;
    }
    const t = line.match(/^\s*DATATYPE\s+(.*)$/);
    if (t && current !== null) type = [(t[1] as string).trim()];
  }
  return out;
}
