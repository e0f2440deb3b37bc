/**
 * Which files in the staging directory are orphaned partial uploads (partial-uploads.ts):
 * the decision as a table, the names it reads, and what /proc says about live processes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import {
  currentOwner,
  parsePartialName,
  partialFate,
  partialName,
  processStartTime,
  STALE_MS,
  type UploadOwner,
} from '../../services/api/lib/partial-uploads.js';

const UUID = '0b6c3c3e-2f7a-4f55-9d0e-5b1f3c2a9e11';
const self: UploadOwner = { boot: 'a1b2c3d4', pidns: 4026531836, pid: 1000, start: 5000 };
const name = (o: Partial<UploadOwner>) => partialName(UUID, { ...self, ...o });

test('partialFate: a table of staged files, owners and ages', () => {
  const cases: {
    what: string;
    name: string;
    self?: UploadOwner | null;
    ownerPidStart?: number | null;
    ageMs?: number;
    want: ReturnType<typeof partialFate>;
  }[] = [
    { what: 'a staged payload of a job', name: `${UUID}.bin`, want: { remove: false, why: 'not-partial' } },
    { what: 'a hidden file', name: '.nfs000123', want: { remove: false, why: 'not-partial' } },
    { what: 'a .part without an owner', name: `${UUID}.part`, want: { remove: false, why: 'not-partial' } },
    { what: 'an owner field that is not a number', name: `${UUID}.a1b2c3d4-x-1-2.part`, want: { remove: false, why: 'not-partial' } },
    { what: 'this process’s own upload', name: name({}), ownerPidStart: 5000, want: { remove: false, why: 'mine' } },
    {
      what: 'this process’s own upload, very old (a stalled client)',
      name: name({}),
      ownerPidStart: 5000,
      ageMs: 10 * STALE_MS,
      want: { remove: false, why: 'mine' },
    },
    {
      what: 'a live sibling process',
      name: name({ pid: 2000, start: 7000 }),
      ownerPidStart: 7000,
      ageMs: 10 * STALE_MS,
      want: { remove: false, why: 'owner-alive' },
    },
    { what: 'a dead sibling (no such pid)', name: name({ pid: 2000, start: 7000 }), ownerPidStart: null, ageMs: 0, want: { remove: true, why: 'owner-dead' } },
    {
      what: 'a dead sibling whose pid was reused',
      name: name({ pid: 2000, start: 7000 }),
      ownerPidStart: 9000,
      ageMs: 0,
      want: { remove: true, why: 'owner-dead' },
    },
    { what: 'a crashed earlier self (same pid, earlier start)', name: name({ start: 4000 }), ownerPidStart: 5000, want: { remove: true, why: 'owner-dead' } },
    {
      what: 'another pid namespace (a container), fresh',
      name: name({ pidns: 4026532000 }),
      ownerPidStart: null,
      ageMs: STALE_MS - 1,
      want: { remove: false, why: 'fresh' },
    },
    {
      what: 'another pid namespace, no heartbeat for too long',
      name: name({ pidns: 4026532000 }),
      ownerPidStart: null,
      ageMs: STALE_MS + 1,
      want: { remove: true, why: 'stale' },
    },
    { what: 'another boot or host, fresh', name: name({ boot: 'ffffffff' }), ageMs: 1000, want: { remove: false, why: 'fresh' } },
    { what: 'another boot or host, stale', name: name({ boot: 'ffffffff' }), ageMs: STALE_MS + 1, want: { remove: true, why: 'stale' } },
    { what: 'a sweeper that cannot read /proc: fresh', name: name({}), self: null, ageMs: 1000, want: { remove: false, why: 'fresh' } },
    { what: 'a sweeper that cannot read /proc: stale', name: name({}), self: null, ageMs: STALE_MS + 1, want: { remove: true, why: 'stale' } },
  ];
  for (const c of cases) {
    const fate = partialFate({ name: c.name, self: c.self === undefined ? self : c.self, ownerPidStart: c.ownerPidStart ?? null, ageMs: c.ageMs ?? 0 });
    assert.deepEqual(fate, c.want, c.what);
  }
});

test('partial names round-trip their owner', () => {
  const owner = { boot: '0f0e0d0c', pidns: 4026531836, pid: 4194304, start: 123456789 };
  assert.deepEqual(parsePartialName(partialName(UUID, owner)), owner);
  assert.equal(parsePartialName(`${UUID}.bin`), null);
  assert.equal(parsePartialName(`../${partialName(UUID, owner)}`), null);
});

test('/proc: this process is an owner; a child is alive with its start time, and gone once reaped', async () => {
  const me = await currentOwner();
  assert.ok(me, 'Linux: /proc tells who this process is');
  assert.equal(me.pid, process.pid);
  assert.equal(await processStartTime(process.pid), me.start);
  const child = spawn('sleep', ['30']);
  await new Promise((r) => child.once('spawn', r));
  const start = await processStartTime(child.pid!);
  assert.ok(start !== null && start >= me.start, `a later start time (${start} vs ${me.start})`);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.equal(await processStartTime(child.pid!), null, 'no such process');
});
