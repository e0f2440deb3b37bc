/**
 * One pool, ranks on two hosts: Linux network namespaces on this machine (test/helpers/
 * netns.ts), each a host with its own network stack on a private bridge, sharing the
 * filesystem as compute nodes share a parallel filesystem. mpirun runs on node0 and starts
 * node1's daemon through a launch agent that stands in for ssh (no environment of its own
 * passed on); Redis runs on a third host; PH5_POOL_NETWORK is the lab's subnet
 * (test/helpers/multihost.ts). Shown:
 *   - the ranks are on both hosts, node1's with the pool's PH5_* settings (forwarded by
 *     mpirun, as a remote daemon's ranks get none of its environment otherwise);
 *   - node1's ranks reach rank 0's doorbell across the bridge, and their MPI traffic with
 *     node0's ranks goes over TCP between the hosts' addresses (a bulk write done with
 *     collective I/O; checked by h5py and h5dump);
 *   - the seed scenario with 21 ranks on each host matches the tutorial's h5dump;
 *   - killing a whole host's processes, a rank on either host, mpirun, or cutting node1's
 *     link mid-stream (plugged back once the pool has ended) is healed as a local rank's
 *     death is: every accepted write completes, in acceptance order (test/helpers/fault.ts).
 * No pool process lives outside the lab's namespaces, which have no route but their subnet.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { client } from '../helpers/client.js';
import { FAST_RECOVERY_ENV, runFaultStream, type Victim } from '../helpers/fault.js';
import { h5dump, h5py } from '../helpers/h5.js';
import { startMultiHostStack, type MultiHostStack } from '../helpers/multihost.js';
import { netnsUnavailable } from '../helpers/netns.js';
import type { Stack } from '../helpers/stack.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SEED = path.resolve(here, '..', '..', '..', 'test', 'fixtures', 'seed');

const unavailable = netnsUnavailable();
if (unavailable) console.error(`# multihost-pool.test: SKIPPED: ${unavailable}`);

const stacks: MultiHostStack[] = [];
after(async () => {
  for (const s of stacks) await s.stop().catch(() => {});
});

/** TCP connections (established) of a host: [local address:port, peer address:port, pid]. */
async function connections(stack: MultiHostStack, host: string): Promise<{ local: string; peer: string; pids: number[] }[]> {
  const r = await stack.lab.run(host, 'ss', ['-Htnp', 'state', 'established']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [, , local = '', peer = '', ...rest] = line.trim().split(/\s+/);
      return { local, peer, pids: [...rest.join(' ').matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])) };
    });
}

async function environOf(pid: number): Promise<Record<string, string>> {
  const raw = await readFile(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** Bytes through a host's cable (its veth's bridge end, both ways). */
async function cableBytes(stack: MultiHostStack, host: string): Promise<number> {
  const veth = stack.lab.host(host).hostVeth;
  const read = async (dir: string) => Number(await readFile(`/sys/class/net/${veth}/statistics/${dir}_bytes`, 'utf8'));
  return (await read('rx')) + (await read('tx'));
}

test(
  'a pool across two hosts: doorbell and MPI over the bridge, a bulk collective write read back by h5py',
  { skip: unavailable, timeout: 240_000 },
  async () => {
    const stack = await startMultiHostStack({ ranksPerNode: [2, 2], env: { PH5_LOG_LEVEL: 'info', PH5_CONTIGUOUS_WRITES: 'collective' } });
    stacks.push(stack);
    const node0 = stack.lab.host('node0');
    const node1 = stack.lab.host('node1');

    const ranks = await stack.ranksByNode();
    assert.equal(ranks.node0!.length, 2, JSON.stringify(ranks));
    assert.equal(ranks.node1!.length, 2, JSON.stringify(ranks));
    assert.ok(stack.lab.pids(node0).includes(stack.pool.pid!), 'mpirun runs on node0');
    for (const pid of ranks.node1!) {
      const env = await environOf(pid);
      assert.equal(env.PH5_CONTIGUOUS_WRITES, 'collective', `rank ${pid} on node1 has the pool's settings`);
      assert.equal(env.PH5_REDIS_URL, stack.rankRedisUrl);
      assert.equal(env.PH5_POOL_NETWORK, stack.lab.subnet);
    }
    // The hosts have no way out of the lab: one route, their subnet.
    for (const h of stack.lab.hosts) {
      const routes = (await stack.lab.run(h, 'ip', ['-4', 'route'])).stdout.trim().split('\n');
      assert.deepEqual(
        routes.map((r) => r.split(' ')[0]),
        [stack.lab.subnet],
        `${h.name}: ${routes.join('; ')}`,
      );
    }

    // The doorbell: node1's ranks are connected to rank 0 (node0) across the bridge.
    const port = Number(/doorbell: 3 of 3 ranks connected on port (\d+)/.exec(stack.logs())?.[1]);
    assert.ok(port > 0, `doorbell summary in the log:\n${stack.logs()}`);
    const bell = (await connections(stack, node1.name)).filter((c) => c.peer === `${node0.address}:${port}`);
    assert.deepEqual(bell.flatMap((c) => c.pids).sort(), [...ranks.node1!].sort(), 'each rank on node1 has its doorbell connection to node0');

    // A bulk write (raw float64, element i = i), written with collective I/O by all four ranks.
    const rows = 1024;
    const cols = 2048;
    const c = client(stack.url);
    const created = await c.accepted('POST', '/v1/files/bulk.h5/datasets', { path: 'x', dtype: 'float64', shape: [rows, cols] });
    assert.equal(created.state, 'completed', JSON.stringify(created.error));
    const body = Buffer.alloc(rows * cols * 8);
    for (let i = 0; i < rows * cols; i++) body.writeDoubleLE(i, i * 8);
    const before = await cableBytes(stack, node1.name);
    const job = await c.accepted('PUT', '/v1/files/bulk.h5/datasets/x/value', body);
    const moved = (await cableBytes(stack, node1.name)) - before;
    assert.equal(job.state, 'completed', JSON.stringify(job.error));
    assert.equal(job.ranks, 4);
    const shares = job.result.ops[0].decomposition as { rank: number; rows: number }[];
    assert.deepEqual(
      shares.map((s) => s.rank),
      [0, 1, 2, 3],
    );
    assert.ok(
      shares.every((s) => s.rows > 0),
      JSON.stringify(shares),
    );
    const check = await h5py<{ shape: number[]; ok: boolean }>(
      stack.filePath('bulk.h5'),
      "d = h5py.File(path, 'r')['x']; out = {'shape': list(d.shape), 'ok': bool((d[()].ravel() == np.arange(d.size, dtype='f8')).all())}",
    );
    assert.deepEqual(check, { shape: [rows, cols], ok: true });
    await h5dump(stack.filePath('bulk.h5'), ['-H']);

    // MPI between the hosts went over TCP, between their addresses (not the doorbell's port,
    // not Redis's): node1's ranks hold connections to node0's address.
    const mpiLinks = (await connections(stack, node1.name)).filter(
      (x) => x.peer.startsWith(`${node0.address}:`) && x.peer !== `${node0.address}:${port}` && x.pids.some((p) => ranks.node1!.includes(p)),
    );
    assert.ok(mpiLinks.length > 0, `no MPI connection from node1's ranks to node0:\n${JSON.stringify(await connections(stack, node1.name))}`);
    console.log(
      `node1's cable carried ${(moved / 2 ** 20).toFixed(1)} MiB during the ${(body.length / 2 ** 20).toFixed(0)} MiB write; ${mpiLinks.length} MPI connections node1 -> node0`,
    );
    assert.ok(moved > 0);
    await stack.stop();
  },
);

// 42 ranks over TCP on a shared, loaded 2-core machine: up to ~4 min here.
test('the seed scenario with 21 ranks on each of two hosts matches the tutorial', { skip: unavailable, timeout: 600_000 }, async () => {
  const t0 = Date.now();
  const stack = await startMultiHostStack({ ranksPerNode: [21, 21] });
  const up = Date.now();
  stacks.push(stack);
  const ranks = await stack.ranksByNode();
  assert.deepEqual([ranks.node0!.length, ranks.node1!.length], [21, 21]);
  const c = client(stack.url);
  const created = await c.accepted('POST', '/v1/files/output.h5/datasets', { path: '/test', dtype: 'int32', shape: [42] });
  assert.equal(created.state, 'completed', JSON.stringify(created.error));
  const values = Array.from({ length: 42 }, (_, i) => i);
  const job = await c.accepted('PUT', '/v1/files/output.h5/datasets/test/value?select=[0:42]', values);
  console.log(`seed on two hosts: pool up in ${((up - t0) / 1000).toFixed(1)} s, create + write in ${((Date.now() - up) / 1000).toFixed(1)} s`);
  assert.equal(job.state, 'completed', JSON.stringify(job.error));
  assert.equal(job.ranks, 42);
  assert.equal(job.result.ops[0].decomposition.length, 42);
  const expected = await readFile(path.join(SEED, 'expected-h5dump.txt'), 'utf8');
  assert.equal((await h5dump(stack.filePath('output.h5'))).trimEnd(), expected.trimEnd());
  assert.deepEqual(await h5py(stack.filePath('output.h5'), "out = h5py.File(path, 'r')['test'][()].tolist()"), values);
  await stack.stop();
});

/**
 * The kills, in turn: all of node1's processes (its daemon and ranks), its link cut (and
 * plugged back in a few seconds later), one rank on node1, all of node0's (mpirun and
 * rank 0 among them), one rank on node0, mpirun.
 */
function multiHostVictims(): (stack: Stack) => Promise<Victim[] | null> {
  const plan = ['host node1', 'cut node1', 'rank on node1', 'host node0', 'rank on node0', 'mpirun'];
  let next = 0;
  // Where the log stood at the last kill: the pool is up once it says so after that.
  let mark = 0;
  return async (s) => {
    const stack = s as MultiHostStack;
    const ranks = await stack.ranksByNode();
    if (ranks.node0?.length !== 2 || ranks.node1?.length !== 2 || !stack.pool.pid) return null;
    // Past its start-up (MPI_Init, the doorbell's set-up), which no deadline guards (see
    // docs/configuration.md, PH5_POOL_NETWORK): a link cut there waits for the link.
    if (!stack.logs().slice(mark).includes('4 ranks, consuming shards')) return null;
    const name = plan[next % plan.length]!;
    const done =
      <T>(f: () => T) =>
      () => {
        next++;
        mark = stack.logs().length;
        return f();
      };
    const sigkill = (pid: number) => () => process.kill(pid, 'SIGKILL');
    switch (name) {
      case 'host node1':
        return [{ name, pid: ranks.node1[0]!, kill: done(() => void stack.lab.killAll('node1')) }];
      case 'host node0':
        return [{ name, pid: stack.pool.pid, kill: done(() => void stack.lab.killAll('node0')) }];
      case 'rank on node1':
        return [{ name, pid: ranks.node1[1]!, kill: done(sigkill(ranks.node1[1]!)) }];
      case 'rank on node0':
        return [{ name, pid: ranks.node0[0]!, kill: done(sigkill(ranks.node0[0]!)) }];
      case 'mpirun':
        return [{ name, pid: stack.pool.pid, kill: done(sigkill(stack.pool.pid)) }];
      default:
        return [
          {
            name,
            pid: 0,
            kill: done(() => {
              stack.lab.cut('node1');
              // Plugged back in once the pool has ended (rank 0's deadline, then the
              // supervisor): a link back sooner would let TCP carry on as if nothing
              // happened, which is no test of healing.
              const mpirun = stack.pool.pid;
              void (async () => {
                for (let i = 0; i < 300 && stack.pool.pid === mpirun; i++) await sleep(100);
                await sleep(500 + Math.random() * 2000);
                stack.lab.restore('node1');
              })();
            }),
          },
        ];
    }
  };
}

test(
  'killing one host (or cutting its link) mid-stream heals like a local rank death: nothing lost or reordered',
  { skip: unavailable, timeout: 480_000 },
  async () => {
    const kills = 8;
    const r = await runFaultStream({
      kills,
      minWrites: 200,
      ranks: 4,
      killGapMs: [500, 2500],
      // A cut link hangs a collective until rank 0's deadline: keep it short, and never fail
      // a job for the hangs the cuts charge it.
      env: { ...FAST_RECOVERY_ENV, PH5_STEP_TIMEOUT_MS: '8000', PH5_HUNG_JOB_ATTEMPTS: '1000' },
      startStack: ({ env }) => startMultiHostStack({ ranksPerNode: [2, 2], env }),
      victims: multiHostVictims(),
      note: (l) => console.log(l),
    });
    console.log(
      `multi-host fault injection: ${r.kills} kills (${JSON.stringify(r.killed)}), ${r.writes} writes / ${r.jobs} jobs in ${r.seconds.toFixed(1)} s, ` +
        `${r.restarts} pool restarts (${r.stuckLaunchers} of a stuck launcher)`,
    );
    const tail = () =>
      r.logs
        .split('\n')
        .filter((l) => /warn|error|recovered|applied before|stuck|watchdog/.test(l))
        .slice(-40)
        .join('\n');
    assert.ok(r.kills >= kills);
    assert.ok((r.killed['host node1'] ?? 0) >= 1 && (r.killed['cut node1'] ?? 0) >= 1, JSON.stringify(r.killed));
    assert.deepEqual(r.notCompleted, [], `jobs not completed:\n${r.diagnostics}\n${tail()}`);
    assert.deepEqual(r.outOfOrder, []);
    assert.deepEqual(r.unreadable, []);
    assert.deepEqual(r.mismatches.slice(0, 10), [], `files differ from the sequential application of the writes\n${tail()}`);
  },
);
