/**
 * The addon's staging calls (stagingIo): stageFile writes every part in order and never
 * replaces a file; readRanges fills a buffer from several files' ranges and refuses short
 * files and ranges past the buffer; unlinkFiles removes what exists and tolerates what is
 * gone; fileSizes sizes regular files only; mapRange maps a range of a staged file as it is
 * and refuses one the file is too short for, and releaseMapping lets go of the file at once. Failures carry Node fs-style codes. Checked with
 * Node's own fs.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { stagingIo } from '../../native/lib/index.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-staging-io-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('stageFile', () => {
  test('writes the parts one after the other', async () => {
    const parts = [Buffer.from('alpha'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('omega')];
    const file = path.join(dir, 'parts.bin');
    await stagingIo.stageFile(file, parts, dir);
    assert.deepEqual(readFileSync(file), Buffer.concat(parts));
  });

  test('writes more parts than one writev takes (IOV_MAX)', async () => {
    const parts = Array.from({ length: 3000 }, (_, i) => Buffer.from([i & 0xff, i >> 8]));
    const file = path.join(dir, 'many.bin');
    await stagingIo.stageFile(file, parts, dir);
    assert.deepEqual(readFileSync(file), Buffer.concat(parts));
  });

  test('never replaces an existing file', async () => {
    const file = path.join(dir, 'taken.bin');
    writeFileSync(file, 'first');
    await assert.rejects(stagingIo.stageFile(file, [Buffer.from('second')], dir), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'EEXIST');
      assert.equal(err.syscall, 'open');
      assert.equal(err.path, file);
      return true;
    });
    assert.equal(readFileSync(file, 'utf8'), 'first');
  });

  test('leaves nothing behind when the directory cannot be synced', async () => {
    const file = path.join(dir, 'orphan.bin');
    await assert.rejects(stagingIo.stageFile(file, [Buffer.from('x')], path.join(dir, 'no-such-dir')), { code: 'ENOENT' });
    assert.equal(existsSync(file), false);
  });

  test('refuses a part that is not a Buffer, or a path with a NUL byte, by rejecting (never by throwing)', async () => {
    await assert.rejects(stagingIo.stageFile(path.join(dir, 'bad.bin'), ['text' as unknown as Buffer], dir), /parts\[0\] must be a Buffer/);
    await assert.rejects(stagingIo.stageFile(path.join(dir, 'bad\0.bin'), [Buffer.from('x')], dir), /NUL/);
    assert.equal(existsSync(path.join(dir, 'bad.bin')), false);
  });
});

describe('readRanges', () => {
  const a = path.join(dir, 'a.bin');
  const b = path.join(dir, 'b.bin');
  writeFileSync(a, Buffer.from('0123456789'));
  writeFileSync(b, Buffer.from('abcdefghij'));

  test('fills the buffer from several files and ranges', async () => {
    const into = Buffer.alloc(9, '.');
    await stagingIo.readRanges(
      [
        { path: a, ranges: [0, 2, 3, 6, 8, 2] },
        { path: b, ranges: [3, 0, 3] },
      ],
      into,
    );
    assert.equal(into.toString(), '234abc89.');
  });

  test('a file shorter than a range fails with PH5_ERR_STAGING', async () => {
    await assert.rejects(stagingIo.readRanges([{ path: a, ranges: [0, 8, 4] }], Buffer.alloc(4)), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'PH5_ERR_STAGING');
      assert.match(err.message, /a\.bin is shorter than expected/);
      return true;
    });
  });

  test('a missing file fails with ENOENT', async () => {
    await assert.rejects(stagingIo.readRanges([{ path: path.join(dir, 'gone.bin'), ranges: [0, 0, 1] }], Buffer.alloc(1)), { code: 'ENOENT', syscall: 'open' });
  });

  test('a range past the end of the buffer is refused before any read', async () => {
    await assert.rejects(stagingIo.readRanges([{ path: a, ranges: [2, 0, 3] }], Buffer.alloc(4)), /past the end of the buffer/);
    await assert.rejects(stagingIo.readRanges([{ path: a, ranges: [0, 0] }], Buffer.alloc(4)), /triples/);
    await assert.rejects(stagingIo.readRanges([{ path: a, ranges: [0, -1, 1] }], Buffer.alloc(4)), /non-negative integer/);
  });
});

describe('mapRange and releaseMapping', () => {
  const big = path.join(dir, 'big.bin');
  // Three pages and a bit, each byte a function of its offset.
  const bytes = Buffer.from(Array.from({ length: 3 * 4096 + 123 }, (_, i) => (i * 7 + (i >> 12)) & 0xff));
  writeFileSync(big, bytes);
  const mapped = (file: string) =>
    readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .filter((l) => l.endsWith(file)).length;

  test('maps the range, at any offset (not only page multiples), as the file holds it', async () => {
    for (const [offset, length] of [
      [0, bytes.length],
      [1, 5000],
      [4095, 4098],
      [4096 * 3, 123],
      [777, 1],
    ] as const) {
      const view = await stagingIo.mapRange(big, offset, length);
      assert.equal(view.length, length);
      assert.ok(view.equals(bytes.subarray(offset, offset + length)), `offset ${offset} length ${length}`);
      stagingIo.releaseMapping(view);
    }
  });

  test('releaseMapping lets go of the file at once: the range reads as zeros, the file is no longer mapped', async () => {
    const view = await stagingIo.mapRange(big, 10, 9000);
    assert.equal(mapped(big), 1, 'the staged file is mapped');
    stagingIo.releaseMapping(view);
    assert.equal(mapped(big), 0, 'the staged file is still mapped');
    assert.ok(view.equals(Buffer.alloc(9000)), 'a released mapping reads as zeros');
    stagingIo.releaseMapping(view); // twice is fine
    assert.throws(() => stagingIo.releaseMapping(Buffer.alloc(4)), /expects a Buffer from mapRange/);
  });

  test('a file shorter than the range fails with PH5_ERR_STAGING (never a SIGBUS later)', async () => {
    await assert.rejects(stagingIo.mapRange(big, bytes.length - 10, 11), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'PH5_ERR_STAGING');
      assert.match(err.message, /big\.bin is shorter than expected/);
      return true;
    });
  });

  test('a missing file fails with ENOENT; an empty range or a bad offset is refused', async () => {
    await assert.rejects(stagingIo.mapRange(path.join(dir, 'gone.bin'), 0, 1), { code: 'ENOENT', syscall: 'open' });
    await assert.rejects(stagingIo.mapRange(big, 0, 0), /at least 1/);
    await assert.rejects(stagingIo.mapRange(big, -1, 1), /non-negative integer/);
  });
});

describe('unlinkFiles', () => {
  test('a path with a NUL byte rejects (a caller in a timer must not crash)', async () => {
    await assert.rejects(stagingIo.unlinkFiles([path.join(dir, 'x\0y')]), /NUL/);
    await assert.rejects(stagingIo.fileSizes([path.join(dir, 'x\0y')]), /NUL/);
  });

  test('removes the files, and one already gone is fine', async () => {
    const files = ['u1', 'u2', 'u3'].map((n) => path.join(dir, n));
    for (const f of files) writeFileSync(f, 'x');
    await stagingIo.unlinkFiles([...files, path.join(dir, 'never-there')]);
    for (const f of files) assert.equal(existsSync(f), false);
  });

  test('tries every path and reports the first failure', async () => {
    const sub = path.join(dir, 'sub');
    writeFileSync(path.join(dir, 'after.bin'), 'x');
    // A directory cannot be unlinked (EISDIR on Linux): the file after it is still removed.
    mkdirSync(sub);
    await assert.rejects(stagingIo.unlinkFiles([sub, path.join(dir, 'after.bin')]), (err: NodeJS.ErrnoException) => {
      assert.equal(err.syscall, 'unlink');
      assert.equal(err.path, sub);
      return true;
    });
    assert.equal(existsSync(path.join(dir, 'after.bin')), false);
    assert.ok(statSync(sub).isDirectory());
  });
});

describe('fileSizes', () => {
  test('the size of each regular file, -1 for a missing one or a directory', async () => {
    const file = path.join(dir, 'sized.bin');
    writeFileSync(file, Buffer.alloc(1234));
    mkdirSync(path.join(dir, 'a-dir'));
    assert.deepEqual(await stagingIo.fileSizes([file, path.join(dir, 'missing.bin'), path.join(dir, 'a-dir')]), [1234, -1, -1]);
    assert.deepEqual(await stagingIo.fileSizes([]), []);
  });
});
