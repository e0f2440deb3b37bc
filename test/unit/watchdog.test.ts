/** The watchdog's decisions: what a job's record of hangs means, and a deadline that fires once per phase. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hangVerdict, Watchdog, type Phase } from '../../services/worker/watchdog.js';

test('hangVerdict: run, run alone, or fail', () => {
  const table: Array<[hangs: number, limit: number, verdict: ReturnType<typeof hangVerdict>]> = [
    [0, 2, 'run'],
    [1, 2, 'alone'],
    [2, 2, 'fail'],
    [5, 2, 'fail'],
    [0, 1, 'run'],
    [1, 1, 'fail'],
    [2, 3, 'alone'],
    [-1, 2, 'run'],
  ];
  for (const [hangs, limit, verdict] of table) assert.equal(hangVerdict(hangs, limit), verdict, `${hangs} hangs, limit ${limit}`);
});

test('a deadline fires for the phase in progress only; re-arming and disarming replace it', async () => {
  const fired: string[] = [];
  const dog = new Watchdog(60, (phase: Phase) => fired.push(phase.name));
  dog.arm({ name: 'open', seqs: [1] });
  await sleep(30);
  dog.arm({ name: 'step 0', seqs: [1] }); // the open finished in time
  await sleep(30);
  dog.arm({ name: 'close', seqs: [1] });
  dog.disarm();
  await sleep(100);
  assert.deepEqual(fired, []);
  dog.arm({ name: 'step 1', seqs: [2] });
  assert.equal(dog.current?.phase.name, 'step 1');
  await sleep(100);
  assert.deepEqual(fired, ['step 1']);
  dog.arm({ name: 'agreement', seqs: [2] }, 10); // a shorter deadline
  await sleep(40);
  assert.deepEqual(fired, ['step 1', 'agreement']);
  dog.disarm();
  assert.equal(dog.current, null);
});
