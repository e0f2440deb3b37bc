/**
 * The one door to BullMQ: nothing else in services/ imports `bullmq` or knows its Redis
 * keys. ph5's own state about a job (its sequence number, its cancellation) lives in ph5's
 * keys (job-marks.ts), not in BullMQ's job data. The places that go below BullMQ's public
 * API, each saying why where it is (adding a job inside our MULTI, producer.ts; marking a
 * job cancelled only while it waits, cancel.ts; the 16 event streams on one connection,
 * events.ts; many jobs' `finishedOn` at once, finished.ts), are pinned, with the exact
 * BullMQ version, by test/integration/bullmq-contract.test.ts.
 */
export { WriteQueues, JOB_OPTIONS, type QueuedJob, type ShardQueue } from './producer.js';
export { consumeShard, giveBack, isDelayedError, jobById, DelayedError, UnrecoverableError, type ShardWorker, type ConsumeOptions } from './consumer.js';
export { markCancelledIfWaiting } from './cancel.js';
export { ShardEvents } from './events.js';
export { JOB_MARKS_PREFIX, JOB_MARKS_TTL_S, jobMarksKey, readJobMarks, applyJobMarks, parseJobMarks, type JobMarks } from './job-marks.js';
export { jobHashKey } from './keys.js';
export { finishedOrGone } from './finished.js';
