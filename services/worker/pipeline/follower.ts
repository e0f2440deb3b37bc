/**
 * Ranks other than 0: wait for plans, apply them, report, until told to stop. Idle time is
 * spent blocked on the doorbell (no CPU); the bcast is entered once rank 0 rang.
 */
import { mpi } from '../../../native/lib/index.js';
import { applyPlan } from '../apply.js';
import { decodeMessage, encodeReport } from '../protocol.js';
import type { DoorbellListener } from '../doorbell.js';
import type { Logger } from '../log.js';

export async function follow(rank: number, size: number, log: Logger, doorbell?: DoorbellListener): Promise<void> {
  for (;;) {
    await doorbell?.wait();
    const message = decodeMessage(await mpi.bcast(null, 0));
    if (message.type === 'stop') return;
    // HDF5 failed here inside a collective write: rank 0 shortens the phase's deadline.
    const report = await applyPlan(message.plan, rank, size, { collectiveBroken: () => doorbell?.alarm() });
    // A step that needs chunks allocated is rank 0's to handle, not a failure.
    const own = [report.abort, ...Object.values(report.failedJobs)].find((f) => f && f.code !== 'PH5_ERR_PEER' && f.code !== 'PH5_ERR_NEEDS_ALLOCATION');
    if (own) log.warn(`epoch ${message.plan.epoch}: ${own.code}: ${own.message}`);
    await mpi.gather(encodeReport(report), 0);
  }
}
