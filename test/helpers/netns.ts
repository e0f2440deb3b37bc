/**
 * Namespaced "hosts" on this machine, for tests of what spans several hosts (pools whose
 * ranks run on two nodes, APIs on several hosts, Redis that survives its host).
 *
 * Each host is a Linux network namespace with its own loopback and one interface
 * (`ph5net0`, a veth pair whose other end is a port of a bridge private to the lab), an
 * address of its own in a /24 private to the lab, its own hostname (a UTS namespace per
 * process started in it) and an /etc/hosts naming every host of the lab (ip netns exec
 * mounts /etc/netns/<ns>/hosts over /etc/hosts). The hosts share this machine's
 * filesystem and process table, as compute nodes share a parallel filesystem: a test can
 * signal and inspect their processes directly.
 *
 * The bridge has no address in this machine's own namespace unless asked (`rootAddress`):
 * then the test process can reach the hosts (e.g. an HTTP client), still without any
 * packet leaving the machine.
 *
 * Tests run as parallel processes: every name carries a lab id (the creating pid in base
 * 36 and two random characters) and each lab picks its own subnet. teardown() removes
 * the namespaces, veths, bridge and /etc/netns entries; it also runs when the test
 * process exits without calling it, and labs left by a crashed run (their pid gone) are
 * swept when the next lab is made.
 *
 * Needs CAP_NET_ADMIN and iproute2: `netnsUnavailable()` says why not, for a skip message.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';

const NS_PREFIX = 'ph5n-';
const BRIDGE_PREFIX = 'ph5b';
const VETH_PREFIX = 'ph5v';
const PEER_PREFIX = 'ph5p';
/** The interface every host has (besides lo). Not `eth0`: a command run in the wrong
 * namespace by mistake must not find it and talk over the machine's real network. */
export const HOST_IFACE = 'ph5net0';

export interface NetnsHost {
  /** Its name in the lab, also its hostname and its name in every host's /etc/hosts. */
  readonly name: string;
  /** The network namespace (`ip netns exec <ns>`). */
  readonly ns: string;
  /** Its IPv4 address on the lab's bridge. */
  readonly address: string;
  /** The interface inside the namespace that holds the address. */
  readonly iface: string;
  /** The bridge-side end of its veth pair, in this machine's namespace. */
  readonly hostVeth: string;
}

export interface NetnsLab {
  readonly id: string;
  /** The lab's subnet, e.g. 10.213.7.0/24. */
  readonly subnet: string;
  readonly bridge: string;
  readonly hosts: readonly NetnsHost[];
  /** This machine's address on the bridge, when the lab was made with `rootAddress`. */
  readonly rootAddress: string | undefined;
  host(name: string): NetnsHost;
  /** The command line that runs `command args` inside the host (for launch agents, scripts). */
  command(host: NetnsHost | string, command: string, args?: readonly string[]): { command: string; args: string[] };
  /** Starts a process inside the host; its pid is the command's own (every wrapper execs). */
  spawn(host: NetnsHost | string, command: string, args?: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Runs a command inside the host to its end. */
  run(host: NetnsHost | string, command: string, args?: readonly string[], options?: SpawnOptions): Promise<RunResult>;
  /** Pulls the host's cable: its link to the bridge goes down (its address stays). */
  cut(host: NetnsHost | string): void;
  /** Plugs it back in. */
  restore(host: NetnsHost | string): void;
  /** Processes living in the host's network namespace. */
  pids(host: NetnsHost | string): number[];
  /** Sends a signal (default SIGKILL) to every process in the host; returns their pids. */
  killAll(host: NetnsHost | string, signal?: NodeJS.Signals): number[];
  /** Kills what runs in the hosts and removes everything the lab made. Idempotent. */
  teardown(): Promise<void>;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface LabOptions {
  /** Give this machine's namespace an address on the bridge (the lab's .254). */
  rootAddress?: boolean;
}

function ip(args: string[], allowFailure = false): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`ip ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0 && !allowFailure) throw new Error(`ip ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

let unavailableReason: string | undefined | null = null;

/** Why namespaced hosts cannot be made here (undefined: they can). Probed once, for real. */
export function netnsUnavailable(): string | undefined {
  if (unavailableReason !== null) return unavailableReason;
  const probe = `${NS_PREFIX}probe-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.error) unavailableReason = `iproute2's ip is not available (${add.error.message})`;
  else if (add.status !== 0) unavailableReason = `cannot create a network namespace (needs root / CAP_NET_ADMIN): ${add.stderr.trim()}`;
  else {
    const veth = spawnSync(
      'ip',
      ['link', 'add', `${VETH_PREFIX}probe`, 'netns', probe, 'type', 'veth', 'peer', 'name', `${PEER_PREFIX}probe`, 'netns', probe],
      { encoding: 'utf8' },
    );
    if (veth.status !== 0) unavailableReason = `cannot create veth pairs: ${(veth.stderr || veth.error?.message || '').trim()}`;
    else unavailableReason = undefined;
    spawnSync('ip', ['netns', 'del', probe]);
  }
  return unavailableReason;
}

function pidAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** The pid that made a lab, from its id (base-36 pid + 2 random characters). */
function ownerOf(id: string): number {
  return parseInt(id.slice(0, -2), 36);
}

function nsPids(ns: string): number[] {
  return ip(['netns', 'pids', ns], true)
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

function killNs(ns: string, signal: NodeJS.Signals): number[] {
  const pids = nsPids(ns);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
  return pids;
}

function linkNames(): string[] {
  return ip(['-o', 'link', 'show'], true)
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((n): n is string => Boolean(n));
}

/** Removes one lab's namespaces, links and /etc/netns entries (synchronous: usable at exit). */
function removeLab(id: string): void {
  const namespaces = ip(['netns', 'list'], true)
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(`${NS_PREFIX}${id}-`));
  for (const ns of namespaces) killNs(ns, 'SIGKILL');
  for (const ns of namespaces) ip(['netns', 'del', ns], true);
  for (const link of linkNames()) {
    if (link === `${BRIDGE_PREFIX}${id}` || (link.startsWith(`${VETH_PREFIX}${id}`) && link.length === VETH_PREFIX.length + id.length + 1)) {
      ip(['link', 'del', link], true);
    }
  }
  if (existsSync('/etc/netns')) {
    for (const name of readdirSync('/etc/netns')) {
      if (name.startsWith(`${NS_PREFIX}${id}-`)) rmSync(`/etc/netns/${name}`, { recursive: true, force: true });
    }
  }
}

/** Removes labs whose creating process is gone (a crashed or killed earlier run); returns their ids. */
export function sweepStaleLabs(): string[] {
  const ids = new Set<string>();
  for (const line of ip(['netns', 'list'], true).split('\n')) {
    const m = new RegExp(`^${NS_PREFIX}([0-9a-z]+)-`).exec(line);
    if (m && m[1] !== 'probe') ids.add(m[1]!);
  }
  for (const link of linkNames()) {
    const m = new RegExp(`^${BRIDGE_PREFIX}([0-9a-z]{3,})$`).exec(link);
    if (m) ids.add(m[1]!);
  }
  if (existsSync('/etc/netns')) {
    for (const name of readdirSync('/etc/netns')) {
      const m = new RegExp(`^${NS_PREFIX}([0-9a-z]+)-`).exec(name);
      if (m && m[1] !== 'probe') ids.add(m[1]!);
    }
  }
  const stale = [...ids].filter((id) => !pidAlive(ownerOf(id)));
  for (const id of stale) removeLab(id);
  return stale;
}

/** A /24 in 10.0.0.0/8 that no route of this machine's namespace overlaps. */
function pickSubnet(): [number, number] {
  const routes = ip(['-4', 'route', 'show', 'table', 'all'], true);
  for (let i = 0; i < 100; i++) {
    const x = randomInt(100, 250);
    const y = randomInt(0, 256);
    if (!routes.includes(`10.${x}.${y}.`) && !routes.includes(`10.${x}.0.0/16`) && !/(^|\s)10\.0\.0\.0\/8/.test(routes)) return [x, y];
  }
  throw new Error('no free 10.x.y.0/24 for a test lab');
}

const HOST_NAME = /^[a-z][a-z0-9-]{0,30}$/;
const liveLabs = new Set<string>();
let exitHook = false;

/**
 * Makes `hosts` namespaced hosts (a count, named h0, h1, ...; or the names to use) on one
 * private bridge. Call `teardown()` in an `after` hook.
 */
export async function createLab(hosts: number | readonly string[], options: LabOptions = {}): Promise<NetnsLab> {
  const reason = netnsUnavailable();
  if (reason) throw new Error(reason);
  sweepStaleLabs();
  const names = typeof hosts === 'number' ? Array.from({ length: hosts }, (_, i) => `h${i}`) : [...hosts];
  if (names.length < 1 || names.length > 36) throw new Error('a lab has 1 to 36 hosts');
  for (const n of names) if (!HOST_NAME.test(n)) throw new Error(`host name '${n}' must match ${HOST_NAME}`);
  if (new Set(names).size !== names.length) throw new Error('host names must differ');

  const id =
    process.pid.toString(36) +
    randomInt(36 * 36)
      .toString(36)
      .padStart(2, '0');
  const [x, y] = pickSubnet();
  const net = `10.${x}.${y}`;
  const bridge = `${BRIDGE_PREFIX}${id}`;
  liveLabs.add(id);
  if (!exitHook) {
    exitHook = true;
    // A test that failed before its after hook, or a forced exit: leave nothing behind.
    process.once('exit', () => {
      for (const lab of liveLabs) removeLab(lab);
    });
  }

  const made: NetnsHost[] = [];
  try {
    ip(['link', 'add', bridge, 'type', 'bridge']);
    ip(['link', 'set', bridge, 'up']);
    const rootAddress = options.rootAddress ? `${net}.254` : undefined;
    if (rootAddress) ip(['addr', 'add', `${rootAddress}/24`, 'dev', bridge]);
    names.forEach((name, i) => {
      const ns = `${NS_PREFIX}${id}-${name}`;
      const hostVeth = `${VETH_PREFIX}${id}${i.toString(36)}`;
      const peer = `${PEER_PREFIX}${id}${i.toString(36)}`;
      const address = `${net}.${i + 1}`;
      ip(['netns', 'add', ns]);
      ip(['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', peer]);
      ip(['link', 'set', hostVeth, 'master', bridge, 'up']);
      ip(['link', 'set', peer, 'netns', ns]);
      ip(['-n', ns, 'link', 'set', peer, 'name', HOST_IFACE]);
      ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', HOST_IFACE]);
      ip(['-n', ns, 'link', 'set', HOST_IFACE, 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      made.push({ name, ns, address, iface: HOST_IFACE, hostVeth });
    });
    const etcHosts = [
      '127.0.0.1 localhost',
      '::1 localhost ip6-localhost ip6-loopback',
      ...made.map((h) => `${h.address} ${h.name}`),
      ...(rootAddress ? [`${rootAddress} ph5-root`] : []),
      '',
    ].join('\n');
    for (const h of made) {
      mkdirSync(`/etc/netns/${h.ns}`, { recursive: true });
      writeFileSync(`/etc/netns/${h.ns}/hosts`, etcHosts);
    }
    return makeLab(id, `${net}.0/24`, bridge, made, rootAddress);
  } catch (err) {
    removeLab(id);
    liveLabs.delete(id);
    throw err;
  }
}

function makeLab(id: string, subnet: string, bridge: string, hosts: NetnsHost[], rootAddress: string | undefined): NetnsLab {
  const find = (h: NetnsHost | string): NetnsHost => {
    const name = typeof h === 'string' ? h : h.name;
    const host = hosts.find((x) => x.name === name);
    if (!host) throw new Error(`no host '${name}' in lab ${id} (${hosts.map((x) => x.name).join(', ')})`);
    return host;
  };
  const command = (h: NetnsHost | string, cmd: string, args: readonly string[] = []) => {
    const host = find(h);
    // ip netns exec: the network namespace and the host's /etc/hosts; unshare --uts: a
    // hostname of its own. Each execs the next, so the pid is the command's.
    return {
      command: 'ip',
      args: ['netns', 'exec', host.ns, 'unshare', '--uts', '--', 'sh', '-c', 'echo "$0" > /proc/sys/kernel/hostname && exec "$@"', host.name, cmd, ...args],
    };
  };
  let torn = false;
  return {
    id,
    subnet,
    bridge,
    hosts,
    rootAddress,
    host: find,
    command,
    spawn(h, cmd, args = [], options = {}) {
      const c = command(h, cmd, args);
      return spawn(c.command, c.args, options);
    },
    run(h, cmd, args = [], options = {}) {
      const c = command(h, cmd, args);
      return new Promise((resolve, reject) => {
        const child = spawn(c.command, c.args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        child.once('error', reject);
        child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      });
    },
    cut(h) {
      ip(['link', 'set', find(h).hostVeth, 'down']);
    },
    restore(h) {
      ip(['link', 'set', find(h).hostVeth, 'up']);
    },
    pids: (h) => nsPids(find(h).ns),
    killAll: (h, signal = 'SIGKILL') => killNs(find(h).ns, signal),
    async teardown() {
      if (torn) return;
      torn = true;
      removeLab(id);
      liveLabs.delete(id);
    },
  };
}
