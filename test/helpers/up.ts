/**
 * `npm start` (dist/services/cli/up.js) as a user runs it, for the supervisor's tests: its
 * own process group (`detached`), as a shell gives a foreground job, so that a test can
 * send a signal to the whole group as a terminal's Ctrl-C does. Every process of the
 * stack (redis-server, the API, mpirun, the ranks) inherits a marker in its environment,
 * so the tests find them all in /proc, whatever group or parent they ended up with.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './stack.js';
import { isRunning } from './proc.js';

const UP = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'services', 'cli', 'up.js');
const MARKER = 'PH5_UP_TEST';

export interface StackProcess {
  pid: number;
  comm: string;
  args: string;
}

export interface Listener {
  pid: number;
  comm: string;
  address: string;
  port: number;
}

export interface Up {
  proc: ChildProcess;
  pid: number;
  url: string;
  dataDir: string;
  logs(): string;
  /** Resolves when the line matching `re` has been printed. */
  waitLog(re: RegExp, timeoutMs: number): Promise<void>;
  /** Resolves when GET /readyz answers 200; returns how long that took. */
  waitReady(timeoutMs: number): Promise<number>;
  /** Exit code and signal, once up.js has exited. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Processes of this stack still running (up.js itself excluded). */
  processes(): Promise<StackProcess[]>;
  /** TCP listeners owned by processes of this stack (up.js included). */
  listeners(): Promise<Listener[]>;
  /** SIGKILL to everything of the stack that is left, and the data directory removed. */
  cleanup(): Promise<void>;
}

async function environHas(pid: number, needle: Buffer): Promise<boolean> {
  const environ = await readFile(`/proc/${pid}/environ`).catch(() => null);
  return environ !== null && Buffer.concat([Buffer.from([0]), environ]).includes(needle);
}

async function describe(pid: number): Promise<StackProcess | null> {
  const [comm, cmdline] = await Promise.all([
    readFile(`/proc/${pid}/comm`, 'utf8').catch(() => null),
    readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null),
  ]);
  if (comm === null || cmdline === null) return null;
  return { pid, comm: comm.trim(), args: cmdline.split('\0').join(' ').trim() };
}

/**
 * Processes (running, not zombies) whose environment carries `marker`, or whose command
 * line contains `alsoNamed`: redis-server writes its process title over its environment
 * ("redis-server unixsocket:<dir>/redis.sock"), so it is found by its socket's path.
 */
export async function markedProcesses(marker: string, alsoNamed?: string): Promise<StackProcess[]> {
  const needle = Buffer.from(`\0${MARKER}=${marker}\0`);
  const out: StackProcess[] = [];
  for (const name of await readdir('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const p = await describe(pid);
    if (!p || !((alsoNamed && p.args.includes(alsoNamed)) || (await environHas(pid, needle))) || !(await isRunning(pid))) continue;
    out.push(p);
  }
  return out;
}

/** /proc/net/tcp{,6} local address (hex) to text. */
function decodeAddress(hex: string, v6: boolean): string {
  if (!v6) return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  // Four 32-bit words, each in host (little-endian) byte order.
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) for (const i of [3, 2, 1, 0]) bytes.push(parseInt(hex.slice(w * 8 + i * 2, w * 8 + i * 2 + 2), 16));
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** TCP sockets in LISTEN state owned by `pids`, from /proc (no ss needed). */
export async function tcpListeners(procs: readonly StackProcess[]): Promise<Listener[]> {
  const byInode = new Map<string, { address: string; port: number }>();
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ] as const) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
      const [addr = '', port = '0'] = f[1]!.split(':');
      byInode.set(f[9]!, { address: decodeAddress(addr, v6), port: parseInt(port, 16) });
    }
  }
  const out: Listener[] = [];
  for (const p of procs) {
    const fds = await readdir(`/proc/${p.pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`/proc/${p.pid}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(link);
      const l = m && byInode.get(m[1]!);
      if (l) out.push({ pid: p.pid, comm: p.comm, ...l });
    }
  }
  return out;
}

export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

export async function startUp(opts: { ranks: number; env?: NodeJS.ProcessEnv; dataDir?: string }): Promise<Up> {
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'ph5-up-')));
  const port = await freePort();
  const marker = randomUUID();
  let output = '';
  const proc = spawn(process.execPath, [UP], {
    env: {
      ...process.env,
      PH5_DATA_DIR: dataDir,
      PH5_PORT: String(port),
      PH5_HOST: '127.0.0.1',
      PH5_RANKS: String(opts.ranks),
      PH5_LOG_LEVEL: 'info',
      PH5_REDIS_URL: '',
      [MARKER]: marker,
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  proc.stdout.on('data', (b: Buffer) => (output += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const stackProcesses = () => markedProcesses(marker, path.join(dataDir, '.redis', 'redis.sock'));
  return {
    proc,
    pid: proc.pid!,
    url,
    dataDir,
    exit,
    logs: () => output,
    async waitLog(re, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(output)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in:\n${output}`);
        await sleep(10);
      }
    },
    async waitReady(timeoutMs) {
      const t0 = Date.now();
      while (
        !(await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.ok,
          () => false,
        ))
      ) {
        if (Date.now() - t0 > timeoutMs) throw new Error(`not ready within ${timeoutMs} ms:\n${output}`);
        if (proc.exitCode !== null) throw new Error(`up.js exited (${proc.exitCode}):\n${output}`);
        await sleep(100);
      }
      return Date.now() - t0;
    },
    processes: async () => (await stackProcesses()).filter((p) => p.pid !== proc.pid),
    listeners: async () => tcpListeners(await stackProcesses()),
    async cleanup() {
      for (const p of await stackProcesses()) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
