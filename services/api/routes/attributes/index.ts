/**
 * Attributes of the file (its root group), of groups and of datasets: list with values,
 * get one, put one (create or replace; a job), delete one (a job). The same four routes
 * under three prefixes; names travel URL-encoded as one segment.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from 'typebox';
import type { AttributeRead } from '../../../../native/lib/index.js';
import { dtypeSpec } from '../../../shared/dtype.js';
import { decodeJson, decodeStrings } from '../../../shared/json-codec.js';
import { normalizeH5Path, validateFileName } from '../../../shared/names.js';
import { errors } from '../../errors.js';
import { isNativeError } from '../../domain/datasets.js';
import { attributeData, validateAttributeName } from '../../domain/operations.js';
import { replyAccepted, projectOf } from '../../lib/route-helpers.js';
import { InputError } from '../../../shared/input-error.js';
import { unreadable } from '../../domain/unreadable.js';
import { Accepted, DatasetPathParam, FileName, ObjectError, problems } from '../../schemas/common.js';
import { DtypeRef } from '../../schemas/dtype.js';

const AttributeName = Type.String({ minLength: 1, maxLength: 255, description: "Attribute name, URL-encoded as one segment (no '/').", examples: ['units'] });
const Attribute = Type.Object(
  {
    name: Type.String(),
    dtype: DtypeRef(
      "The attribute's dtype in canonical form: 'str' (variable-length UTF-8) or 'str:ascii', S<n> for fixed-length strings, numeric names, complex64/128, enums and compounds as objects.",
    ),
    shape: Type.Array(Type.Integer(), { description: '[] for a scalar.' }),
    value: Type.Unknown({
      description:
        'The value as JSON: a scalar, or nested arrays; complex values [re, im], enum values member names, compound values objects. As dataset values: 64-bit integers outside ±(2^53−1) are decimal strings, non-finite floats "NaN", "Infinity", "-Infinity".',
    }),
  },
  { examples: [{ name: 'units', dtype: 'str', shape: [], value: 'kelvin' }] },
);
/** In a listing: an attribute ph5 cannot read (its type has no ph5 dtype), listed with why. */
const UnreadableAttribute = Type.Object(
  { name: Type.String(), error: ObjectError },
  { additionalProperties: false, examples: [{ name: 'ref', error: { code: 'PH5_ERR_TYPE', detail: 'the HDF5 type (reference) has no ph5 dtype' } }] },
);
const PutAttributeBody = Type.Object(
  {
    value: Type.Unknown({
      description:
        'A number, boolean or string, or a (nested) array of one kind; with a dtype, values in its JSON form ([re, im] for complex, member names for enums, objects or rows for compounds). ' +
        'With a numeric dtype, strings are values of it: "NaN", "Infinity", "-Infinity", or a 64-bit integer as a decimal string (exact).',
      examples: ['kelvin', 273.15, [1, 2, 3]],
    }),
    dtype: Type.Optional(
      DtypeRef(
        'The dtype to store (default: int64 for integers, float64 otherwise, bool for booleans, str for strings). Strings: str (variable-length UTF-8, the default), str:ascii, or S<n> (fixed-length, null-padded). Also complex64/128, enums and compounds.',
      ),
    ),
    shape: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0 }), {
        maxItems: 32,
        description: 'Shape of the value (default: as nested). A flat array of the right length is reshaped.',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ value: 'kelvin' }, { value: [0.5, 1.5], dtype: 'float32' }] },
);

interface Target {
  /** URL prefix (fastify syntax). */
  prefix: string;
  /** For operationIds and summaries. */
  noun: 'File' | 'Group' | 'Dataset';
  params: TSchema;
  /** The HDF5 object the attributes belong to. */
  objectPath(params: Record<string, string>): string;
}

const TARGETS: Target[] = [
  { prefix: '/v1/files/:file', noun: 'File', params: Type.Object({ file: FileName }), objectPath: () => '/' },
  {
    prefix: '/v1/files/:file/groups/:path',
    noun: 'Group',
    params: Type.Object({
      file: FileName,
      path: Type.String({ minLength: 1, maxLength: 1024, description: 'Group path, URL-encoded as one segment.', examples: ['grp'] }),
    }),
    objectPath: (p) => normalizeH5Path(p.path!),
  },
  {
    prefix: '/v1/files/:file/datasets/:path',
    noun: 'Dataset',
    params: Type.Object({ file: FileName, path: DatasetPathParam }),
    objectPath: (p) => normalizeH5Path(p.path!),
  },
];

/** An attribute as answered: its dtype spec, and its value in that dtype's JSON form. */
function present(name: string, a: AttributeRead) {
  if (a.kind === 'string') {
    // The native read gives the strings of any shape as one flat list: nest them as numbers are.
    const value = Array.isArray(a.value) && a.shape.length > 1 ? decodeStrings(a.value, a.shape) : a.value;
    return { name, dtype: a.length === null ? (a.cset === 'ascii' ? 'str:ascii' : 'str') : `S${a.length}`, shape: a.shape, value };
  }
  return { name, dtype: dtypeSpec(a.dtype), shape: a.shape, value: decodeJson(a.data, a.dtype, a.shape) };
}

export default async function attributeRoutes(fastify: FastifyInstance): Promise<void> {
  // Request types come from the route schemas (TypeBox), not written out again.
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  for (const t of TARGETS) {
    const NamedParams = Type.Object({ ...(t.params as unknown as { properties: Record<string, TSchema> }).properties, name: AttributeName });
    const where = t.noun === 'File' ? "the file's root group" : `a ${t.noun.toLowerCase()}`;

    /** The project, file and object of a request; 404 when the object does not (or will not) exist. */
    const locate = async (request: FastifyRequest, forWrite: boolean) => {
      const { storage, datasets } = app;
      const params = request.params as Record<string, string>;
      const proj = projectOf(request);
      const file = validateFileName(params.file!);
      const resolved = await storage.resolve(proj, file);
      const object = t.objectPath(params);
      if (t.noun === 'File') {
        // Reading needs the file; setting a root attribute needs it too, or an accepted job
        // that creates it (PUT /v1/files/{file}, a dataset or group in it): a typo in a
        // file name must not create a file.
        if (!forWrite && !resolved.exists) throw new errors.NotFound(`No file ${file}.`);
        if (forWrite && !(await datasets.fileWillExist(proj, file))) {
          throw new errors.NotFound(`No file ${file}: create it first (PUT /v1/files/${file}, or create a dataset or group in it).`);
        }
      } else {
        const kind = await datasets.kindOf(proj, file, object);
        if (kind !== t.noun.toLowerCase()) throw new errors.NotFound(`No ${t.noun.toLowerCase()} ${object} in ${file}.`);
      }
      return { proj, file, object };
    };
    const readAll = async (request: FastifyRequest, only?: string) => {
      const { datasets } = app;
      const { proj, file, object } = await locate(request, false);
      const found = await datasets.withFile(proj, file, async (f) => {
        try {
          const names = only !== undefined ? [only] : await f.listAttributes(object);
          const out = [];
          for (const name of names) {
            try {
              out.push(present(name, await f.readAttribute(object, name)));
            } catch (err) {
              // One attribute ph5 cannot read does not hide the others (a single GET refuses it).
              const error = only === undefined ? unreadable(err) : null;
              if (!error) throw err;
              out.push({ name, error });
            }
          }
          return out;
        } catch (err) {
          if (isNativeError(err, 'PH5_ERR_NOT_FOUND')) return null;
          throw err;
        }
      });
      return { found, object, file };
    };

    app.get(
      `${t.prefix}/attributes`,
      {
        config: { role: 'read' },
        schema: {
          operationId: `list${t.noun}Attributes`,
          tags: ['attributes'],
          summary: `List the attributes of ${where}, with their values`,
          description:
            'As completed jobs left them (an attribute set by a job still queued is not there yet). ' +
            'An attribute ph5 cannot read (a type with no ph5 dtype: an object reference, opaque…) is listed with error {code, detail} instead of dtype, shape and value; GET of that attribute alone answers 400 with the same code.',
          params: t.params,
          response: {
            200: {
              description: 'The attributes.',
              content: {
                'application/json': {
                  schema: Type.Object(
                    { attributes: Type.Array(Type.Union([Attribute, UnreadableAttribute])) },
                    { examples: [{ attributes: [{ name: 'units', dtype: 'str', shape: [], value: 'kelvin' }] }] },
                  ),
                },
              },
            },
            ...problems(400, 401, 403, 404, 409, 429, 503),
          },
        },
      },
      async (request) => {
        const { found, object, file } = await readAll(request);
        if (!found) throw new errors.NotFound(`No object ${object} in ${file} yet.`);
        return { attributes: found };
      },
    );

    app.get(
      `${t.prefix}/attributes/:name`,
      {
        config: { role: 'read' },
        schema: {
          operationId: `get${t.noun}Attribute`,
          tags: ['attributes'],
          summary: `Get one attribute of ${where}`,
          params: NamedParams,
          response: {
            200: { description: 'The attribute.', content: { 'application/json': { schema: Attribute } } },
            ...problems(400, 401, 403, 404, 409, 429, 503),
          },
        },
      },
      async (request) => {
        const name = validateAttributeName(request.params.name);
        const { found, object, file } = await readAll(request, name);
        const attribute = found?.[0];
        if (!attribute) throw new errors.NotFound(`No attribute '${name}' on ${object} in ${file}.`);
        // Asked for by name, an attribute ph5 cannot read is refused by readAll, never listed.
        if ('error' in attribute) throw new InputError(attribute.error.code, attribute.error.detail);
        return attribute;
      },
    );

    app.put(
      `${t.prefix}/attributes/:name`,
      {
        config: { role: 'write' },
        schema: {
          operationId: `put${t.noun}Attribute`,
          tags: ['attributes'],
          summary: `Create or replace an attribute of ${where}`,
          description:
            'Queues a job. Numbers are stored in dtype (default int64 or float64, bool for booleans), strings as variable-length UTF-8 (as h5py stores str), or as dtype says: str:ascii, S<n> (fixed-length). ' +
            'With a numeric dtype, strings are values of it, scalar or in arrays: "NaN", "Infinity", "-Infinity" for floats, decimal strings for 64-bit integers (exact). ' +
            'With a complex, enum or compound dtype, the value is in that dtype’s JSON form ([re, im]; member names or integers; objects, or rows in field order); give shape when rows or pairs could be read as a dimension.' +
            (t.noun === 'File'
              ? ' The file must exist, or be created by an accepted job (PUT /v1/files/{file}, a dataset or group in it): else 404, and no file is created.'
              : ''),
          params: NamedParams,
          body: PutAttributeBody,
          response: { 202: Accepted, ...problems(400, 401, 403, 404, 409, 413, 429, 503) },
        },
      },
      async (request, reply) => {
        const name = validateAttributeName(request.params.name);
        const value = attributeData(request.body, app.config.limits);
        const { proj, file, object } = await locate(request, true);
        const job = await app.operations.submit({ project: proj, file, ops: [{ op: 'setAttribute', path: object, name, value }] });
        return replyAccepted(app, reply, job);
      },
    );

    app.delete(
      `${t.prefix}/attributes/:name`,
      {
        config: { role: 'write' },
        schema: {
          operationId: `delete${t.noun}Attribute`,
          tags: ['attributes'],
          summary: `Delete an attribute of ${where}`,
          params: NamedParams,
          response: { 202: Accepted, ...problems(400, 401, 403, 404, 409, 429, 503) },
        },
      },
      async (request, reply) => {
        const name = validateAttributeName(request.params.name);
        const { proj, file, object } = await locate(request, false);
        const job = await app.operations.submit({ project: proj, file, ops: [{ op: 'deleteAttribute', path: object, name }] });
        return replyAccepted(app, reply, job);
      },
    );
  }
}
