import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isStagedName, normalizeH5Path, validateFileName } from '../../services/shared/names.js';

test('plain file names pass', () => {
  for (const ok of ['output.h5', 'run_01.hdf5', 'A-b.c']) assert.equal(validateFileName(ok), ok);
});

test('file names that could escape or hide are refused', () => {
  for (const bad of ['', '.', '..', '../x.h5', 'a/b.h5', '/etc/passwd', '.staging', '.hidden.h5', 'a..b', 'x\u0000.h5', 'a\\b', 'é.h5', 'x'.repeat(256)]) {
    assert.throws(
      () => validateFileName(bad),
      (e: any) => e.code === 'PH5_ERR_FILE_NAME',
      JSON.stringify(bad),
    );
  }
});

test('HDF5 paths normalise to absolute form and refuse navigation', () => {
  assert.equal(normalizeH5Path('test'), '/test');
  assert.equal(normalizeH5Path('/grp/dset'), '/grp/dset');
  for (const bad of ['', '/', '//x', 'a//b', 'a/', '/a/../b', './a', 'a\u0000b', 'a\nb', 'x'.repeat(2000)]) {
    assert.throws(
      () => normalizeH5Path(bad),
      (e: any) => e.code === 'PH5_ERR_H5_PATH',
      JSON.stringify(bad),
    );
  }
});

test('staged payload names from job data: plain names in the staging directory only', () => {
  assert.ok(isStagedName('0b9e6f5c-3f7e-4a51-9d0b-5a4c2f1e8d77.bin'));
  for (const bad of ['', '.', '..', '../x.bin', 'a/b.bin', '/etc/passwd', '.hidden', 'x\u0000.bin', 42, null, undefined]) {
    assert.equal(isStagedName(bad), false, JSON.stringify(bad));
  }
});
