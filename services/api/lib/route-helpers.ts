/**
 * What several routes do the same way: find the project, file and HDF5 path a request
 * acts on, answer 202 with an accepted job, and queue the deletion of an object.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { normalizeH5Path, validateFileName } from '../../shared/names.js';
import { errors } from '../errors.js';
import type { Ph5Job } from '../domain/jobs.js';

/** The project a request acts in: its token's (plugins/app/auth.ts). */
export function projectOf(request: FastifyRequest): string {
  // Only routes that declare a role get a principal; a route that needs a project must.
  if (!request.principal) throw new Error(`route ${request.routeOptions.url} needs a role to know its project`);
  return request.principal.project;
}

/**
 * 202 with the job, its URL in Location; with replicated acceptance (PH5_REDIS_MIN_REPLICAS)
 * only once Redis replicas have it, else 503 PH5_ERR_NOT_REPLICATED (plugins/app/replication.ts).
 */
export function replyAccepted(app: FastifyInstance, reply: FastifyReply, job: Ph5Job, ownOp?: number): FastifyReply | Promise<FastifyReply> {
  const send = (): FastifyReply => {
    const view = app.jobs.viewAccepted(job, ownOp);
    return reply.code(202).header('location', `/v1/jobs/${view.id}`).send({ job: view });
  };
  return app.replication.enabled ? app.replication.confirmJob(job).then(send) : send();
}

/** The project, file and (when `h5path` is given) normalized HDF5 path a request acts on. */
export async function requestTarget(
  app: FastifyInstance,
  request: FastifyRequest,
  fileName: string,
  h5path?: string,
): Promise<{ project: string; file: string; path: string }> {
  const project = projectOf(request);
  const file = validateFileName(fileName);
  await app.storage.checkTarget(project, file); // refuses names that resolve outside the project
  return { project, file, path: h5path === undefined ? '/' : normalizeH5Path(h5path) };
}

/**
 * Queues the deletion of a dataset or group: from this request on it reads as absent (a
 * registry tombstone) and its path is free; the job unlinks it.
 */
export async function deleteObject(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, kind: 'dataset' | 'group'): Promise<FastifyReply> {
  const params = request.params as { file: string; path: string };
  const { project, file, path } = await requestTarget(app, request, params.file, params.path);
  if ((await app.datasets.kindOf(project, file, path)) !== kind) throw new errors.NotFound(`No ${kind} ${path} in ${file}.`);
  const jobId = app.jobs.newId(project, file);
  const job = await app.operations.submit({
    project,
    file,
    ops: [{ op: 'delete', path }],
    registry: [{ kind: 'record', path, record: { kind: 'deleted', jobId } }],
    jobId,
  });
  return replyAccepted(app, reply, job);
}
