/** MPI collectives across real ranks (mpirun -n 1, 2, 4). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mpirun } from '../helpers/mpirun.js';

interface Result {
  rank: number;
  size: number;
  bcastEmpty: number;
  bcastSmall: string;
  bcastBigOk: boolean;
  minSmall: number;
  minBig: number;
  gather0: boolean[] | null;
  gatherLast: string[] | null;
  concurrent: { bcast: string; min: number; gather: string[] | null };
  badRoot: unknown;
  badValue: unknown;
}

for (const n of [1, 2, 4]) {
  describe(`collectives with ${n} rank(s)`, () => {
    test('bcast, barrier, allreduceMin and gather deliver the right data to every rank', async () => {
      const { results, ms } = await mpirun<Result>(n, 'collectives', []);
      console.log(`mpirun -n ${n} collectives: ${ms} ms`);
      const last = n - 1;
      for (const r of results) {
        const at = `rank ${r.rank}`;
        assert.equal(r.size, n, at);
        assert.equal(r.bcastEmpty, 0, at);
        assert.equal(r.bcastSmall, 'hello ranks', at);
        assert.equal(r.bcastBigOk, true, `${at}: 3 MiB broadcast from rank ${last}`);
        assert.equal(r.minSmall, 10, at);
        assert.equal(r.minBig, (1 - n) * 1e12, at);
        if (r.rank === 0)
          assert.deepEqual(
            r.gather0,
            Array.from({ length: n }, () => true),
            at,
          );
        else assert.equal(r.gather0, null, at);
        if (r.rank === last)
          assert.deepEqual(
            r.gatherLast,
            Array.from({ length: n }, (_, k) => `r${k}`),
            at,
          );
        else assert.equal(r.gatherLast, null, at);
        assert.deepEqual(
          r.concurrent,
          {
            bcast: 'first',
            min: 100 - (n - 1),
            gather: r.rank === 0 ? Array.from({ length: n }, (_, k) => k.toString(16).padStart(2, '0')) : null,
          },
          at,
        );
        assert.deepEqual({ ...(r.badRoot as object), message: undefined }, { isPh5: true, code: 'PH5_ERR_ARGUMENT', message: undefined }, at);
        assert.match((r.badRoot as { message: string }).message, /not a rank/);
        assert.deepEqual(r.badValue, { isPh5: true, code: 'PH5_ERR_ARGUMENT' }, at);
      }
    });
  });
}
