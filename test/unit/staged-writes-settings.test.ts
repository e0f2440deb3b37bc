/**
 * How the ranks bring in and write large shares: PH5_CONTIGUOUS_WRITES and
 * PH5_STAGED_READS (defaults, accepted values, anything else refused with the setting
 * named), and shareAccess, which decides per share whether it is mapped or read.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAP_MIN_BYTES, shareAccess, type ShareRanges } from '../../services/worker/apply.js';
import { contiguousWrites, stagedReads } from '../../services/worker/settings.js';

test('contiguous runs are written independently unless collective is asked for', () => {
  assert.equal(contiguousWrites({}), 'independent');
  assert.equal(contiguousWrites({ PH5_CONTIGUOUS_WRITES: '' }), 'independent');
  assert.equal(contiguousWrites({ PH5_CONTIGUOUS_WRITES: 'independent' }), 'independent');
  assert.equal(contiguousWrites({ PH5_CONTIGUOUS_WRITES: 'collective' }), 'collective');
  for (const bad of ['auto', 'COLLECTIVE', 'on', ' collective']) {
    assert.throws(() => contiguousWrites({ PH5_CONTIGUOUS_WRITES: bad }), /PH5_CONTIGUOUS_WRITES must be 'independent' or 'collective'/, bad);
  }
});

test('staged shares are read unless mapping is asked for', () => {
  assert.equal(stagedReads({}), 'read');
  assert.equal(stagedReads({ PH5_STAGED_READS: 'map' }), 'map');
  assert.equal(stagedReads({ PH5_STAGED_READS: 'read' }), 'read');
  for (const bad of ['mmap', 'READ', 'off']) {
    assert.throws(() => stagedReads({ PH5_STAGED_READS: bad }), /PH5_STAGED_READS must be 'map' or 'read'/, bad);
  }
});

test('a share is mapped only when it is one range of one file, of at least MAP_MIN_BYTES', () => {
  const M = MAP_MIN_BYTES;
  const ranges = (...files: Array<Array<[number, number, number]>>): ShareRanges =>
    new Map(files.map((rs, k) => [`/s/${k}.bin`, rs.map(([into, offset, length]) => ({ into, offset, length }))]));
  const cases: Array<[string, ShareRanges, number, 'map' | 'read']> = [
    ['one range, large', ranges([[0, 12345, 4 * M]]), 4 * M, 'map'],
    ['one range, exactly the threshold', ranges([[0, 1, M]]), M, 'map'],
    ['one range, one byte short of it', ranges([[0, 0, M - 1]]), M - 1, 'read'],
    [
      'two ranges of one file (coalesced small writes)',
      ranges([
        [0, 0, M],
        [M, 5 * M, M],
      ]),
      2 * M,
      'read',
    ],
    ['two files', ranges([[0, 0, M]], [[M, 0, M]]), 2 * M, 'read'],
    ['nothing to write', new Map(), 0, 'read'],
  ];
  for (const [name, byFile, length, want] of cases) assert.equal(shareAccess(byFile, length), want, name);
  assert.equal(shareAccess(ranges([[0, 0, 100]]), 100, 64), 'map', 'the threshold can be lowered');
});
