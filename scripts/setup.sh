#!/usr/bin/env bash
# Brings a fresh Debian 12 clone to a runnable state, and does nothing when it already is:
# Debian packages, npm packages, the native addon, the TypeScript build.
# `npm start`, `npm test` and .ci/run all call it first; it must stay quick when done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

# --- Debian packages --------------------------------------------------------------------
# Parallel HDF5 + OpenMPI to build and run the addon; hdf5-tools and Debian's MPI h5py to
# check files independently in tests; redis-server for the queue; valgrind for the leak check;
# a single-node Slurm (munge, slurmctld, slurmd, srun/sbatch) for the test that runs the pool
# under sbatch; chromium for the Swagger UI browser test (driven by playwright-core);
# python3-requests for the Python example in docs/examples; strace for the tests that check
# the order of fsync, cursor move and unlink on real ranks (durable-close, durability);
# clang-format for `npm run lint`/`npm run format` on the addon's C++ (native/.clang-format).
DEB_PACKAGES=(
  libhdf5-openmpi-dev openmpi-bin hdf5-tools redis-server valgrind strace
  python3-h5py-mpi python3-mpi4py python3-numpy
  pkg-config make g++
  munge slurmctld slurmd slurm-client
  chromium python3-requests
  clang-format
)
if [[ -z "${PH5_SKIP_APT:-}" ]] && command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then
      command -v sudo >/dev/null || { say "need root (or sudo) to install: ${missing[*]}"; exit 1; }
      SUDO=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Package daemons (munge, slurmctld, slurmd) must not start from their install scripts:
    # the tests start their own, with their own configuration.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
      $SUDO chmod 755 /usr/sbin/policy-rc.d
      trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

# --- npm packages -------------------------------------------------------------------------
# npm ci when node_modules is missing or older than the lock file.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "npm ci"
  npm ci --no-audit --no-fund
fi

# --- native addon ---------------------------------------------------------------------------
addon=native/build/Release/ph5_native.node
# Two more targets of the same binding.gyp: ph5_staging.node, the API's upload writer, and
# loopback-bind.so, preloaded into mpirun on one host (PH5_POOL_NETWORK=loopback) so that
# its listeners bind loopback instead of every interface (native/src/loopback-bind.c says why).
if [[ ! -f $addon || ! -f native/build/Release/ph5_staging.node || ! -f native/build/Release/loopback-bind.so ]] || [[ -n $(find native/src native/binding.gyp native/scripts -newer "$addon" -print -quit 2>/dev/null) ]]; then
  say "building the native addon"
  npm run --silent build:native
fi

# --- TypeScript -------------------------------------------------------------------------------
stamp=dist/.build-stamp
if [[ ! -f $stamp ]] || [[ -n $(find services native/lib test bench tsconfig.json package.json -name '*.ts' -newer "$stamp" -print -quit 2>/dev/null) ]] \
   || [[ tsconfig.json -nt $stamp ]]; then
  say "compiling TypeScript"
  ./node_modules/.bin/tsc -p tsconfig.json
  touch "$stamp"
fi
