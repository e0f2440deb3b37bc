import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDtype, parseDtype } from '../../services/shared/dtype.js';

test('numpy names and codes parse to the same dtype', () => {
  assert.deepEqual(parseDtype('int32'), { kind: 'int', size: 4, order: 'le' });
  assert.deepEqual(parseDtype('<i4'), parseDtype('int32'));
  assert.deepEqual(parseDtype('i4'), parseDtype('int32'));
  assert.deepEqual(parseDtype('>f8'), { kind: 'float', size: 8, order: 'be' });
  assert.deepEqual(parseDtype('uint8'), { kind: 'uint', size: 1, order: 'le' });
  assert.deepEqual(parseDtype('>u1'), { kind: 'uint', size: 1, order: 'le' }, 'byte order of one byte is normalised');
  assert.deepEqual(parseDtype('bool'), { kind: 'bool', size: 1, order: 'le' });
  assert.deepEqual(parseDtype('?'), parseDtype('bool'));
  assert.deepEqual(parseDtype('S16'), { kind: 'bytes', size: 16, order: 'le' });
  assert.deepEqual(parseDtype('float16'), { kind: 'float', size: 2, order: 'le' });
});

test('canonical names round-trip', () => {
  for (const name of [
    'int8',
    'int16',
    'int32',
    'int64',
    'uint8',
    'uint16',
    'uint32',
    'uint64',
    'float16',
    'float32',
    'float64',
    'bool',
    'S1',
    'S16',
    '>i2',
    '>i4',
    '>u8',
    '>f4',
    '>f8',
  ]) {
    assert.equal(formatDtype(parseDtype(name)), name);
  }
  assert.equal(formatDtype(parseDtype('<f8')), 'float64');
});

test('unknown dtypes are refused with PH5_ERR_DTYPE', () => {
  for (const bad of ['', 'int', 'int33', 'i3', 'f1', 'float128', 'S0', 'S', 'S999999', 'complex32', 'c4', 'b2', '<<i4', 'object', 'i4 ', '\u0000']) {
    assert.throws(
      () => parseDtype(bad),
      (e: any) => e.code === 'PH5_ERR_DTYPE',
      `'${bad}' should be refused`,
    );
  }
});
