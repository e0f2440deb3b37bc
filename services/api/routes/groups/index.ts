/**
 * Groups: create (with missing parents; a job), describe (members and attribute names),
 * delete (with everything in it; a job). Paths travel URL-encoded as ONE segment
 * (`a%2Fb`); the root group is the file itself (GET /v1/files/{file}).
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errors } from '../../errors.js';
import { isNativeError } from '../../domain/datasets.js';
import { deleteObject, replyAccepted, requestTarget } from '../../lib/route-helpers.js';
import { Accepted, FileName, problems } from '../../schemas/common.js';

const FileParams = Type.Object({ file: FileName });
const GroupPathParam = Type.String({
  minLength: 1,
  maxLength: 1024,
  description: "HDF5 path of the group, URL-encoded as one segment: 'grp', 'a%2Fb'.",
  examples: ['grp'],
});
const GroupParams = Type.Object({ file: FileName, path: GroupPathParam });
const CreateGroupBody = Type.Object(
  { path: Type.String({ minLength: 1, maxLength: 1024, description: 'HDF5 path of the new group; missing parents are created.', examples: ['/run1/raw'] }) },
  { additionalProperties: false, examples: [{ path: '/run1/raw' }] },
);
const Member = Type.Object({
  name: Type.String(),
  kind: Type.Union([
    Type.Literal('group'),
    Type.Literal('dataset'),
    Type.Literal('datatype'),
    Type.Literal('softlink'),
    Type.Literal('external'),
    Type.Literal('other'),
  ]),
  target: Type.Optional(Type.String({ description: 'softlink: the path it points to; external: the path inside file.' })),
  file: Type.Optional(Type.String({ description: 'external: the file it points into.' })),
});
const GroupInfo = Type.Object(
  {
    path: Type.String(),
    state: Type.Union([Type.Literal('ready'), Type.Literal('pending')], { description: "'pending': its creation job has not run yet (no members to list)." }),
    members: Type.Array(Member),
    attributes: Type.Array(Type.String(), { description: 'Attribute names (values: .../attributes).' }),
  },
  {
    examples: [
      {
        path: '/run1',
        state: 'ready',
        members: [
          { name: 'raw', kind: 'group' },
          { name: 'temperature', kind: 'dataset' },
        ],
        attributes: ['units'],
      },
    ],
  },
);

export default async function groupRoutes(fastify: FastifyInstance): Promise<void> {
  // Request types come from the route schemas (TypeBox), not written out again.
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.post(
    '/v1/files/:file/groups',
    {
      config: { role: 'write' },
      schema: {
        operationId: 'createGroup',
        tags: ['groups'],
        summary: 'Create a group (and its file and parents, if absent)',
        params: FileParams,
        body: CreateGroupBody,
        response: { 202: Accepted, ...problems(400, 401, 403, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { jobs, operations } = app;
      const { project: proj, file, path: h5path } = await requestTarget(app, request, request.params.file, request.body.path);
      const jobId = jobs.newId(proj, file);
      const job = await operations.submit({
        project: proj,
        file,
        ops: [{ op: 'createGroup', path: h5path }],
        registry: [{ kind: 'claim', path: h5path, record: { kind: 'group', jobId } }],
        jobId,
      });
      return replyAccepted(app, reply, job);
    },
  );

  app.get(
    '/v1/files/:file/groups/:path',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'getGroup',
        tags: ['groups'],
        summary: 'Describe a group: its members and attribute names',
        params: GroupParams,
        response: {
          200: { description: 'The group.', content: { 'application/json': { schema: GroupInfo } } },
          ...problems(400, 401, 403, 404, 409, 429, 503),
        },
      },
    },
    async (request) => {
      const { datasets } = app;
      const { project: proj, file, path: h5path } = await requestTarget(app, request, request.params.file, request.params.path);
      const kind = await datasets.kindOf(proj, file, h5path);
      if (kind !== 'group') throw new errors.NotFound(`No group ${h5path} in ${file}.`);
      const pending = await datasets.pending(proj, file, h5path);
      const found = await datasets.withFile(proj, file, async (f) => {
        try {
          return { members: await f.list(h5path), attributes: await f.listAttributes(h5path) };
        } catch (err) {
          if (pending && isNativeError(err, 'PH5_ERR_NOT_FOUND')) return null;
          throw err;
        }
      });
      const members = (found?.members ?? []).map((m) => ({
        name: m.name,
        kind: m.kind,
        ...(m.target ? { target: m.target } : {}),
        ...(m.file ? { file: m.file } : {}),
      }));
      return { path: h5path, state: found ? ('ready' as const) : ('pending' as const), members, attributes: found?.attributes ?? [] };
    },
  );

  app.delete(
    '/v1/files/:file/groups/:path',
    {
      config: { role: 'write' },
      schema: {
        operationId: 'deleteGroup',
        tags: ['groups'],
        summary: 'Delete a group and everything in it',
        description: 'Queues a job that unlinks the group. From this request on, the group and its members read as absent.',
        params: GroupParams,
        response: { 202: Accepted, ...problems(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => deleteObject(app, request, reply, 'group'),
  );
}
