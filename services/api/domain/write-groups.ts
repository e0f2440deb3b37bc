/**
 * Group commit of small writes. Thousands of clients each writing a row would otherwise
 * cost one staged file (create + fsync + directory fsync), one BullMQ job and one sequence
 * number per row; the API, Redis and the pool would spend their time on bookkeeping, not
 * on data.
 *
 * A small write to a file whose previous group is still being committed waits for that
 * commit, and then goes with every other write that arrived meanwhile: their payloads are
 * staged as one file (one fsync), queued as ONE job whose ops are the writes in arrival
 * order, and every request is answered 202 with that job. A write that finds nothing in
 * flight is committed at once (next turn of the event loop), so a lone client pays no
 * added latency. Groups of one file are committed one after the other, so a later group
 * always gets a later sequence number: the order guarantee (the later accepted write wins)
 * holds within a group (op order) and across groups (seq order).
 *
 * Durability is unchanged: a request is answered only after its payload is fsynced and its
 * job is in Redis. A failure answers every request of the group with the same problem, and
 * leaves nothing behind (submit undoes it).
 */
import type { WriteGroupSettings } from '../../shared/config.js';
import type { WriteOp } from '../../shared/jobs.js';
import type { Ph5Job } from './jobs.js';
import type { Operations } from './operations.js';
import type { Storage } from './storage.js';

/** The job that carries a write, and the write's place among its ops. */
export interface GroupedWrite {
  job: Ph5Job;
  op: number;
}

/** A write checked and ready to queue, but for its staged file. */
export type PendingWriteOp = Omit<WriteOp, 'staged' | 'stagedOffset'>;

interface PendingWrite {
  op: PendingWriteOp;
  payload: Buffer;
  resolve(accepted: GroupedWrite): void;
  reject(err: unknown): void;
}

interface FileQueue {
  project: string;
  file: string;
  pending: PendingWrite[];
  /** Groups not yet answered (staging, or waiting for their turn to be queued, or queueing). */
  inFlight: number;
  /** Groups whose payloads are being written and fsynced. */
  staging: number;
  /** A drain is scheduled for the next turn. */
  scheduled: boolean;
  /** The last group's enqueue: the next one is queued after it, so seq follows arrival. */
  lastEnqueue: Promise<unknown>;
}

/** Groups of one file staged and waiting for their turn to be queued: bounds memory if Redis is slow. */
const MAX_STAGED_UNQUEUED = 4;

export class WriteGroups {
  readonly #files = new Map<string, FileQueue>();

  constructor(
    private readonly deps: { storage: Pick<Storage, 'stageParts'>; operations: Pick<Operations, 'submit'> },
    private readonly settings: WriteGroupSettings,
  ) {}

  /** Whether a write of `bytes` payload bytes is small enough to join a group. */
  accepts(bytes: number): boolean {
    return bytes > 0 && bytes <= this.settings.maxWriteBytes;
  }

  /** Queues the write with the others of its file; resolves with the job that carries it. */
  submit(project: string, file: string, op: PendingWriteOp, payload: Buffer): Promise<GroupedWrite> {
    const key = `${project}/${file}`;
    let queue = this.#files.get(key);
    if (!queue) {
      queue = { project, file, pending: [], inFlight: 0, staging: 0, scheduled: false, lastEnqueue: Promise.resolve() };
      this.#files.set(key, queue);
    }
    const job = new Promise<GroupedWrite>((resolve, reject) => queue.pending.push({ op, payload, resolve, reject }));
    this.#schedule(key, queue);
    return job;
  }

  #schedule(key: string, queue: FileQueue): void {
    if (queue.scheduled || !this.#canStart(queue)) return;
    queue.scheduled = true;
    // Next turn: the writes parsed in this one join the same group.
    setImmediate(() => {
      queue.scheduled = false;
      this.#start(key, queue);
    });
  }

  /**
   * A group may start once the previous one's payloads are on disk: staging (an fsync) of
   * one group overlaps the queueing (a Redis transaction) of the one before, and the writes
   * that arrive during a staging make the next group.
   */
  #canStart(queue: FileQueue): boolean {
    return queue.staging < this.settings.inFlight && queue.inFlight < this.settings.inFlight + MAX_STAGED_UNQUEUED;
  }

  /** Starts committing the pending writes as one group, if a slot is free. */
  #start(key: string, queue: FileQueue): void {
    if (queue.pending.length === 0) {
      if (queue.inFlight === 0 && this.#files.get(key) === queue) this.#files.delete(key);
      return;
    }
    if (!this.#canStart(queue)) return;
    const group = queue.pending.splice(0, this.settings.maxWrites);
    queue.inFlight++;
    queue.staging++;
    const staged = this.deps.storage.stageParts(group.map((w) => w.payload));
    const enqueued = queue.lastEnqueue.then(() => staged).then(({ name, offsets }) => this.#enqueue(queue, group, name, offsets));
    queue.lastEnqueue = enqueued.catch(() => {});
    const settled = (): void => this.#start(key, queue);
    staged
      .catch(() => {})
      .finally(() => {
        queue.staging--;
        settled();
      });
    enqueued
      .then(
        (job) => group.forEach((w, i) => w.resolve({ job, op: i })),
        (err: unknown) => group.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        queue.inFlight--;
        settled();
      });
    if (queue.pending.length > 0) this.#schedule(key, queue);
  }

  async #enqueue(queue: FileQueue, group: PendingWrite[], name: string, offsets: number[]): Promise<Ph5Job> {
    const ops: WriteOp[] = group.map((w, i) => ({ ...w.op, staged: name, stagedOffset: offsets[i]!, bytes: w.payload.length }));
    // Each request checked the project's quota before it joined; the group is one job.
    return this.deps.operations.submit({ project: queue.project, file: queue.file, ops, staged: [name], quotaChecked: true });
  }
}
