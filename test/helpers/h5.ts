/**
 * Independent readers for checking what ph5 wrote: h5dump (HDF5's own tool) and Debian's
 * h5py under /usr/bin/python3. Neither shares code with ph5.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `h5dump <name>` run in the file's directory, so the header names the file as given. */
export async function h5dump(file: string, args: string[] = []): Promise<string> {
  const { stdout } = await run('h5dump', [...args, path.basename(file)], { cwd: path.dirname(file), maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/**
 * Runs a Python snippet with `h5py` and `numpy` imported and `path` bound to the file;
 * the snippet sets `out` to something JSON-serialisable.
 */
export async function h5py<T = unknown>(file: string, snippet: string): Promise<T> {
  const program = ['import json, sys, h5py, numpy as np', 'path = sys.argv[1]', 'out = None', snippet, 'print(json.dumps(out))'].join('\n');
  const { stdout } = await run('/usr/bin/python3', ['-c', program, file], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as T;
}
