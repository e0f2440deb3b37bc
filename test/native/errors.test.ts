/**
 * Every failure is a Ph5NativeError with a stable code, on every rank of a parallel file
 * (mpirun -n 2 and 4), and none of them leaves a rank hanging or an HDF5 id open.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { mpirun } from '../helpers/mpirun.js';

interface Case {
  error: boolean;
  sync?: boolean;
  isPh5: boolean;
  code: string;
  message?: string;
  stack?: string;
}
interface Result {
  rank: number;
  size: number;
  cases: Record<string, Case>;
  writeAfter: { collective: boolean };
  readBackOk: boolean;
  objectsBeforeClose: number;
  objectsAfter: number;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'ph5-native-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const EXPECTED: Record<string, string> = {
  fileExists: 'PH5_ERR_EXISTS',
  fileMissing: 'PH5_ERR_NOT_FOUND',
  fileMissingRw: 'PH5_ERR_NOT_FOUND',
  datasetExists: 'PH5_ERR_EXISTS',
  datasetMissing: 'PH5_ERR_NOT_FOUND',
  infoMissing: 'PH5_ERR_NOT_FOUND',
  lengthAll: 'PH5_ERR_SELECTION',
  lengthOne: 'PH5_ERR_SELECTION',
  outOfRange: 'PH5_ERR_SELECTION',
  strideOutOfRange: 'PH5_ERR_SELECTION',
  wrongRank: 'PH5_ERR_SELECTION',
  readOutOfRange: 'PH5_ERR_SELECTION',
  memDtypeBytes: 'PH5_ERR_TYPE',
  underDataset: 'PH5_ERR_TYPE',
  infoOfGroup: 'PH5_ERR_TYPE',
  hdf5Failure: 'PH5_ERR_HDF5',
  readOnly: 'PH5_ERR_READ_ONLY',
  badDtype: 'PH5_ERR_ARGUMENT',
  badShape: 'PH5_ERR_ARGUMENT',
  unlimitedNoMax: 'PH5_ERR_ARGUMENT',
  badSelection: 'PH5_ERR_ARGUMENT',
  badData: 'PH5_ERR_ARGUMENT',
  closed: 'PH5_ERR_CLOSED',
};

for (const n of [2, 4]) {
  describe(`errors with ${n} ranks`, () => {
    test('each failure has its code on every rank, and the file still works afterwards', async () => {
      mkdirSync(path.join(dir, String(n)), { recursive: true });
      const { results, ms } = await mpirun<Result>(n, 'errors', [path.join(dir, String(n))]);
      console.log(`mpirun -n ${n} errors: ${ms} ms`);
      for (const r of results) {
        const at = `rank ${r.rank}`;
        for (const [name, code] of Object.entries(EXPECTED)) {
          const c = r.cases[name];
          assert.ok(c?.error, `${name} must fail on ${at}`);
          assert.equal(c.isPh5, true, `${name} is a Ph5NativeError on ${at}`);
          assert.equal(c.code, code, `${name} on ${at}: ${c.message ?? ''}`);
        }
        for (const name of ['badDtype', 'badShape', 'badSelection', 'badData']) assert.equal(r.cases[name]?.sync, true, `${name} throws synchronously`);
        // the rank that sent the wrong length says so; the others name it
        const one = r.cases.lengthOne as Case;
        if (r.rank === n - 1) assert.match(one.message as string, /31 bytes.*needs 32/);
        else assert.match(one.message as string, new RegExp(`rank ${n - 1} refused`));
        assert.match(r.cases.lengthAll?.message as string, /29 bytes/);
        // HDF5's own failure: PH5_ERR_HDF5 with the HDF5 stack, and a short message
        const h = r.cases.hdf5Failure as Case;
        assert.match(h.stack as string, /H5Acreate2/, 'the stack names the failing API call');
        assert.match(h.message as string, /^creating attribute huge of \/: /);
        assert.ok((h.stack as string).split('\n').length >= 2, 'the whole stack, not one line');
        assert.ok(h.message && h.message.length < 400, 'short message');
        assert.equal(r.cases.notADataset?.error, true);
        assert.equal(r.readBackOk, true, `${at}: the write after the errors`);
        assert.equal(r.writeAfter.collective, true);
        assert.equal(r.objectsBeforeClose, 1, `${at}: only the file is open`);
        assert.equal(r.objectsAfter, 0);
      }
    });
  });
}
