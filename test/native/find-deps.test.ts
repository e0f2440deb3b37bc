/**
 * Build discovery (native/scripts/find-deps.cjs): environment prefixes first, then
 * pkg-config, then the compiler wrappers, as on a cluster after `module load`.
 * Uses fake prefixes and fake wrappers on a PATH without pkg-config.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.resolve(here, '..', '..', '..', 'native', 'scripts', 'find-deps.cjs');
const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-find-deps-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function prefix(name: string, header: string, lib: string, conf?: string): string {
  const p = path.join(dir, name);
  mkdirSync(path.join(p, 'include'), { recursive: true });
  mkdirSync(path.join(p, 'lib64'), { recursive: true });
  writeFileSync(path.join(p, 'include', header), '');
  if (conf !== undefined) writeFileSync(path.join(p, 'include', 'H5pubconf.h'), conf);
  writeFileSync(path.join(p, 'lib64', `lib${lib}.so`), '');
  return p;
}

function fakeBin(name: string, body: string): string {
  const bin = path.join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const file = path.join(bin, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return bin;
}

function explain(env: Record<string, string>): {
  status: number | null;
  out: { hdf5: string; mpi: string; cflags: string[]; libs: string[]; ldflags: string[] } | null;
  err: string;
} {
  const r = spawnSync(process.execPath, [script, 'explain'], {
    // no pkg-config, mpicc or h5pcc unless the test puts fakes on PATH
    env: { PATH: env.PATH ?? path.join(dir, 'empty'), ...env },
    encoding: 'utf8',
  });
  return { status: r.status, out: r.status === 0 ? JSON.parse(r.stdout) : null, err: r.stderr };
}

test('HDF5_DIR and MPI_HOME win, with an rpath for each library directory', () => {
  const h = prefix('hdf5', 'hdf5.h', 'hdf5', '#define H5_HAVE_PARALLEL 1\n');
  const m = prefix('mpi', 'mpi.h', 'mpi');
  const r = explain({ HDF5_DIR: h, MPI_HOME: m });
  assert.equal(r.status, 0, r.err);
  assert.equal(r.out?.hdf5, `$HDF5_DIR=${h}`);
  assert.equal(r.out?.mpi, `$MPI_HOME=${m}`);
  assert.deepEqual(r.out?.cflags, [`-I${h}/include`, `-I${m}/include`]);
  assert.deepEqual(r.out?.libs, [`-L${h}/lib64`, '-lhdf5', `-L${m}/lib64`, '-lmpi']);
  assert.deepEqual(r.out?.ldflags, [`-Wl,-rpath,${h}/lib64`, `-Wl,-rpath,${m}/lib64`]);
});

test('a serial HDF5 build is refused with a clear message', () => {
  const h = prefix('hdf5-serial', 'hdf5.h', 'hdf5', '/* #undef H5_HAVE_PARALLEL */\n');
  const m = prefix('mpi2', 'mpi.h', 'mpi');
  const r = explain({ HDF5_ROOT: h, MPI_DIR: m });
  assert.equal(r.status, 1);
  assert.match(r.err, /serial HDF5 build/);
});

test('without environment or pkg-config: h5pcc -show and mpicc --showme (Open MPI) or -show (MPICH)', () => {
  const bin = fakeBin('h5pcc', 'echo "mpicc -I/opt/h5/include -L/opt/h5/lib /opt/h5/lib/libhdf5_hl.a /opt/h5/lib/libhdf5.a -lz -lm"');
  fakeBin(
    'mpicc',
    'case "$1" in --showme:compile) echo "-I/opt/ompi/include -pthread";; --showme:link) echo "-pthread -L/opt/ompi/lib -lmpi";; *) exit 1;; esac',
  );
  let r = explain({ PATH: bin });
  assert.equal(r.status, 0, r.err);
  assert.equal(r.out?.hdf5, 'h5pcc -show');
  assert.equal(r.out?.mpi, 'mpicc --showme');
  assert.ok(r.out?.libs.includes('-lhdf5') && r.out.libs.includes('-L/opt/h5/lib') && r.out.libs.includes('-lmpi'));
  assert.ok(!r.out?.libs.some((l) => l.endsWith('.a')), 'static archives are not linked into the addon');
  assert.ok(r.out?.ldflags.includes('-Wl,-rpath,/opt/ompi/lib'));

  fakeBin('mpicc', 'case "$1" in -show) echo "gcc -I/opt/mpich/include -L/opt/mpich/lib -lmpi";; *) exit 1;; esac');
  r = explain({ PATH: bin });
  assert.equal(r.status, 0, r.err);
  assert.equal(r.out?.mpi, 'mpicc -show');
  assert.ok(r.out?.cflags.includes('-I/opt/mpich/include'));
});

test('nothing found: a non-zero exit that says what to set', () => {
  const r = explain({});
  assert.equal(r.status, 1);
  assert.match(r.err, /HDF5_DIR/);
});
