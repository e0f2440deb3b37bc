/**
 * Files of a project: list, info with the object tree, create (a job), delete (a job,
 * admin). A file is named by one segment under the project's directory; the checks of
 * names and resolved paths (symlinks included) are in domain/storage.ts.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { validateFileName } from '../../../shared/names.js';
import { keys } from '../../../shared/jobs.js';
import { errors } from '../../errors.js';
import { replyAccepted, projectOf } from '../../lib/route-helpers.js';
import { TREE_LIMIT, readTree } from '../../domain/tree.js';
import { Accepted, FileName, ObjectError, problems } from '../../schemas/common.js';
import { DtypeRef } from '../../schemas/dtype.js';

const FileParams = Type.Object({ file: FileName });
const FileEntry = Type.Object({
  name: Type.String(),
  size: Type.Integer({ description: 'Bytes on disk.' }),
  modified: Type.String({ format: 'date-time' }),
});
const TreeNode = Type.Object(
  {
    path: Type.String(),
    kind: Type.String({ description: 'group, dataset, datatype, softlink, external or other.' }),
    attributes: Type.Optional(Type.Array(Type.String())),
    dtype: Type.Optional(DtypeRef('Datasets: the dtype, in canonical form.')),
    shape: Type.Optional(Type.Array(Type.Integer())),
    maxshape: Type.Optional(Type.Array(Type.Union([Type.Integer(), Type.Null()]))),
    target: Type.Optional(Type.String()),
    file: Type.Optional(Type.String()),
    children: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }), { description: 'Members (same shape as this node).' })),
    error: Type.Optional(ObjectError),
  },
  { additionalProperties: false },
);
const FileInfo = Type.Object(
  {
    name: Type.String(),
    size: Type.Integer(),
    modified: Type.String({ format: 'date-time' }),
    objects: Type.Integer({ description: 'Objects listed in tree.' }),
    truncated: Type.Boolean({ description: `true when the file has more than ${TREE_LIMIT} objects: list groups one by one.` }),
    tree: TreeNode,
  },
  {
    examples: [
      {
        name: 'output.h5',
        size: 2216,
        modified: '2026-11-25T12:00:00.000Z',
        objects: 2,
        truncated: false,
        tree: {
          path: '/',
          kind: 'group',
          attributes: [],
          children: [{ path: '/test', kind: 'dataset', attributes: [], dtype: 'int32', shape: [42], maxshape: [42] }],
        },
      },
    ],
  },
);

export default async function fileRoutes(fastify: FastifyInstance): Promise<void> {
  // Request types come from the route schemas (TypeBox), not written out again.
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/v1/files',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'listFiles',
        tags: ['files'],
        summary: 'List your project’s files: name, size, last modified',
        response: {
          200: {
            description: 'The files, by name.',
            content: {
              'application/json': {
                schema: Type.Object(
                  { files: Type.Array(FileEntry) },
                  { examples: [{ files: [{ name: 'output.h5', size: 2216, modified: '2026-11-25T12:00:00.000Z' }] }] },
                ),
              },
            },
          },
          ...problems(400, 401, 403, 404, 429, 503),
        },
      },
    },
    async (request) => {
      const { config } = app;
      const dir = path.join(config.dataDir, projectOf(request));
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files: [] };
        throw err;
      }
      const files = [];
      for (const name of names.sort()) {
        try {
          validateFileName(name);
        } catch {
          continue; // not a name a client could use (hidden, odd characters)
        }
        const st = await lstat(path.join(dir, name)).catch(() => null);
        if (!st?.isFile()) continue; // symlinks and directories are not project files
        files.push({ name, size: st.size, modified: st.mtime.toISOString() });
      }
      return { files };
    },
  );

  app.get(
    '/v1/files/:file',
    {
      config: { role: 'read' },
      schema: {
        operationId: 'getFile',
        tags: ['files'],
        summary: 'A file: size, last modified, and its object tree (groups, datasets with dtype and shape, links, attribute names)',
        description:
          'Reads the file as completed jobs left it (never a half-applied job). A dataset whose type ph5 cannot read (an object reference, opaque…) is listed with error {code, detail} instead of dtype, shape and maxshape.',
        params: FileParams,
        response: { 200: { description: 'The file.', content: { 'application/json': { schema: FileInfo } } }, ...problems(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request) => {
      const { storage, datasets } = app;
      const proj = projectOf(request);
      const file = validateFileName(request.params.file);
      const resolved = await storage.resolve(proj, file);
      // Absent, or deleted by an accepted job that has not run yet.
      if (!resolved.exists || (await datasets.kindOf(proj, file, '/')) === null) throw new errors.NotFound(`No file ${file}.`);
      const tree = await datasets.withFile(proj, file, (f) => readTree(f));
      if (!tree) throw new errors.NotFound(`No file ${file}.`);
      const st = await lstat(resolved.path);
      return { name: file, size: st.size, modified: st.mtime.toISOString(), objects: tree.objects, truncated: tree.truncated, tree: tree.root };
    },
  );

  app.put(
    '/v1/files/:file',
    {
      config: { role: 'write' },
      schema: {
        operationId: 'createFile',
        tags: ['files'],
        summary: 'Create an empty HDF5 file',
        description:
          'Queues a job that creates the file. Creating datasets or groups also creates their file, so this is only needed for an empty one (or one that starts with root attributes: ' +
          'those need the file, or its creation queued). 409 while the file exists or its creation is already queued.',
        params: FileParams,
        response: { 202: Accepted, ...problems(400, 401, 403, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { storage, operations } = app;
      const proj = projectOf(request);
      const file = validateFileName(request.params.file);
      if ((await storage.resolve(proj, file)).exists) throw new errors.Exists(`${file} already exists.`);
      // Its creation is recorded at '/' (so that requests accepted meanwhile, a root
      // attribute, see the file coming), unless '/' holds a deletion: that tombstone must
      // keep hiding what was accepted before it.
      const jobId = app.jobs.newId(proj, file);
      const root = await app.redis.hget(keys.datasets(proj, file), '/');
      const tombstone = root !== null && (JSON.parse(root) as { kind?: string }).kind === 'deleted';
      const job = await operations.submit({
        project: proj,
        file,
        ops: [{ op: 'createFile', path: '/' }],
        ...(tombstone ? {} : { registry: [{ kind: 'claim' as const, path: '/', record: { kind: 'group' as const, jobId } }] }),
        jobId,
      });
      return replyAccepted(app, reply, job);
    },
  );

  app.delete(
    '/v1/files/:file',
    {
      config: { role: 'admin' },
      schema: {
        operationId: 'deleteFile',
        tags: ['files'],
        summary: 'Delete a file',
        description:
          'Queues a job that deletes the file once the jobs accepted before it have run; jobs accepted after it start a new file. ' +
          'Pending creations in the file are forgotten at once.',
        params: FileParams,
        response: { 202: Accepted, ...problems(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const { storage, redis, operations } = app;
      const proj = projectOf(request);
      const file = validateFileName(request.params.file);
      if (!(await storage.resolve(proj, file)).exists && (await redis.exists(keys.datasets(proj, file))) === 0) {
        throw new errors.NotFound(`No file ${file}.`);
      }
      // A deletion record at '/' hides everything accepted before it: the file reads as
      // gone at once, and every path in it is free for the jobs that follow.
      const jobId = app.jobs.newId(proj, file);
      const job = await operations.submit({
        project: proj,
        file,
        ops: [{ op: 'deleteFile', path: '/' }],
        registry: [{ kind: 'record', path: '/', record: { kind: 'deleted', jobId } }],
        jobId,
      });
      return replyAccepted(app, reply, job);
    },
  );
}
