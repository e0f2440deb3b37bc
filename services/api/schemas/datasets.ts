/** Dataset request and response bodies. */
import { Type } from 'typebox';
import { DtypeRef } from './dtype.js';

/** Most dimensions a dataset may have (HDF5's own limit). */
export const MAX_RANK = 32;

const Dim = Type.Integer({ minimum: 1, maximum: 2 ** 53 - 1 });
/** A new extent may shrink a dimension to 0. */
const Dim0 = Type.Integer({ minimum: 0, maximum: 2 ** 53 - 1 });

export const CreateDatasetBody = Type.Object(
  {
    path: Type.String({
      minLength: 1,
      maxLength: 1024,
      description: 'HDF5 path of the new dataset; missing intermediate groups are created.',
      examples: ['/test'],
    }),
    dtype: DtypeRef(
      'The element type: a numpy-style name (int8…int64, uint8…uint64, float16/32/64, bool, S<n>, complex64/128, str, str:ascii, or codes like <i4, >f8), an enum or a compound (docs/api.md, Types).',
    ),
    shape: Type.Array(Dim0, {
      maxItems: MAX_RANK,
      description:
        'Extent of each dimension (non-negative integers); [] is a scalar. A 0 makes an empty dataset: with an unlimited maxshape (null) in that dimension, the start of the append idiom (create empty, resize, write).',
      examples: [[42], [0]],
    }),
    maxshape: Type.Optional(
      Type.Array(Type.Union([Dim, Type.Null()]), {
        maxItems: MAX_RANK,
        description:
          'Largest extent of each dimension, null = unlimited. Default: shape. Unlimited dimensions get a default chunk shape; finite ones larger than shape need chunks.',
        examples: [[null]],
      }),
    ),
    chunks: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1, maximum: 2 ** 32 - 1 }), {
        maxItems: MAX_RANK,
        description: 'Chunk shape (chunked layout). Each at most the finite maxshape; a chunk must stay under 4 GiB.',
        examples: [[1024]],
      }),
    ),
    compression: Type.Optional(
      Type.Union([Type.Literal('gzip'), Type.Null()], {
        description:
          "Compression filter, as h5py's compression=: 'gzip' (deflate) or null. Compressed datasets are chunked (default chunk shape if none is given).",
        examples: ['gzip'],
      }),
    ),
    compressionLevel: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 9, description: "gzip level 0..9, as h5py's compression_opts. Default 4.", examples: [4] }),
    ),
    shuffle: Type.Optional(Type.Boolean({ description: 'Byte-shuffle filter before compression (often makes numbers compress better).', examples: [true] })),
    fillValue: Type.Optional(
      Type.Unknown({
        description:
          'Value of elements never written: one value of the dtype in its JSON form (a number, a boolean, a string for S<n>, [re, im] for complex, an enum member name, an object for a compound). ' +
          '64-bit integers may be decimal strings, and are stored exactly (the body is never coerced through a JS number: send integers beyond ±(2^53−1) as strings); floats may be "NaN", "Infinity", "-Infinity". ' +
          'Not for variable-length strings. Absent: no fill pass, unwritten elements are undefined.',
        examples: [0],
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      { path: '/test', dtype: 'int32', shape: [42] },
      {
        path: '/grp/images',
        dtype: 'uint16',
        shape: [100, 512, 512],
        maxshape: [null, 512, 512],
        chunks: [1, 512, 512],
        compression: 'gzip',
        compressionLevel: 4,
        shuffle: true,
        fillValue: 0,
      },
    ],
  },
);

export const DatasetInfo = Type.Object(
  {
    path: Type.String({ examples: ['/test'] }),
    dtype: DtypeRef(
      'Canonical form: int32 (little-endian), >i4 (big-endian), float64, bool, S16, complex64, str…; enums and compounds as objects with every offset and the itemsize.',
    ),
    shape: Type.Array(Type.Integer(), { examples: [[42]] }),
    maxshape: Type.Array(Type.Union([Type.Integer(), Type.Null()]), { description: 'null = unlimited.', examples: [[42]] }),
    layout: Type.Union([Type.Literal('contiguous'), Type.Literal('chunked'), Type.Literal('compact'), Type.Literal('virtual')]),
    chunks: Type.Union([Type.Array(Type.Integer()), Type.Null()], {
      description: 'Chunk shape; null when not chunked (or, while pending, when HDF5 will choose).',
    }),
    compression: Type.Union([Type.Literal('gzip'), Type.Null()]),
    compressionLevel: Type.Union([Type.Integer(), Type.Null()]),
    shuffle: Type.Boolean(),
    fillValue: Type.Unknown({
      description:
        'The fill value in the JSON form of the dtype, or null when none was set (unwritten elements are then undefined). As values are: a 64-bit integer outside ±(2^53−1) is a decimal string, a non-finite float "NaN", "Infinity" or "-Infinity".',
    }),
    state: Type.Union([Type.Literal('ready'), Type.Literal('pending')], {
      description: "'pending': accepted, but the job creating it has not run yet (values cannot be read until it has; writes are accepted).",
    }),
  },
  {
    $id: 'DatasetInfo',
    examples: [
      {
        path: '/test',
        dtype: 'int32',
        shape: [42],
        maxshape: [42],
        layout: 'contiguous',
        chunks: null,
        compression: null,
        compressionLevel: null,
        shuffle: false,
        fillValue: null,
        state: 'ready',
      },
    ],
  },
);

export const ValueQuery = Type.Object(
  {
    select: Type.Optional(
      Type.String({
        maxLength: 4096,
        description: 'HSDS selection, one start:stop:step per dimension (stop exclusive), or an index. Default: the whole dataset.',
        examples: ['[0:42]', '[10:20,0:5:2]'],
      }),
    ),
    points: Type.Optional(
      Type.String({
        maxLength: 8192,
        description:
          'A point selection instead of ?select=: a JSON list of coordinates, one list per element (a 1-D dataset also takes plain indices). Reads answer the points’ values 1-D in the order of the list; ' +
          'writes take them in that order (each point at most once). For long lists: POST …/value/points (reads) or a JSON write body {points, value}.',
        examples: ['[[1,2],[3,4]]'],
      }),
    ),
    dtype: Type.Optional(
      Type.String({
        maxLength: 4096,
        description:
          'The dtype of the bytes, as text: the other byte order of the dataset’s dtype (same layout; a name such as >i4 or >c8, or a compound/enum as JSON). Writes with a raw binary body: the dtype of the bytes sent (HDF5 converts); ' +
          'for a variable-length string dataset the width of the fixed slots sent, S<n> (each value null-padded to n bytes). ' +
          'Reads answered as raw bytes or .npy: the dtype to answer in (bytes reversed per element, per field of a compound). Refused with JSON bodies and answers.',
        examples: ['>i4', 'S16'],
      }),
    ),
  },
  { additionalProperties: false },
);

export const ValueJson = Type.Object(
  {
    dtype: DtypeRef('The dataset’s dtype, in canonical form.'),
    shape: Type.Array(Type.Integer(), { description: 'Shape of the selection.', examples: [[4]] }),
    data: Type.Unknown({
      description:
        'Values as nested arrays in C order. Non-finite floats are the strings "NaN", "Infinity", "-Infinity"; 64-bit integers outside ±(2^53−1) (beyond ±9007199254740991, JavaScript’s Number.MAX_SAFE_INTEGER) are decimal strings; all others are JSON numbers. ' +
        'Complex values are [re, im]; enum values their member names; compound values objects {field: value}; strings JSON strings.',
    }),
  },
  { examples: [{ dtype: 'int32', shape: [4], data: [0, 1, 2, 3] }] },
);

export const ResizeBody = Type.Object(
  { shape: Type.Array(Dim0, { maxItems: MAX_RANK, description: 'The new extent of each dimension, within maxshape.', examples: [[84]] }) },
  { additionalProperties: false, examples: [{ shape: [84] }] },
);
