/** The body of POST /v1/jobs: an ordered list of operations on one file, applied as one job. */
import { Type, type Static } from 'typebox';
import { CreateDatasetBody } from './datasets.js';
import { DtypeRef } from './dtype.js';

const H5Path = Type.String({ minLength: 1, maxLength: 1024, description: "HDF5 path ('/' is the file's root group, for attributes)." });
const AttrName = Type.String({ minLength: 1, maxLength: 255 });

export const BatchOp = Type.Union([
  Type.Object({ op: Type.Literal('createGroup'), path: H5Path }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('createDataset'), ...CreateDatasetBody.properties }, { additionalProperties: false }),
  Type.Object(
    {
      op: Type.Literal('write'),
      path: H5Path,
      select: Type.Optional(Type.String({ maxLength: 4096, description: 'HSDS selection; default the whole dataset.' })),
      points: Type.Optional(
        Type.Unknown({
          description:
            'A point selection instead of select: a list of coordinates, one list per element, each at most once; value is then the points’ values in their order (docs/api.md, Point selections).',
        }),
      ),
      value: Type.Unknown({ description: 'Nested arrays (or a flat array) of the selection’s values.' }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      op: Type.Literal('setAttribute'),
      path: H5Path,
      name: AttrName,
      value: Type.Unknown(),
      dtype: Type.Optional(DtypeRef('As for PUT …/attributes/{name}.')),
      shape: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 32 })),
    },
    { additionalProperties: false },
  ),
  Type.Object({ op: Type.Literal('deleteAttribute'), path: H5Path, name: AttrName }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('resize'), path: H5Path, shape: Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 32 }) }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('delete'), path: H5Path }, { additionalProperties: false }),
]);
export type BatchOp = Static<typeof BatchOp>;

export const MAX_BATCH_OPS = 1000;

export const BatchBody = Type.Object(
  {
    file: Type.String({ minLength: 1, maxLength: 255, description: 'The file (in your project) every operation applies to.', examples: ['run1.h5'] }),
    ops: Type.Array(BatchOp, { minItems: 1, maxItems: MAX_BATCH_OPS, description: 'Applied in this order, in one epoch of the worker pool.' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        file: 'run1.h5',
        ops: [
          { op: 'createGroup', path: '/raw' },
          { op: 'createDataset', path: '/raw/t', dtype: 'float64', shape: [4] },
          { op: 'write', path: '/raw/t', value: [20.5, 21, 21.5, 22] },
          { op: 'setAttribute', path: '/raw/t', name: 'units', value: 'celsius' },
        ],
      },
    ],
  },
);
