/**
 * The `dtype` of request and response bodies, as JSON Schema components a generated client
 * can see: `Dtype` is a numpy-style string, an enum object, a compound object, or numpy's
 * list form of a structured dtype (input only). Compound fields hold a `Dtype` again, so
 * the components refer to each other by name (registered with app.addSchema, shown under
 * components.schemas). The schemas check the shape; shared/dtype.ts parseDtypeSpec decides
 * what is valid (sizes, names, offsets) and answers PH5_ERR_DTYPE.
 */
import { Type } from 'typebox';

const DTYPE_STRING_DESCRIPTION =
  'numpy-style name: int8…int64, uint8…uint64, float16/32/64, bool, S<n> (fixed-length bytes), complex64/complex128, ' +
  'str (variable-length UTF-8 string), str:ascii, or codes like <i4, >f8, >c8. Canonical answers: int32 (little-endian), >i4 (big-endian), complex64, S16, str.';

export const EnumDtype = Type.Object(
  {
    enum: Type.Record(Type.String({ minLength: 1 }), Type.Integer(), {
      description: 'Member name → integer value.',
      examples: [{ RED: 0, GREEN: 1, BLUE: 2 }],
    }),
    base: Type.Optional(
      Type.String({
        maxLength: 16,
        description: 'The integer type under the enum (default uint8, as h5py.enum_dtype); answers always say it.',
        examples: ['uint8'],
      }),
    ),
  },
  {
    $id: 'EnumDtype',
    additionalProperties: false,
    description: 'An HDF5 enum (h5py.enum_dtype): JSON values are member names (writes also take the integer).',
    examples: [{ enum: { RED: 0, GREEN: 1, BLUE: 2 }, base: 'uint8' }],
  },
);

export const CompoundField = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 255, examples: ['x'] }),
    dtype: Type.Ref('Dtype'),
    shape: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 32, description: 'An array field (numpy subarray), e.g. [3].', examples: [[3]] }),
    ),
    offset: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Byte offset in the record (default: packed in order); answers always say it.', examples: [0] }),
    ),
  },
  { additionalProperties: false },
);

export const CompoundDtype = Type.Object(
  {
    fields: Type.Array(CompoundField, { minItems: 1, maxItems: 1024 }),
    itemsize: Type.Optional(Type.Integer({ minimum: 1, description: 'Bytes per record (default: packed); answers always say it.', examples: [20] })),
  },
  {
    $id: 'CompoundDtype',
    additionalProperties: false,
    description: 'An HDF5 compound (numpy structured dtype): JSON values are objects {field: value} (writes also take arrays in field order).',
    examples: [
      {
        fields: [
          { name: 'x', dtype: 'float64', offset: 0 },
          { name: 'v', dtype: 'float32', shape: [3], offset: 8 },
        ],
        itemsize: 20,
      },
    ],
  },
);

/**
 * numpy's list form of a structured dtype: [["x", "<f8"], ["v", "<f4", [3]]] (input only).
 * Its items are left untyped here: each is a tuple (name, dtype, shape?), which JSON Schema
 * spells differently in the API's validator (draft-07 `items: [...]`) and in OpenAPI 3.1
 * (`prefixItems`); parseDtypeSpec checks them and names the bad one (PH5_ERR_DTYPE).
 */
const NumpyListDtype = Type.Array(Type.Unknown({ description: '[name, dtype] or [name, dtype, shape]' }), {
  minItems: 1,
  maxItems: 1024,
  description: "numpy's list form of a structured dtype, [[name, dtype], [name, dtype, shape]] (input only; answers use the object form).",
  examples: [
    [
      ['x', '<f8'],
      ['v', '<f4', [3]],
    ],
  ],
});

// oneOf: the branches exclude each other by JSON type (string, object with `enum`, object
// with `fields`, array). Bodies are validated without type coercion (validation.ts); with
// coercion, a oneOf would rewrite the value while trying the branches.
export const Dtype = Type.Unsafe<string | object | unknown[]>({
  $id: 'Dtype',
  oneOf: [
    Type.String({ minLength: 1, maxLength: 32, description: DTYPE_STRING_DESCRIPTION, examples: ['int32'] }),
    Type.Ref('EnumDtype'),
    Type.Ref('CompoundDtype'),
    NumpyListDtype,
  ],
  description: 'A dtype: a numpy-style string, an enum, a compound (docs/api.md, Types).',
  examples: ['float64', { enum: { OFF: 0, ON: 1 }, base: 'uint8' }],
});

/** The dtype of a body or answer, by reference to the `Dtype` component. */
export const DtypeRef = (description?: string) => Type.Ref('Dtype', description ? { description } : {});

/** Components to register with app.addSchema (before the routes). */
export const DTYPE_SCHEMAS = [Dtype, EnumDtype, CompoundDtype];
