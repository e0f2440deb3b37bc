/**
 * The live worker pools: ranks, host, MPI and HDF5 versions, current job, last heartbeat.
 * A pool busy with another project's job shows as busy, without that job's id or file.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { keys, POOL_STALE_MS, type PoolInfo } from '../../../shared/jobs.js';
import { projectOf } from '../../lib/route-helpers.js';
import { problems } from '../../schemas/common.js';

const Worker = Type.Object(
  {
    id: Type.String(),
    host: Type.String(),
    ranks: Type.Integer(),
    pid: Type.Integer({ description: 'Process id of rank 0 on its host.' }),
    hdf5: Type.String({ description: 'HDF5 version the ranks run with.' }),
    mpi: Type.String({ description: 'MPI library version.' }),
    startedAt: Type.Number({ description: 'ms since the epoch' }),
    heartbeatAt: Type.Number({ description: 'Last heartbeat, ms since the epoch.' }),
    busy: Type.Boolean({ description: 'Whether the pool is running a job.' }),
    currentJob: Type.Union([Type.Object({ id: Type.String(), file: Type.String() }), Type.Null()], {
      description: 'The job it runs, when it is one of your project’s; null otherwise.',
    }),
  },
  {
    examples: [
      {
        id: 'node01-4242',
        host: 'node01',
        ranks: 4,
        pid: 4242,
        hdf5: '1.10.8',
        mpi: 'Open MPI v4.1.4',
        startedAt: 1764000000000,
        heartbeatAt: 1764000060000,
        busy: false,
        currentJob: null,
      },
    ],
  },
);

export default async function workerRoutes(fastify: FastifyInstance): Promise<void> {
  // Request types come from the route schemas (TypeBox), not written out again.
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/v1/workers',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'listWorkers',
        tags: ['workers'],
        summary: 'The live worker pools',
        description: `Pools with a heartbeat in the last ${POOL_STALE_MS / 1000} s.`,
        response: {
          200: {
            description: 'The pools.',
            content: { 'application/json': { schema: Type.Object({ workers: Type.Array(Worker) }, { examples: [{ workers: [] }] }) } },
          },
          ...problems(400, 401, 403, 404, 429, 503),
        },
      },
    },
    async (request) => {
      const { redis, jobs } = app;
      const proj = projectOf(request);
      const ids = await redis.zrangebyscore(keys.pools, Date.now() - POOL_STALE_MS, '+inf');
      const raw = ids.length ? await redis.mget(...ids.map((id) => keys.pool(id))) : [];
      const workers = [];
      for (const text of raw) {
        if (!text) continue;
        let info: PoolInfo;
        try {
          info = JSON.parse(text) as PoolInfo;
        } catch {
          continue;
        }
        const current = info.currentJob ? await jobs.get(String(info.currentJob), proj) : null;
        workers.push({
          id: info.id,
          host: info.host,
          ranks: info.ranks,
          pid: info.pid,
          hdf5: info.hdf5,
          mpi: info.mpi,
          startedAt: info.startedAt,
          heartbeatAt: info.heartbeatAt,
          busy: Boolean(info.currentJob),
          currentJob: current ? { id: String(current.id), file: current.data.file } : null,
        });
      }
      return { workers };
    },
  );
}
