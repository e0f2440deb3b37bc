/**
 * Test-side helpers for the surface fixtures (test/native/fixtures/steps.ts): run one under
 * `mpirun -n 1, 2, 4`, assert that no call leaked an HDF5 id and that the expected
 * failures had their codes on every rank.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { StepsReport } from '../native/fixtures/steps.js';
import { mpirun } from './mpirun.js';

const execFileP = promisify(execFile);

export const RANKS = [1, 2, 4] as const;

export async function runSteps(n: number, fixture: string, args: string[]): Promise<StepsReport[]> {
  const run = await mpirun<StepsReport>(n, fixture, args);
  assert.equal(run.results.length, n);
  return run.results;
}

/** Every call on every rank left no HDF5 id open (besides the files JS holds). */
export function assertNoLeaks(results: StepsReport[]): void {
  for (const r of results) {
    assert.ok(Object.keys(r.leaks).length > 0, 'the fixture recorded its calls');
    for (const [label, leaked] of Object.entries(r.leaks)) assert.equal(leaked, 0, `${label}: ${leaked} HDF5 id(s) left open on rank ${r.rank}`);
  }
}

/** The expected failure codes, the same on every rank. */
export function assertErrors(results: StepsReport[], want: Record<string, string>): void {
  for (const r of results) {
    for (const [label, code] of Object.entries(want)) assert.equal(r.errors[label], code, `${label} on rank ${r.rank}`);
    assert.deepEqual(Object.keys(r.errors).sort(), Object.keys(want).sort(), 'every expected failure is asserted');
  }
}

/** Runs a Python program with h5py + numpy (serial, no MPI environment); prints JSON `out`. */
export async function py<T>(file: string, program: string, ...args: string[]): Promise<T> {
  const full = ['import json, sys, h5py, numpy as np', 'path = sys.argv[1]', 'out = {}', program, 'print(json.dumps(out))'].join('\n');
  const env = { ...process.env };
  delete env.OMPI_COMM_WORLD_SIZE;
  delete env.H5PY_ALWAYS_USE_MPI;
  const { stdout } = await execFileP('/usr/bin/python3', ['-c', full, file, ...args], { env, maxBuffer: 64 << 20 });
  return JSON.parse(stdout) as T;
}

/** `h5dump <args> <file>` output. */
export async function h5dump(file: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileP('h5dump', [...args, file], { maxBuffer: 64 << 20 });
  return stdout;
}
