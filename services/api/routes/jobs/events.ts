/**
 * GET /v1/jobs/{id}/events: a job's changes as Server-Sent Events.
 *
 * The stream listens to the process's one event reader, for all shards (no Redis connection per
 * client); every event about this job, and a slow poll as a backstop for lost events,
 * only means "look again": the job's record decides what is sent, and an unchanged view is
 * not sent twice. A pool holding the job makes it 'active' in BullMQ, which is not yet
 * `running` (job-state.ts); the epoch that applies it says so on the `applying` channel,
 * heard through the process's one subscriber: an event whose range covers the job is one
 * more "look again", and the look then finds the mark and answers `running`. The stream ends after completed or failed, when the client goes away,
 * or when the server shuts down.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Ph5Job } from '../../domain/jobs.js';
import type { JobView } from '../../schemas/common.js';

const POLL_MS = 2_000;
const KEEPALIVE_MS = 15_000;
const EVENTS = ['active', 'progress', 'completed', 'failed', 'waiting', 'delayed', 'retries-exhausted', 'removed'] as const;

const openStreams = new WeakMap<FastifyInstance, Set<() => void>>();

/** Ends every open stream (called when the server closes, so it need not wait for them). */
export function endAllStreams(app: FastifyInstance): void {
  openStreams.get(app)?.forEach((end) => end());
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export async function streamJobEvents(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, job: Ph5Job): Promise<void> {
  const { jobs } = app;
  const id = String(job.id);
  const project = job.data.project;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });

  let last: JobView | null = null;
  let ended = false;
  let checking = false;
  let again = false;
  const events = jobs.listen();
  events.setMaxListeners(0); // one set of listeners per open stream, by design
  const streams = openStreams.get(app) ?? new Set<() => void>();
  openStreams.set(app, streams);

  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(poll);
    clearInterval(keepalive);
    for (const name of EVENTS) events.off(name, onEvent);
    stopApplying();
    streams.delete(end);
    res.end();
  };
  // Serialised: a burst of events makes at most one extra look.
  const check = async (): Promise<void> => {
    if (ended) return;
    if (checking) {
      again = true;
      return;
    }
    checking = true;
    try {
      do {
        again = false;
        const fresh = await jobs.get(id, project);
        if (!fresh) {
          res.write(frame('removed', { id }));
          end();
          return;
        }
        const view = await jobs.view(fresh);
        if (ended) return;
        const changed = !last || last.state !== view.state || last.attempts !== view.attempts;
        if (changed || last!.progress !== view.progress) res.write(frame(changed ? 'state' : 'progress', view));
        last = view;
        if (view.state === 'completed' || view.state === 'failed') end();
      } while (again && !ended);
    } catch (err) {
      request.log.warn({ err: (err as Error).message, jobId: id }, 'job event stream: could not read the job');
    } finally {
      checking = false;
    }
  };
  function onEvent(args: { jobId: string }): void {
    if (args.jobId === id) void check();
  }
  for (const name of EVENTS) events.on(name, onEvent);
  const seq = job.data.seq;
  const stopApplying = jobs.onApplying(project, job.data.file, (e) => {
    if (typeof seq === 'number' && e.first <= seq && seq <= e.last) void check();
  });
  const poll = setInterval(() => void check(), POLL_MS);
  const keepalive = setInterval(() => res.write(': keep-alive\n\n'), KEEPALIVE_MS);
  streams.add(end);
  res.on('close', end);
  await check();
}
