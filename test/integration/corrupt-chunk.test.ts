/**
 * A file with a damaged gzip chunk (a user's file, or a disk that lied) must not wedge the
 * pool. A partial write into that chunk makes HDF5 read it back on the rank that owns it,
 * which fails (inflate) and leaves the collective write, while the other ranks stay in it
 * forever. That rank tells rank 0 (itself, or by the doorbell's alarm), the phase gets a
 * short deadline instead of PH5_STEP_TIMEOUT_MS, and after PH5_HUNG_JOB_ATTEMPTS such
 * hangs the job fails with PH5_ERR_WATCHDOG; later jobs, and other files', complete.
 * Without the alarm each hang lasted the whole PH5_STEP_TIMEOUT_MS (here 240 s).
 */
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';

const STEP_TIMEOUT_MS = 240_000;

let stack: Stack;
before(async () => {
  stack = await startStack({ ranks: 2, env: { PH5_STEP_TIMEOUT_MS: String(STEP_TIMEOUT_MS), PH5_HUNG_JOB_ATTEMPTS: '2', PH5_LOG_LEVEL: 'info' } });
});
after(async () => {
  await stack?.stop();
});

const rows = (from: number, n: number, base: number) => Array.from({ length: n }, (_, r) => Array.from({ length: 8 }, (_, c) => base + (from + r) * 8 + c));

test('a partial write into a gzip chunk that does not inflate fails the job quickly; nothing wedges', { timeout: 400_000 }, async () => {
  const api = client(stack.url);
  for (const file of ['gz.h5', 'ok.h5']) {
    const created = await api.accepted('POST', `/v1/files/${file}/datasets`, {
      path: 'z',
      dtype: 'int32',
      shape: [64, 8],
      chunks: [16, 8],
      compression: 'gzip',
    });
    assert.equal(created.state, 'completed', JSON.stringify(created.error));
    assert.equal((await api.accepted('PUT', `/v1/files/${file}/datasets/z/value`, rows(0, 64, 0))).state, 'completed');
  }
  // Damage the chunk of rows 16..31 on disk: its compressed bytes become garbage.
  const file = stack.filePath('gz.h5');
  const [offset, size] = await h5py<[number, number]>(file, "i = h5py.File(path, 'r')['z'].id.get_chunk_info_by_coord((16, 0)); out = [i.byte_offset, i.size]");
  const fd = await open(file, 'r+');
  await fd.write(Buffer.alloc(size, 0xab), 0, size, offset);
  await fd.close();
  const broken = await h5py<boolean>(file, "f = h5py.File(path, 'r')\ntry:\n    f['z'][16:32]\n    out = False\nexcept OSError:\n    out = True");
  assert.equal(broken, true, 'the chunk no longer inflates');

  // Two damaging writes: the rank that owns the chunk in HDF5's collective filtered write
  // (the one with most of its elements) reads it and fails. [20:22]: rank 0 and rank 1 one
  // row each; [15:19]: rank 1 has two of the chunk's rows, rank 0 one (and one in chunk 0).
  const failedAfter: string[] = [];
  for (const select of ['[20:22,:]', '[15:19,:]']) {
    const started = Date.now();
    const [from, to] = select.slice(1, -3).split(':').map(Number) as [number, number];
    const partial = await api.call('PUT', `/v1/files/gz.h5/datasets/z/value?select=${select}`, rows(from, to - from, 1000));
    assert.equal(partial.status, 202);
    const failed = await api.waitJob(partial.headers.get('location')!, 300_000);
    const tookMs = Date.now() - started;
    assert.equal(failed.state, 'failed', JSON.stringify(failed));
    assert.equal(failed.error.code, 'PH5_ERR_WATCHDOG', JSON.stringify(failed.error));
    // Each hang ended within the short deadline, not PH5_STEP_TIMEOUT_MS.
    assert.ok(tookMs < STEP_TIMEOUT_MS, `the job took ${tookMs} ms to fail`);
    failedAfter.push(`${select} in ${tookMs} ms`);
  }
  const raised = stack.logs().match(/HDF5 failed (on this rank|there) inside (a|the) collective write/g) ?? [];
  assert.ok(
    raised.length >= 4,
    stack
      .logs()
      .split('\n')
      .filter((l) => /warn|error/.test(l))
      .join('\n'),
  );
  const by = `rank 0 itself ${raised.filter((r) => r.includes('this rank')).length} times, a doorbell alarm ${raised.filter((r) => r.includes('there')).length} times`;

  // Later jobs of the file and another file's go on. (Rewriting the whole chunk does not
  // repair it: HDF5 1.10's collective filtered write reads the old chunk all the same.)
  assert.equal((await api.accepted('PUT', '/v1/files/gz.h5/datasets/z/value?select=[40:42,:]', rows(40, 2, 2000))).state, 'completed');
  assert.equal((await api.accepted('PUT', '/v1/files/ok.h5/datasets/z/value?select=[20:22,:]', rows(20, 2, 3000))).state, 'completed');
  const same = await h5py<boolean>(
    file,
    [
      "z = h5py.File(path, 'r')['z']",
      'e = np.arange(512).reshape(64, 8); e[40:42] = 2000 + np.arange(320, 336).reshape(2, 8)',
      'out = bool((z[0:16] == e[0:16]).all() and (z[32:64] == e[32:64]).all())',
    ].join('\n'),
  );
  assert.equal(same, true, 'every other chunk is as written');
  process.stdout.write(`# the damaging writes failed with PH5_ERR_WATCHDOG: ${failedAfter.join(', ')}; seen by ${by}\n`);
});
