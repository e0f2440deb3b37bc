// numpy-style dtypes (the NativeDtype model of lib/index.ts) <-> HDF5 datatypes, the way
// h5py stores them.
#pragma once
#include <memory>

#include "common.h"

namespace ph5 {

enum class Kind { Int, Uint, Float, Bool, Bytes, Complex, String, Enum, Compound, Array };

struct Field;
struct EnumMember {
  std::string name;
  int64_t value;  // fits the base (checked); |value| < 2^53
};

struct Dtype {
  Kind kind = Kind::Int;
  size_t size = 0;         // bytes per element; 0 for a variable-length string
  bool bigEndian = false;  // int, uint, float, complex, enum only; false for 1-byte types
  bool utf8 = true;        // String: the character set
  // Bytes: the character set HDF5 records (not part of the JS model: ph5 makes ASCII, h5py's
  // string_dtype('utf-8', n) is UTF-8). HDF5 1.10 converts no fixed string between the two,
  // so a memory type must carry the dataset's.
  bool bytesUtf8 = false;
  bool enumSigned = false;          // Enum: base 'int' or 'uint'
  std::vector<EnumMember> members;  // Enum, in order
  std::vector<Field> fields;        // Compound, in the order given / stored
  std::vector<Dtype> base;          // Array: exactly one element type
  std::vector<hsize_t> shape;       // Array: the subarray's shape (C order)

  std::string Name() const;
  bool VariableLength() const { return kind == Kind::String; }
};

struct Field {
  std::string name;
  size_t offset = 0;
  Dtype dtype;
};

// Limits of what ph5 accepts and describes (numpy's own limits are larger; these keep a
// hostile request from building huge HDF5 types).
constexpr int kMaxNesting = 8;            // compound/array levels
constexpr size_t kMaxFields = 1024;       // fields of one compound
constexpr size_t kMaxEnumMembers = 4096;  // members of one enum
constexpr size_t kMaxArrayRank = 32;      // H5S_MAX_RANK

// Reads and validates a JS NativeDtype (a dataset's, attribute's or memory dtype: arrays
// exist only as compound fields); throws PH5_ERR_ARGUMENT (PH5_ERR_TYPE for a compound
// holding a variable-length string) on the JS thread.
Dtype ToDtype(Napi::Env env, const Napi::Value& v, const std::string& what);
Napi::Object FromDtype(Napi::Env env, const Dtype& d);

// A new HDF5 type for `d`:
//   int/uint 1..8 bytes -> H5T_STD_I8LE .. H5T_STD_U64BE; float 4/8 -> H5T_IEEE_F32LE ..;
//   float 2 -> IEEE half built like h5py's float16; bool -> h5py's enum of int8 FALSE=0,
//   TRUE=1; bytes n -> fixed-length n-byte null-padded ASCII string; complex -> h5py's
//   compound {r, i} of two IEEE floats; string -> variable-length C string (utf-8/ascii);
//   enum -> H5Tenum_create over the integer base; compound -> H5Tinsert at the offsets;
//   array -> H5Tarray_create2.
Hid MakeType(const Dtype& d);
// The dtype of an HDF5 type; PH5_ERR_TYPE with the reason when it has none (references,
// opaque, vlen sequences, bitfields, time, compounds holding vlen strings, ...).
Dtype DescribeType(hid_t type);

// Why `mem` data cannot be written into a dataset of `file` ("" when it can): numbers into
// numbers (HDF5 converts), bool/bytes/complex into the same kind, enum or same-size
// same-sign integers into an enum, compounds with the same field names (compatible field by
// field), arrays of the same shape, fixed bytes slots into a variable-length string.
std::string WriteMismatch(const Dtype& mem, const Dtype& file);
// The HDF5 memory type for writing `mem` data into `file` (WriteMismatch was ""): mostly
// MakeType(mem); enums (also as compound fields) use the dataset's members, a string
// dataset a variable-length string of its character set (the data then is char*).
Hid MemoryType(const Dtype& mem, const Dtype& file);

}  // namespace ph5
