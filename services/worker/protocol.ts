/**
 * What rank 0 broadcasts to the other ranks. One message per epoch of work; the ranks
 * never talk to Redis themselves, so a plan must carry everything they need.
 */
import type { JobOp } from '../shared/jobs.js';

export interface Plan {
  jobId: string;
  /** Absolute path of the HDF5 file. */
  file: string;
  /** 'create' when rank 0 saw no file (H5F_ACC_EXCL), else 'rw'. */
  mode: 'create' | 'rw';
  /** Absolute path of the staging directory. */
  staging: string;
  ops: JobOp[];
}

export type Message = { type: 'plan'; plan: Plan } | { type: 'stop' };

export function encodeMessage(m: Message): Buffer {
  return Buffer.from(JSON.stringify(m));
}

export function decodeMessage(b: Buffer): Message {
  return JSON.parse(b.toString('utf8')) as Message;
}

/** What each rank sends back to rank 0 after applying a plan. */
export interface RankReport {
  rank: number;
  ok: boolean;
  error?: { code: string; message: string };
  ops: Array<{ collective?: boolean; noCollectiveCause?: string[]; bytes?: number }>;
  openMs: number;
  applyMs: number;
  closeMs: number;
}
