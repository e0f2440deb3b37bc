/**
 * Where a worker pool listens: PH5_POOL_NETWORK.
 *
 * A pool's processes open TCP listeners of their own: mpirun (OpenMPI's out-of-band
 * channel, ORTE "oob tcp"), the ranks (OpenMPI's TCP transport, "btl tcp") and rank 0's
 * doorbell. Left to their defaults they listen on every interface (0.0.0.0 and [::]), which
 * on a single host exposes them to the whole network for nothing. So:
 *
 *   - `loopback` (the default with mpirun): one host, listeners on 127.0.0.1/[::1] only;
 *   - `any` (the default with srun and jsrun, whose pools span nodes): OpenMPI's own choice
 *     of interfaces, the doorbell on all of them;
 *   - a comma-separated list of interface names and/or CIDR blocks (`ib0`, `10.1.0.0/16`):
 *     OpenMPI talks over those only (btl_tcp_if_include, oob_tcp_if_include) and the
 *     doorbell listens on their addresses only.
 *
 * What OpenMPI 4.1.4 honours, found by experiment (ss -ltnp of a running pool):
 *   - `btl_tcp_if_include=lo` does NOT move the ranks' listeners off 0.0.0.0/[::] (it only
 *     chooses the addresses they advertise); `btl=self,vader` (no TCP transport at all,
 *     shared memory between ranks on one host) removes them;
 *   - mpirun's out-of-band listener binds INADDR_ANY and in6addr_any whatever
 *     oob_tcp_if_include says (orte/mca/oob/tcp/oob_tcp_listener.c, create_listen), and it
 *     cannot be turned off (mpirun then finds no out-of-band network and fails, or crashes
 *     with both address families disabled). Only a bind() that never sees the wildcard
 *     helps: loopback-bind.so, preloaded into mpirun, turns a wildcard bind into a loopback
 *     one;
 *   - mpirun's PMIx server (how local ranks reach it) already listens on 127.0.0.1 only.
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import type os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type PoolNetwork = { kind: 'loopback' } | { kind: 'any' } | { kind: 'interfaces'; include: string[] };

/** Built with the native addon (native/binding.gyp) from native/src/loopback-bind.c. */
export const LOOPBACK_BIND_LIB = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  // dist/services/worker -> the repository root; native/build is never copied into dist.
  '..',
  '..',
  '..',
  'native',
  'build',
  'Release',
  'loopback-bind.so',
);

/** PH5_POOL_NETWORK, with its default for the launcher (only mpirun runs on one host by default). */
export function parsePoolNetwork(raw: string | undefined, launcher: string): PoolNetwork {
  const value = (raw ?? '').trim();
  if (value === '') return launcher === 'mpirun' ? { kind: 'loopback' } : { kind: 'any' };
  if (value === 'loopback' || value === 'lo') return { kind: 'loopback' };
  if (value === 'any') return { kind: 'any' };
  const include = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of include) {
    // An interface name (Linux: up to 15 bytes, no '/' or blanks) or a CIDR block.
    if (item.includes('/') ? !parseCidr(item) : !/^[A-Za-z0-9_.:@-]{1,15}$/.test(item)) {
      throw new Error(
        `PH5_POOL_NETWORK must be 'loopback', 'any' or a comma-separated list of interface names and CIDR blocks (e.g. ib0,10.1.0.0/16), got '${raw}'`,
      );
    }
  }
  return { kind: 'interfaces', include };
}

/** The value the ranks read back (the supervisor resolves the launcher's default for them). */
export function formatPoolNetwork(network: PoolNetwork): string {
  return network.kind === 'interfaces' ? network.include.join(',') : network.kind;
}

function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const [address = '', bits = ''] = text.split('/');
  const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : null;
  const prefix = Number(bits);
  if (!family || bits === '' || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 'ipv4' ? 32 : 128)) return null;
  return { address, prefix, family };
}

/**
 * OpenMPI MCA parameters (as environment) for the launcher and its ranks. A parameter the
 * user already set in the environment is left alone (and `--mca` on PH5_LAUNCHER_ARGS wins
 * over the environment anyway), except that loopback mode must own LD_PRELOAD's first entry.
 */
export function mpiNetworkEnv(network: PoolNetwork, env: NodeJS.ProcessEnv, bindLib = LOOPBACK_BIND_LIB): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  const set = (name: string, value: string) => {
    if (env[name] === undefined || env[name] === '') out[name] = value;
  };
  switch (network.kind) {
    case 'any':
      return out;
    case 'interfaces':
      set('OMPI_MCA_btl_tcp_if_include', network.include.join(','));
      set('OMPI_MCA_oob_tcp_if_include', network.include.join(','));
      return out;
    case 'loopback':
      // One host: the ranks talk over shared memory, no TCP transport (and no listener).
      set('OMPI_MCA_btl', 'self,vader');
      set('OMPI_MCA_oob_tcp_if_include', 'lo');
      out.LD_PRELOAD = [bindLib, ...(env.LD_PRELOAD ?? '').split(/[\s:]+/).filter((p) => p && p !== bindLib)].join(':');
      return out;
  }
}

/**
 * mpirun arguments (`-x NAME`) that give the ranks on other hosts the pool's PH5_* settings.
 * mpirun hands its own environment to the ranks on its host only: a daemon it starts on
 * another host (over ssh or another launch agent) starts its ranks with that host's login
 * environment plus OpenMPI's OMPI_MCA_* parameters, and nothing else. Every rank reads
 * some settings itself (PH5_FILE_SYNC, PH5_CONTIGUOUS_WRITES and PH5_STAGED_READS must
 * agree on all of them; PH5_LOG_LEVEL, PH5_POOL_NICE), so they are forwarded by name. A
 * loopback pool runs on one host: nothing to forward, its command line stays as it was.
 * (srun and jsrun pass the whole environment on by themselves.)
 */
export function mpirunForwardArgs(network: PoolNetwork, env: NodeJS.ProcessEnv): string[] {
  if (network.kind === 'loopback') return [];
  return Object.keys(env)
    .filter((name) => name.startsWith('PH5_') && env[name] !== undefined)
    .sort()
    .flatMap((name) => ['-x', name]);
}

/** Loopback mode cannot keep mpirun off the wildcard without the preload: refuse to pretend. */
export function checkPoolNetworkSupport(network: PoolNetwork, bindLib = LOOPBACK_BIND_LIB): void {
  if (network.kind === 'loopback' && !existsSync(bindLib)) {
    throw new Error(
      `${bindLib} is missing (run scripts/setup.sh, which builds it with the native addon): without it mpirun listens on every interface. Set PH5_POOL_NETWORK=any to accept that.`,
    );
  }
}

type Interfaces = ReturnType<typeof os.networkInterfaces>;

/**
 * The addresses rank 0's doorbell listens on, and invites the other ranks to: [] means
 * "every interface" (the `any` mode, ranks on other nodes). Link-local IPv6 needs a scope
 * that differs on every node, so it is never used.
 */
export function doorbellAddresses(network: PoolNetwork, interfaces: Interfaces): string[] {
  if (network.kind === 'loopback') return ['127.0.0.1'];
  if (network.kind === 'any') return [];
  const blocks = new net.BlockList();
  const names = new Set<string>();
  for (const item of network.include) {
    const cidr = item.includes('/') ? parseCidr(item) : null;
    if (cidr) blocks.addSubnet(cidr.address, cidr.prefix, cidr.family);
    else names.add(item);
  }
  const out: string[] = [];
  for (const [name, list] of Object.entries(interfaces)) {
    for (const a of list ?? []) {
      if (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:')) continue;
      const family = a.family === 'IPv4' ? 'ipv4' : 'ipv6';
      if (names.has(name) || blocks.check(a.address, family)) out.push(a.address);
    }
  }
  return [...new Set(out)];
}
