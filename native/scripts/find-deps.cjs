#!/usr/bin/env node
// Finds MPI and parallel HDF5 the way HPC users expect, for binding.gyp:
//   node scripts/find-deps.cjs cflags|libs|ldflags
// Order: HDF5_DIR / MPI_HOME (or MPI_DIR) from the environment (what `module load` sets on
// most clusters), then pkg-config (hdf5-openmpi, hdf5-mpich, hdf5), then the compiler
// wrappers h5pcc -show and mpicc --showme / -show. Prints space-separated flags.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function run(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function split(text) {
  return (text || '').split(/\s+/).filter(Boolean);
}

function fromPrefix(dir, lib) {
  if (!dir) return null;
  const inc = ['include', 'include/openmpi'].map((d) => path.join(dir, d)).filter((d) => fs.existsSync(d));
  const libDir = ['lib', 'lib64'].map((d) => path.join(dir, d)).find((d) => fs.existsSync(d));
  if (!inc.length || !libDir) return null;
  return { cflags: inc.map((d) => `-I${d}`), libs: [`-L${libDir}`, `-l${lib}`], libDirs: [libDir] };
}

function hdf5() {
  const env = fromPrefix(process.env.HDF5_DIR || process.env.HDF5_ROOT, 'hdf5');
  if (env) return env;
  for (const pkg of ['hdf5-openmpi', 'hdf5-mpich', 'hdf5']) {
    const cflags = run('pkg-config', ['--cflags', pkg]);
    const libs = run('pkg-config', ['--libs', pkg]);
    if (cflags !== null && libs !== null) return { cflags: split(cflags), libs: split(libs), libDirs: [] };
  }
  const show = run('h5pcc', ['-show']);
  if (show) {
    const words = split(show).slice(1);
    return {
      cflags: words.filter((w) => w.startsWith('-I') || w.startsWith('-D')),
      libs: words.filter((w) => w.startsWith('-L') || w.startsWith('-l')).concat(['-lhdf5']),
      libDirs: [],
    };
  }
  throw new Error('parallel HDF5 not found: set HDF5_DIR, or make pkg-config hdf5-openmpi or h5pcc available (Debian: apt-get install libhdf5-openmpi-dev)');
}

function mpi() {
  const env = fromPrefix(process.env.MPI_HOME || process.env.MPI_DIR, 'mpi');
  if (env) return env;
  const compile = run('mpicc', ['--showme:compile']);
  const link = run('mpicc', ['--showme:link']);
  if (compile !== null && link !== null) return { cflags: split(compile), libs: split(link), libDirs: [] };
  const show = run('mpicc', ['-show']); // MPICH, Cray and Intel wrappers
  if (show) {
    const words = split(show).slice(1);
    return { cflags: words.filter((w) => w.startsWith('-I')), libs: words.filter((w) => w.startsWith('-L') || w.startsWith('-l')), libDirs: [] };
  }
  for (const pkg of ['ompi-c', 'mpich']) {
    const cflags = run('pkg-config', ['--cflags', pkg]);
    const libs = run('pkg-config', ['--libs', pkg]);
    if (cflags !== null && libs !== null) return { cflags: split(cflags), libs: split(libs), libDirs: [] };
  }
  throw new Error('MPI not found: set MPI_HOME, or put mpicc on PATH (Debian: apt-get install libopenmpi-dev)');
}

const what = process.argv[2];
const deps = [hdf5(), mpi()];
const uniq = (xs) => [...new Set(xs)];
if (what === 'cflags') {
  console.log(uniq(deps.flatMap((d) => d.cflags)).join(' '));
} else if (what === 'libs') {
  console.log(uniq(deps.flatMap((d) => d.libs)).join(' '));
} else if (what === 'ldflags') {
  // rpath for every library directory, so the addon loads without LD_LIBRARY_PATH.
  const dirs = uniq(deps.flatMap((d) => d.libDirs.concat(d.libs.filter((l) => l.startsWith('-L')).map((l) => l.slice(2)))));
  console.log(dirs.map((d) => `-Wl,-rpath,${d}`).join(' '));
} else {
  console.error('usage: find-deps.cjs cflags|libs|ldflags');
  process.exit(2);
}
