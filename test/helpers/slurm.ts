/**
 * A real single-node Slurm cluster for one test file, from Debian's packages (munge,
 * slurmctld, slurmd, slurm-client): its own munge key and socket, slurm.conf, state, spool
 * and log directories under a temp dir, and free ports, so it shares nothing with a
 * system Slurm or another test run. Made for a root shell in a container without systemd:
 * no cgroups (proctrack/linuxproc, task/none), no accounting.
 *
 * `slurmUnavailable()` says why Slurm cannot run here (for a skip message); everything else
 * failing is a test failure.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './stack.js';
import { exited } from '../../services/shared/child-exit.js';

const run = promisify(execFile);

const DAEMONS = ['munged', 'mungekey', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol', 'scancel', 'srun'];
const SBIN_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

function which(cmd: string): string | undefined {
  for (const dir of `${process.env.PATH ?? ''}:${SBIN_PATH}`.split(':')) {
    if (dir && existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return undefined;
}

/** Why a Slurm cluster cannot be started on this machine, or undefined when it can. */
export function slurmUnavailable(): string | undefined {
  const missing = DAEMONS.filter((d) => !which(d));
  if (missing.length) {
    return `Slurm is not installed (missing ${missing.join(', ')}); bash scripts/setup.sh installs Debian's munge slurmctld slurmd slurm-client`;
  }
  if (process.getuid?.() !== 0) return 'slurmd must run as root to start jobs, and this test runs as a normal user';
  return undefined;
}

export interface SlurmJobInfo {
  state: string;
  exitCode: string;
  raw: string;
}

export interface SlurmCluster {
  dir: string;
  nodeName: string;
  /** Environment for sbatch/squeue/scancel (SLURM_CONF) and the jobs they start. */
  env: NodeJS.ProcessEnv;
  sbatch(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<string>;
  job(id: string): Promise<SlurmJobInfo>;
  /** Waits for one of `states`; fails at once if the job ended in another. `context` adds to failure messages. */
  waitJob(id: string, states: string[], timeoutMs: number, context?: () => Promise<string>): Promise<SlurmJobInfo>;
  scancel(id: string, args?: string[]): Promise<void>;
  /** The daemons' logs, for failure messages. */
  logs(): Promise<string>;
  stop(): Promise<void>;
}

/** Thrown by a wait's check when waiting longer cannot help (a daemon died, the job ended). */
class Hopeless extends Error {}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE']);

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string, context: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      // A check that knows the wait is hopeless says so with a message of its own.
      if (err instanceof Hopeless) throw err;
      lastError = err;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last error: ${(lastError as Error)?.message})\n${await context()}`);
}

export async function startSlurm(): Promise<SlurmCluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ph5-slurm-'));
  const d = (...p: string[]) => path.join(dir, ...p);
  for (const sub of ['munge', 'state', 'spool', 'log', 'run']) await mkdir(d(sub), { recursive: true });
  // munged checks its directories: the socket's needs execute for all, the key 0600.
  await chmod(d('munge'), 0o711);
  await chmod(dir, 0o755);
  const nodeName = os.hostname().split('.')[0]!;
  const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
  const mungeSocket = d('munge', 'munge.sock');
  const conf = d('slurm.conf');
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_CONF: conf, PATH: `${process.env.PATH}:${SBIN_PATH}` };
  const daemons: ChildProcess[] = [];

  const logs = async () => {
    const parts: string[] = [];
    for (const f of ['munged.log', 'slurmctld.log', 'slurmd.log']) {
      const text = await readFile(d('log', f), 'utf8').catch(() => '(none)');
      parts.push(`--- ${f} (last lines)\n${text.split('\n').slice(-25).join('\n')}`);
    }
    return parts.join('\n');
  };

  const stop = async () => {
    // Reverse order: slurmd (and the job steps it owns), slurmctld, munged. SIGTERM, then
    // SIGKILL for anything still alive after 10 s; then any job process left behind.
    for (const p of daemons.reverse()) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      p.kill('SIGTERM');
      const gone = await Promise.race([exited(p).then(() => true), sleep(10_000).then(() => false)]);
      if (!gone) {
        p.kill('SIGKILL');
        await exited(p);
      }
    }
    await killLeftovers(dir);
    await rm(dir, { recursive: true, force: true });
  };

  const start = (cmd: string, args: string[], log: string) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    p.once('exit', () => void writeFile(d('log', `${log}.out`), out).catch(() => {}));
    daemons.push(p);
    return { proc: p, output: () => out };
  };

  try {
    await run('mungekey', ['--create', '--force', '--keyfile', d('munge', 'munge.key')], { env });
    await chmod(d('munge', 'munge.key'), 0o600);
    const munged = start(
      'munged',
      [
        '--foreground',
        '--force',
        `--socket=${mungeSocket}`,
        `--key-file=${d('munge', 'munge.key')}`,
        `--pid-file=${d('run', 'munged.pid')}`,
        `--seed-file=${d('munge', 'munged.seed')}`,
        `--log-file=${d('log', 'munged.log')}`,
      ],
      'munged',
    );
    await waitUntil(
      async () => existsSync(mungeSocket),
      10_000,
      'munged',
      async () => munged.output(),
    );

    await writeFile(
      conf,
      [
        'ClusterName=ph5test',
        `SlurmctldHost=${nodeName}(127.0.0.1)`,
        'SlurmUser=root',
        'SlurmdUser=root',
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${slurmdPort}`,
        'AuthType=auth/munge',
        'CredType=cred/munge',
        `AuthInfo=socket=${mungeSocket}`,
        `StateSaveLocation=${d('state')}`,
        `SlurmdSpoolDir=${d('spool')}`,
        `SlurmctldPidFile=${d('run', 'slurmctld.pid')}`,
        `SlurmdPidFile=${d('run', 'slurmd.pid')}`,
        `SlurmctldLogFile=${d('log', 'slurmctld.log')}`,
        `SlurmdLogFile=${d('log', 'slurmd.log')}`,
        // No cgroups in this container, and no systemd to delegate them.
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none',
        'SchedulerType=sched/backfill',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_Core',
        'MpiDefault=none',
        'ReturnToService=2',
        // Seconds between SIGTERM and SIGKILL at scancel/time limit: the pool's drain window.
        'KillWait=30',
        'MailProg=/bin/true',
        `NodeName=${nodeName} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN`,
        `PartitionName=ph5 Nodes=${nodeName} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES`,
        '',
      ].join('\n'),
    );
    const ctld = start('slurmctld', ['-D', '-i', '-f', conf], 'slurmctld');
    const slurmd = start('slurmd', ['-D', '-f', conf, '-N', nodeName], 'slurmd');
    await waitUntil(
      async () => {
        if (ctld.proc.exitCode !== null) throw new Hopeless(`slurmctld exited: ${ctld.output()}`);
        if (slurmd.proc.exitCode !== null) throw new Hopeless(`slurmd exited: ${slurmd.output()}`);
        const { stdout } = await run('sinfo', ['-h', '-N', '-o', '%T'], { env });
        return stdout.trim() === 'idle';
      },
      60_000,
      'the node to be idle in sinfo',
      async () => `${ctld.output()}\n${slurmd.output()}\n${await logs()}`,
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const job = async (id: string): Promise<SlurmJobInfo> => {
    const { stdout } = await run('scontrol', ['show', 'job', '-o', id], { env });
    return {
      state: /JobState=(\S+)/.exec(stdout)?.[1] ?? 'UNKNOWN',
      exitCode: /ExitCode=(\S+)/.exec(stdout)?.[1] ?? '?',
      raw: stdout,
    };
  };

  return {
    dir,
    nodeName,
    env,
    async sbatch(script, args, jobEnv) {
      const { stdout } = await run('sbatch', ['--parsable', ...args, script], { env: { ...jobEnv, SLURM_CONF: conf, PATH: env.PATH } });
      return stdout.trim().split(';')[0]!;
    },
    job,
    async waitJob(id, states, timeoutMs, context) {
      let last: SlurmJobInfo | undefined;
      const explain = async () => `${last?.raw ?? ''}\n${context ? await context() : ''}\n${await logs()}`;
      await waitUntil(
        async () => {
          last = await job(id);
          if (states.includes(last.state)) return true;
          if (TERMINAL.has(last.state))
            throw new Hopeless(`job ${id} ended ${last.state} (exit ${last.exitCode}), expected ${states.join('|')}\n${await explain()}`);
          return false;
        },
        timeoutMs,
        `job ${id} to reach ${states.join('|')}`,
        explain,
      );
      return last!;
    },
    async scancel(id, args = []) {
      await run('scancel', [...args, id], { env });
    },
    logs,
    stop,
  };
}

/** Any process still running from this cluster's directories (job steps, slurmstepd). */
async function killLeftovers(dir: string): Promise<void> {
  const { readdir, readlink } = await import('node:fs/promises');
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
    if (cmdline.includes(dir) || environ.includes(`SLURM_CONF=${path.join(dir, 'slurm.conf')}`) || cwd.startsWith(dir)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}
