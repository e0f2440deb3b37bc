/** What a benchmark ran on: the machine, the versions of everything measured, and its load. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MachineInfo {
  date: string;
  /** The ph5 commit measured (and whether the tree had uncommitted changes). */
  commit?: string;
  cpu: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  versions: Record<string, string>;
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]?.trim() || '?';
}

function distro(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '?';
  } catch {
    return '?';
  }
}

export function describeMachine(): MachineInfo {
  const py = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      'import h5py, numpy, mpi4py, sys; print(h5py.__version__, h5py.version.hdf5_version, numpy.__version__, mpi4py.__version__, sys.version.split()[0])',
    ],
    { encoding: 'utf8' },
  )
    .stdout.trim()
    .split(' ');
  const mpi = firstLine('mpirun', ['--version']).replace(/^mpirun \(Open MPI\)\s*/, '');
  const redis = /v=(\S+)/.exec(firstLine('redis-server', ['--version']))?.[1] ?? '?';
  const head = firstLine('git', ['-C', path.dirname(fileURLToPath(import.meta.url)), 'rev-parse', '--short', 'HEAD']);
  const dirty = spawnSync('git', ['-C', path.dirname(fileURLToPath(import.meta.url)), 'status', '--porcelain', '--', ':/services', ':/native/src'], {
    encoding: 'utf8',
  }).stdout.trim();
  return {
    date: new Date().toISOString(),
    commit: `${head}${dirty ? ' (services/native modified)' : ''}`,
    cpu: os.cpus()[0]?.model ?? '?',
    cores: os.cpus().length,
    ramGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()} (${distro()})`,
    versions: {
      node: process.version,
      HDF5: py[1] ?? '?',
      'Open MPI': mpi,
      h5py: py[0] ?? '?',
      numpy: py[2] ?? '?',
      mpi4py: py[3] ?? '?',
      python: py[4] ?? '?',
      redis,
    },
  };
}

export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}
