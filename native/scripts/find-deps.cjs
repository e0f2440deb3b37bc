#!/usr/bin/env node
// Finds MPI and parallel HDF5 for binding.gyp, the way HPC users expect:
//
//   node scripts/find-deps.cjs cflags|libs|ldflags|explain
//
// HDF5, first match wins:
//   1. HDF5_DIR, HDF5_ROOT, HDF5_HOME, OLCF_HDF5_ROOT, TACC_HDF5_DIR (what `module load
//      hdf5` / cray-hdf5-parallel set): <dir>/include, <dir>/lib or lib64
//   2. pkg-config hdf5-openmpi, hdf5-mpich, hdf5
//   3. the HDF5 compiler wrapper: $H5PCC or h5pcc, `-show`
// MPI, first match wins:
//   1. MPI_HOME, MPI_DIR, MPI_ROOT: <dir>/include, <dir>/lib or lib64
//   2. the MPI compiler wrapper: $MPICC or mpicc, `--showme:compile/--showme:link` (Open MPI),
//      else `-show` (MPICH, Intel MPI, MVAPICH; Cray's `cc` via MPICC=cc)
//   3. pkg-config ompi-c, mpich
// The HDF5 found must be a parallel build (H5_HAVE_PARALLEL in H5pubconf.h).
// ldflags adds an rpath for every library directory, so the addon loads without
// LD_LIBRARY_PATH. Set PH5_DEPS_VERBOSE=1 to see the choices in the build log.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function run(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20000 }).trim();
  } catch {
    return null;
  }
}

const words = (text) => (text || '').split(/\s+/).filter(Boolean);
const uniq = (xs) => [...new Set(xs)];

// Turns compiler-wrapper words into {cflags, libs}: keeps -I/-D/-L/-l and -pthread, and
// library files named by full path (h5pcc on Debian lists libhdf5.a) become -L/-l.
function fromWords(list) {
  const cflags = [];
  const libs = [];
  for (const w of list) {
    if (w.startsWith('-I') || w.startsWith('-D')) cflags.push(w);
    else if (w.startsWith('-L') || w.startsWith('-l') || w === '-pthread') libs.push(w);
    else if (/^-Wl,-rpath/.test(w)) libs.push(w);
    else if (/\/lib([\w+-]+)\.(a|so)(\.[\d.]+)?$/.test(w)) {
      const [, name] = w.match(/\/lib([\w+-]+)\.(a|so)/);
      if (name === 'hdf5') libs.push(`-L${path.dirname(w)}`, '-lhdf5'); // the high-level library is not used
    }
  }
  return { cflags, libs };
}

function fromPrefix(dir, header, lib) {
  const inc = path.join(dir, 'include');
  if (!fs.existsSync(path.join(inc, header))) return null;
  const libDir = ['lib', 'lib64', path.join('lib', 'x86_64-linux-gnu')]
    .map((d) => path.join(dir, d))
    .find((d) => fs.existsSync(d) && fs.readdirSync(d).some((f) => f.startsWith(`lib${lib}.so`) || f === `lib${lib}.a`));
  if (!libDir) return null;
  return { cflags: [`-I${inc}`], libs: [`-L${libDir}`, `-l${lib}`] };
}

function pkgConfig(pkg) {
  const cflags = run('pkg-config', ['--cflags', pkg]);
  const libs = run('pkg-config', ['--libs', pkg]);
  return cflags === null || libs === null ? null : { cflags: words(cflags), libs: words(libs) };
}

function isParallel(found) {
  const dirs = found.cflags.filter((f) => f.startsWith('-I')).map((f) => f.slice(2));
  const conf = dirs.map((d) => path.join(d, 'H5pubconf.h')).find((f) => fs.existsSync(f));
  if (!conf) return true; // cannot tell here; the compiler checks H5_HAVE_PARALLEL too
  return /#define\s+H5_HAVE_PARALLEL\s+1/.test(fs.readFileSync(conf, 'utf8'));
}

function findHdf5() {
  const tried = [];
  for (const v of ['HDF5_DIR', 'HDF5_ROOT', 'HDF5_HOME', 'OLCF_HDF5_ROOT', 'TACC_HDF5_DIR']) {
    const dir = process.env[v];
    if (!dir) continue;
    const found = fromPrefix(dir, 'hdf5.h', 'hdf5');
    if (!found) throw new Error(`${v}=${dir} does not hold include/hdf5.h and lib/libhdf5`);
    if (!isParallel(found)) throw new Error(`${v}=${dir} is a serial HDF5 build; ph5 needs parallel HDF5 (H5_HAVE_PARALLEL)`);
    return { ...found, source: `$${v}=${dir}` };
  }
  for (const pkg of ['hdf5-openmpi', 'hdf5-mpich', 'hdf5']) {
    const found = pkgConfig(pkg);
    if (!found) continue;
    if (!isParallel(found)) {
      tried.push(`pkg-config ${pkg} (serial build)`);
      continue;
    }
    return { ...found, source: `pkg-config ${pkg}` };
  }
  const h5pcc = process.env.H5PCC || 'h5pcc';
  const show = run(h5pcc, ['-show']);
  if (show) {
    const found = fromWords(words(show).slice(1));
    if (!found.libs.includes('-lhdf5')) found.libs.push('-lhdf5');
    return { ...found, source: `${h5pcc} -show` };
  }
  throw new Error(
    `parallel HDF5 not found${tried.length ? ` (skipped ${tried.join(', ')})` : ''}: set HDF5_DIR to its prefix, ` +
      'or make pkg-config hdf5-openmpi or h5pcc available (Debian: apt-get install libhdf5-openmpi-dev; clusters: module load hdf5)',
  );
}

function findMpi() {
  for (const v of ['MPI_HOME', 'MPI_DIR', 'MPI_ROOT']) {
    const dir = process.env[v];
    if (!dir) continue;
    const found = fromPrefix(dir, 'mpi.h', 'mpi');
    if (!found) throw new Error(`${v}=${dir} does not hold include/mpi.h and lib/libmpi`);
    return { ...found, source: `$${v}=${dir}` };
  }
  const mpicc = process.env.MPICC || 'mpicc';
  const compile = run(mpicc, ['--showme:compile']);
  const link = run(mpicc, ['--showme:link']);
  if (compile !== null && link !== null) {
    return { cflags: fromWords(words(compile)).cflags, libs: fromWords(words(link)).libs, source: `${mpicc} --showme` };
  }
  const show = run(mpicc, ['-show']);
  if (show) return { ...fromWords(words(show).slice(1)), source: `${mpicc} -show` };
  for (const pkg of ['ompi-c', 'mpich']) {
    const found = pkgConfig(pkg);
    if (found) return { ...found, source: `pkg-config ${pkg}` };
  }
  throw new Error('MPI not found: set MPI_HOME to its prefix, or put mpicc on PATH (Debian: apt-get install libopenmpi-dev)');
}

function main() {
  const what = process.argv[2];
  if (!['cflags', 'libs', 'ldflags', 'explain'].includes(what)) {
    console.error('usage: find-deps.cjs cflags|libs|ldflags|explain');
    process.exit(2);
  }
  let hdf5, mpi;
  try {
    hdf5 = findHdf5();
    mpi = findMpi();
  } catch (e) {
    console.error(`ph5 native build: ${e.message}`);
    process.exit(1);
  }
  const cflags = uniq([...hdf5.cflags, ...mpi.cflags]);
  const libs = uniq([...hdf5.libs, ...mpi.libs]);
  const libDirs = uniq(libs.filter((l) => l.startsWith('-L')).map((l) => l.slice(2)));
  const ldflags = libDirs.map((d) => `-Wl,-rpath,${d}`);
  if (what === 'explain' || (what === 'cflags' && process.env.PH5_DEPS_VERBOSE)) {
    console.error(`ph5 native build: HDF5 from ${hdf5.source}; MPI from ${mpi.source}`);
  }
  if (what === 'explain') {
    console.log(JSON.stringify({ hdf5: hdf5.source, mpi: mpi.source, cflags, libs, ldflags }, null, 2));
    return;
  }
  console.log((what === 'cflags' ? cflags : what === 'libs' ? libs : ldflags).join(' '));
}

main();
