/** Dataset request and response bodies. */
import { Type } from 'typebox';

const Dim = Type.Integer({ minimum: 0, maximum: 2 ** 53 - 1 });

export const CreateDatasetBody = Type.Object(
  {
    path: Type.String({ minLength: 1, maxLength: 1024, description: 'HDF5 path; intermediate groups are created.', examples: ['/test'] }),
    dtype: Type.String({ maxLength: 16, description: 'numpy-style dtype: int32, <i4, >f8, uint8, bool, S16…', examples: ['int32'] }),
    shape: Type.Array(Dim, { maxItems: 32, examples: [[42]] }),
    maxshape: Type.Optional(Type.Array(Type.Union([Dim, Type.Null()]), { maxItems: 32, description: 'Per dimension; null = unlimited.' })),
    chunks: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 2 ** 32 - 1 }), { maxItems: 32 })),
    fillValue: Type.Optional(Type.Union([Type.Number(), Type.String(), Type.Boolean()], { description: 'Value of elements never written.' })),
  },
  { additionalProperties: false, examples: [{ path: '/test', dtype: 'int32', shape: [42] }] },
);

export const DatasetInfo = Type.Object(
  {
    path: Type.String(),
    dtype: Type.String(),
    shape: Type.Array(Type.Integer()),
    maxshape: Type.Array(Type.Union([Type.Integer(), Type.Null()])),
    layout: Type.String({ description: "'contiguous', 'chunked' or 'compact'; 'pending' while creation is queued." }),
    chunks: Type.Union([Type.Array(Type.Integer()), Type.Null()]),
    state: Type.Union([Type.Literal('ready'), Type.Literal('pending')], { description: 'pending: accepted, creation job not yet done.' }),
  },
  { $id: 'DatasetInfo' },
);

export const ValueQuery = Type.Object(
  {
    select: Type.Optional(Type.String({ maxLength: 4096, description: 'HSDS selection, e.g. [0:42] or [10:20,0:5:2]. Default: everything.', examples: ['[0:42]'] })),
    dtype: Type.Optional(Type.String({ maxLength: 16, description: 'Byte order of a binary body when it differs from the dataset, e.g. >f8.' })),
  },
  { additionalProperties: false },
);

export const ValueJson = Type.Object({
  dtype: Type.String(),
  shape: Type.Array(Type.Integer()),
  data: Type.Unknown({ description: 'Nested arrays in C order.' }),
});
