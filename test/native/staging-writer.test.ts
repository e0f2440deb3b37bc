/**
 * The streamed-upload writer (ph5_staging.node, native/src/staging_stream.cc): batches
 * written at their offsets (also several in flight, also more buffers than one pwritev
 * takes), never over an existing file, finish() makes it durable and closes it, discard()
 * leaves nothing; misuse and failures reject with a `code` (Node fs-style for system
 * errors). Checked with Node's own fs. A failing write is provoked for real: a child process
 * with RLIMIT_FSIZE (ulimit -f) and SIGXFSZ ignored gets EFBIG past the limit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { StagingWriter } from '../../native/lib/staging-writer.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-staging-writer-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const here = path.dirname(fileURLToPath(import.meta.url));

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('StagingWriter', () => {
  test('writes batches at their offsets, several in flight, in any completion order', async () => {
    const file = path.join(dir, 'batches.bin');
    const w = await StagingWriter.create(file);
    const a = [bytes(70_000, 1), bytes(5, 2)];
    const b = [bytes(1, 3), Buffer.alloc(0), bytes(300_000, 4)];
    const c = [bytes(12_345, 5)];
    const la = a.reduce((n, x) => n + x.length, 0);
    const lb = b.reduce((n, x) => n + x.length, 0);
    // Issued last-first: each lands at its own offset whatever order the pool runs them in.
    await Promise.all([w.write(c, la + lb), w.write(b, la), w.write(a, 0)]);
    await w.finish();
    assert.deepEqual(readFileSync(file), Buffer.concat([...a, ...b, ...c]));
  });

  test('writes more buffers than one pwritev takes (IOV_MAX)', async () => {
    const file = path.join(dir, 'many.bin');
    const parts = Array.from({ length: 3000 }, (_, i) => Buffer.from([i & 0xff, i >> 8, 7]));
    const w = await StagingWriter.create(file);
    await w.write(parts, 0);
    await w.finish();
    assert.deepEqual(readFileSync(file), Buffer.concat(parts));
  });

  test('never replaces an existing file', async () => {
    const file = path.join(dir, 'taken.bin');
    writeFileSync(file, 'first');
    await assert.rejects(StagingWriter.create(file), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'EEXIST');
      assert.equal(err.syscall, 'open');
      assert.equal(err.path, file);
      return true;
    });
    assert.equal(readFileSync(file, 'utf8'), 'first');
  });

  test('a directory that does not exist fails with ENOENT', async () => {
    await assert.rejects(StagingWriter.create(path.join(dir, 'no-such-dir', 'x.bin')), { code: 'ENOENT', syscall: 'open' });
  });

  test('discard closes and removes the file, also after a finish; twice is fine', async () => {
    const file = path.join(dir, 'discarded.bin');
    const w = await StagingWriter.create(file);
    await w.write([bytes(1000, 9)], 0);
    await w.discard();
    assert.equal(existsSync(file), false);
    await w.discard();
    const file2 = path.join(dir, 'finished-then-discarded.bin');
    const w2 = await StagingWriter.create(file2);
    await w2.write([bytes(10, 1)], 0);
    await w2.finish();
    await w2.discard();
    assert.equal(existsSync(file2), false);
  });

  test('misuse rejects with PH5_ERR_STAGING: finish or discard with a write in flight, write or finish after finish', async () => {
    const file = path.join(dir, 'misuse.bin');
    const w = await StagingWriter.create(file);
    const pending = w.write([Buffer.alloc(8 << 20, 1)], 0);
    await assert.rejects(w.finish(), { code: 'PH5_ERR_STAGING', message: /writes in flight/ });
    await assert.rejects(w.discard(), { code: 'PH5_ERR_STAGING', message: /writes in flight/ });
    await pending;
    await w.finish();
    await assert.rejects(w.write([Buffer.from('x')], 0), { code: 'PH5_ERR_STAGING' });
    await assert.rejects(w.finish(), { code: 'PH5_ERR_STAGING' });
    assert.equal(readFileSync(file).length, 8 << 20);
  });

  test('bad arguments reject (never throw) with PH5_ERR_ARGUMENT', async () => {
    const w = await StagingWriter.create(path.join(dir, 'args.bin'));
    await assert.rejects(w.write(['text' as unknown as Buffer], 0), { code: 'PH5_ERR_ARGUMENT', message: /buffers\[0\] must be a Buffer/ });
    await assert.rejects(w.write([Buffer.from('x')], -1), { code: 'PH5_ERR_ARGUMENT', message: /position/ });
    await assert.rejects(w.write([Buffer.from('x')], 1.5), { code: 'PH5_ERR_ARGUMENT', message: /position/ });
    await assert.rejects(StagingWriter.create(path.join(dir, 'bad\0.bin')), { code: 'PH5_ERR_ARGUMENT', message: /NUL/ });
    await w.discard();
  });

  test('a write the file system refuses (EFBIG past ulimit -f) rejects with a Node-style error; discard leaves nothing', () => {
    const file = path.join(dir, 'too-big.bin');
    const script = path.join(here, 'fixtures', 'staging-writer-efbig.js');
    // SIGXFSZ ignored (inherited through exec): the write fails with EFBIG instead of killing.
    const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 1024; exec "${process.execPath}" "${script}" "${file}"`], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      code: string;
      syscall: string;
      path: string;
      errno: number;
      message: string;
      existsAfterDiscard: boolean;
    };
    assert.equal(out.code, 'EFBIG', out.message);
    assert.equal(out.syscall, 'write');
    assert.equal(out.path, file);
    assert.ok(out.errno < 0);
    assert.equal(out.existsAfterDiscard, false);
  });
});
