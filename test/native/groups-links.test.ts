/**
 * Groups and links under mpirun -n 1, 2, 4 (fixtures/groups-links.ts): intermediate
 * groups, soft links (also dangling), listing with kinds, deletes, failure codes, no
 * leaked HDF5 id after any call. The file is checked with h5py and h5dump; external links
 * and named datatypes (which ph5 does not create) are added by h5py and listed by ph5.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { H5File, openObjectCount } from '../../native/lib/index.js';
import type { StepsReport } from './fixtures/steps.js';
import { assertErrors, assertNoLeaks, h5dump, py, RANKS, runSteps } from '../helpers/surface.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-links-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PY = `
out = {}
with h5py.File(path, 'r') as f:
    items = {}
    def visit(name):
        items[name] = None
    f.visit(visit)
    out['items'] = sorted(items)
    def cls(g, name):
        l = g.get(name, getlink=True)
        return type(l).__name__ + (':' + l.path if isinstance(l, h5py.SoftLink) else '')
    out['links'] = {p: cls(f, p) for p in ['a', 'a/b', 'a/b/c', 'a/d', 'a/link-to-d', 'dangling', 'x', 'x/y', 'x/y/soft']}
    out['gone'] = [n in f for n in ['gone', 'gone-ds', 'gone-link']]
    out['d'] = f['a/link-to-d'][()].tolist()
    out['dangling_resolves'] = f.get('dangling') is not None
`;

for (const n of RANKS) {
  describe(`groups and links with ${n} rank(s)`, () => {
    const file = path.join(dir, `links-${n}.h5`);
    let results: StepsReport[] = [];

    test('every call succeeds or fails with its code on every rank, and leaks nothing', async () => {
      results = await runSteps(n, 'groups-links', [file]);
      assertNoLeaks(results);
      assertErrors(results, {
        'createGroup existing': 'PH5_ERR_EXISTS',
        'createGroup under dataset': 'PH5_ERR_TYPE',
        'softlink existing': 'PH5_ERR_EXISTS',
        'delete missing': 'PH5_ERR_NOT_FOUND',
        'delete missing parent': 'PH5_ERR_NOT_FOUND',
        'list missing': 'PH5_ERR_NOT_FOUND',
        'list dataset': 'PH5_ERR_TYPE',
        'list dangling': 'PH5_ERR_NOT_FOUND',
        'createGroup root': 'PH5_ERR_ARGUMENT',
        'createGroup trailing slash': 'PH5_ERR_ARGUMENT',
        'createGroup read-only': 'PH5_ERR_READ_ONLY',
      });
    });

    test('listings name every child with its kind, in name order, on every rank', () => {
      const v = results[0]?.values as Record<string, unknown>;
      assert.deepEqual(v['list /'], [
        { name: 'a', kind: 'group' },
        { name: 'dangling', kind: 'softlink', target: '/nowhere' },
        { name: 'gone', kind: 'group' },
        { name: 'gone-ds', kind: 'dataset' },
        { name: 'gone-link', kind: 'softlink', target: '/a' },
        { name: 'x', kind: 'group' },
      ]);
      assert.deepEqual(v['list a'], [
        { name: 'b', kind: 'group' },
        { name: 'd', kind: 'dataset' },
        { name: 'link-to-d', kind: 'softlink', target: '/a/d' },
      ]);
      assert.deepEqual(v['list x/y'], [{ name: 'soft', kind: 'softlink', target: '/a/b' }]);
      assert.deepEqual(v['list a/b/c'], []);
      assert.deepEqual(v['list via soft link'], [{ name: 'c', kind: 'group' }]);
      assert.deepEqual(v['linkInfo a/link-to-d'], { name: 'link-to-d', kind: 'softlink', target: '/a/d' });
      assert.deepEqual(v['linkInfo a/b'], { name: 'b', kind: 'group' });
      assert.equal(v['linkInfo missing'], null);
      assert.equal(v['read via link'], '0700000008000000090000000a000000');
      assert.deepEqual(v['list / after delete'], [
        { name: 'a', kind: 'group' },
        { name: 'dangling', kind: 'softlink', target: '/nowhere' },
        { name: 'x', kind: 'group' },
      ]);
      assert.deepEqual(v['reopened list a'], v['list a']);
      for (const r of results) assert.deepEqual(r.values, v, `rank ${r.rank} sees the same`);
    });

    test('h5py sees the groups, soft links and deletions', async () => {
      const out = await py<{ items: string[]; links: Record<string, string>; gone: boolean[]; d: number[]; dangling_resolves: boolean }>(file, PY);
      // visit() walks objects through hard links only
      assert.deepEqual(out.items, ['a', 'a/b', 'a/b/c', 'a/d', 'x', 'x/y']);
      assert.deepEqual(out.links, {
        a: 'HardLink',
        'a/b': 'HardLink',
        'a/b/c': 'HardLink',
        'a/d': 'HardLink',
        'a/link-to-d': 'SoftLink:/a/d',
        dangling: 'SoftLink:/nowhere',
        x: 'HardLink',
        'x/y': 'HardLink',
        'x/y/soft': 'SoftLink:/a/b',
      });
      assert.deepEqual(out.gone, [false, false, false]);
      assert.deepEqual(out.d, [7, 8, 9, 10]);
      assert.equal(out.dangling_resolves, false);
    });

    test('h5dump shows the soft links', async () => {
      const text = await h5dump(file, '-H');
      assert.match(text, /SOFTLINK "link-to-d" \{\s+LINKTARGET "\/a\/d"/);
      assert.match(text, /SOFTLINK "dangling" \{\s+LINKTARGET "\/nowhere"/);
      assert.match(text, /GROUP "c"/);
    });
  });
}

test('external links and named datatypes (written by h5py) are listed with their kind', async () => {
  const file = path.join(dir, 'kinds.h5');
  await py(
    file,
    `
with h5py.File(path, 'w') as f:
    f['t'] = np.dtype('<i4')
    f['ext'] = h5py.ExternalLink('other.h5', '/inside')
    f.create_group('g')
    f['ds'] = np.arange(3)
`,
  );
  const f = await H5File.open(file, { mode: 'r', parallel: false });
  try {
    assert.deepEqual(await f.list('/'), [
      { name: 'ds', kind: 'dataset' },
      { name: 'ext', kind: 'external', target: '/inside', file: 'other.h5' },
      { name: 'g', kind: 'group' },
      { name: 't', kind: 'datatype' },
    ]);
    assert.equal(openObjectCount(), 1);
  } finally {
    await f.close();
  }
  assert.equal(openObjectCount(), 0);
});
