/**
 * How the supervisor launches and sizes a pool: the command line per launcher, the rank
 * count (PH5_RANKS, then Slurm's task count), and the Redis options workers connect with.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drainTimeoutMs, resolveRanks } from '../../services/shared/config.js';
import { redisOptions } from '../../services/shared/redis.js';
import { DRAIN_SIGNAL, INSPECTOR_OFF_FLAG, launchCommand, parseLauncher, rankExitGraceMs, WORKER_ENTRY } from '../../services/worker/pool.js';

test('mpirun oversubscribes without binding; srun uses PMIx and ends the step on a failed rank; jsrun one CPU per rank', () => {
  const m = launchCommand('mpirun', 4, ['--mca', 'btl', 'self,vader'], {});
  assert.equal(m.command, 'mpirun');
  assert.deepEqual(m.args.slice(0, 5), ['--oversubscribe', '--bind-to', 'none', '-n', '4']);
  assert.deepEqual(m.args.slice(-6), ['--mca', 'btl', 'self,vader', process.execPath, INSPECTOR_OFF_FLAG, WORKER_ENTRY]);
  assert.equal(launchCommand('mpirun', 2, [], { PH5_MPIRUN: '/opt/ompi/bin/mpirun' }).command, '/opt/ompi/bin/mpirun');

  const s = launchCommand('srun', 32, ['--cpu-bind=none']);
  assert.equal(s.command, 'srun');
  assert.deepEqual(s.args, ['--mpi=pmix', '--kill-on-bad-exit=1', '-n', '32', '--cpu-bind=none', process.execPath, INSPECTOR_OFF_FLAG, WORKER_ENTRY]);

  const j = launchCommand('jsrun', 8, ['-r', '4']);
  assert.deepEqual(j.args, ['-n', '8', '-a', '1', '-c', '1', '-r', '4', process.execPath, INSPECTOR_OFF_FLAG, WORKER_ENTRY]);
});

test('the drain signal is one mpirun forwards to the ranks (it kills them on SIGTERM), and never SIGUSR1 (the inspector)', () => {
  assert.equal(DRAIN_SIGNAL, 'SIGUSR2');
  // Every rank's inspector, should a SIGUSR1 come before its handler, binds an address no host has.
  assert.match(INSPECTOR_OFF_FLAG, /^--inspect-port=192\.0\.2\.1:0$/);
});

test('PH5_LAUNCHER, PH5_RANKS, PH5_DRAIN_TIMEOUT and PH5_RANK_EXIT_GRACE_MS are checked', () => {
  assert.equal(parseLauncher(undefined), 'mpirun');
  assert.equal(parseLauncher('srun'), 'srun');
  assert.throws(() => parseLauncher('aprun'), /PH5_LAUNCHER must be one of mpirun, srun, jsrun/);
  assert.equal(resolveRanks({}), 4);
  assert.equal(resolveRanks({ SLURM_NTASKS: '64' }), 64);
  assert.equal(resolveRanks({ PH5_RANKS: '6', SLURM_NTASKS: '64' }), 6);
  assert.throws(() => resolveRanks({ PH5_RANKS: '0' }), /PH5_RANKS must be an integer >= 1/);
  assert.equal(drainTimeoutMs({}), 100_000);
  assert.throws(() => drainTimeoutMs({ PH5_DRAIN_TIMEOUT: 'soon' }), /PH5_DRAIN_TIMEOUT/);
  assert.equal(rankExitGraceMs({}), 20_000);
  assert.equal(rankExitGraceMs({ PH5_RANK_EXIT_GRACE_MS: '5000' }), 5_000);
  assert.throws(() => rankExitGraceMs({ PH5_RANK_EXIT_GRACE_MS: '-1' }), /PH5_RANK_EXIT_GRACE_MS/);
});

test('workers block on Redis without a retry limit (BullMQ requirement); the API fails fast', () => {
  assert.equal(redisOptions('redis://q:6379', 'consumer').maxRetriesPerRequest, null);
  const producer = redisOptions('redis://q:6379', 'producer');
  assert.equal(producer.enableOfflineQueue, false);
  assert.equal(producer.maxRetriesPerRequest, 1);
});
