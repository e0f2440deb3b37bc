/**
 * test/helpers/netns.ts: namespaced hosts are separate network stacks that reach each other
 * over the lab's bridge only (by address and by name), each with its own hostname; a cut
 * link stops traffic until it is restored; killAll empties a host; teardown and the sweep
 * of crashed runs' labs leave no namespace, link or /etc/netns entry behind.
 * (No ping here: reachability is a node TCP connection.)
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLab, HOST_IFACE, netnsUnavailable, sweepStaleLabs, type NetnsHost, type NetnsLab } from '../helpers/netns.js';

const unavailable = netnsUnavailable();
if (unavailable) console.error(`# netns-helper.test: SKIPPED: ${unavailable}`);

const labs: NetnsLab[] = [];
after(async () => {
  for (const lab of labs) await lab.teardown();
});

const PORT = 7411;

/** A node one-liner: connect to host:port, print what the server says, or the error code. */
const CONNECT = `
const s = require('net').connect({ host: process.argv[1], port: +process.argv[2] });
s.setTimeout(+process.argv[3], () => { console.log('TIMEOUT'); process.exit(0); });
s.on('data', (b) => { console.log(b.toString()); process.exit(0); });
s.on('error', (e) => { console.log(e.code); process.exit(0); });`;

const SERVE = `
require('net').createServer((c) => c.end(require('os').hostname())).listen(+process.argv[2], process.argv[1], () => console.log('listening'));`;

async function connectFrom(lab: NetnsLab, from: NetnsHost | string, host: string, timeoutMs = 3000): Promise<string> {
  const r = await lab.run(from, process.execPath, ['-e', CONNECT, host, String(PORT), String(timeoutMs)]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

function links(): string {
  return spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
}

function namespaces(): string {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
}

test('two namespaced hosts: own stacks, reachable over the bridge, cut and restored, emptied, torn down', { skip: unavailable, timeout: 60_000 }, async () => {
  const lab = await createLab(['alpha', 'beta']);
  labs.push(lab);
  const [a, b] = [lab.host('alpha'), lab.host('beta')];
  assert.match(lab.subnet, /^10\.\d+\.\d+\.0\/24$/);
  assert.notEqual(a.address, b.address);

  // Each host sees lo and its own interface with its own address, nothing of this machine's.
  const addrs = await lab.run(a, 'ip', ['-br', '-4', 'addr']);
  const lines = addrs.stdout
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/));
  assert.deepEqual(lines.map((l) => l[0]!.split('@')[0]).sort(), ['lo', HOST_IFACE].sort(), addrs.stdout);
  assert.ok(addrs.stdout.includes(`${a.address}/24`), addrs.stdout);
  assert.equal((await lab.run(b, 'hostname')).stdout.trim(), 'beta');

  const server = lab.spawn(b, process.execPath, ['-e', SERVE, b.address, String(PORT)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
  assert.ok(lab.pids(b).includes(server.pid!), 'the server lives in beta');

  assert.equal(await connectFrom(lab, a, b.address), 'beta', 'alpha reaches beta by address');
  assert.equal(await connectFrom(lab, a, 'beta'), 'beta', "alpha reaches beta by name (the lab's /etc/hosts)");
  // This machine's own namespace has no route into the lab (no rootAddress asked for).
  const fromRoot = spawnSync(process.execPath, ['-e', CONNECT, b.address, String(PORT), '1500'], { encoding: 'utf8' }).stdout.trim();
  assert.notEqual(fromRoot, 'beta', 'the root namespace must not reach the lab');

  lab.cut(b);
  assert.equal(await connectFrom(lab, a, b.address, 1500), 'TIMEOUT', 'a cut link carries nothing');
  lab.restore(b);
  // The link needs a moment to come back (carrier, then ARP).
  let again = '';
  for (let i = 0; i < 20 && again !== 'beta'; i++) {
    again = await connectFrom(lab, a, b.address, 1500);
    if (again !== 'beta') await sleep(250);
  }
  assert.equal(again, 'beta', 'restored');

  const exited = new Promise((resolve) => server.once('exit', (_code, signal) => resolve(signal)));
  assert.ok(lab.killAll(b).includes(server.pid!));
  assert.equal(await exited, 'SIGKILL');
  assert.deepEqual(lab.pids(b), []);

  await lab.teardown();
  assert.ok(!namespaces().includes(`ph5n-${lab.id}-`), namespaces());
  assert.ok(!links().includes(lab.bridge) && !links().includes(a.hostVeth) && !links().includes(b.hostVeth), links());
  assert.ok(!existsSync(`/etc/netns/${a.ns}`) && !existsSync(`/etc/netns/${b.ns}`));
});

test('rootAddress: the test process reaches the hosts through the bridge', { skip: unavailable, timeout: 30_000 }, async () => {
  const lab = await createLab(1, { rootAddress: true });
  labs.push(lab);
  const h = lab.hosts[0]!;
  const server = lab.spawn(h, process.execPath, ['-e', SERVE, h.address, String(PORT)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
  const r = spawnSync(process.execPath, ['-e', CONNECT, h.address, String(PORT), '3000'], { encoding: 'utf8' });
  assert.equal(r.stdout.trim(), 'h0');
  await lab.teardown();
});

test("a crashed run's lab is swept by the next one; a live run's is not", { skip: unavailable, timeout: 30_000 }, async () => {
  // A lab id whose owner is certainly gone: a process that has exited.
  const dead = spawn('true');
  await new Promise((resolve) => dead.once('exit', resolve));
  const id = dead.pid!.toString(36) + 'zz';
  const ns = `ph5n-${id}-h0`;
  spawnSync('ip', ['netns', 'add', ns]);
  spawnSync('ip', ['link', 'add', `ph5b${id}`, 'type', 'bridge']);
  const live = await createLab(1);
  labs.push(live);
  // createLab swept already; a second sweep must leave the live lab alone.
  sweepStaleLabs();
  assert.ok(!namespaces().includes(ns), namespaces());
  assert.ok(!links().includes(`ph5b${id}`), links());
  assert.ok(namespaces().includes(live.hosts[0]!.ns), 'the live lab stays');
  await live.teardown();
});
