// numpy-style dtypes ({kind, size, order}) <-> HDF5 datatypes, the way h5py stores them.
#pragma once
#include "common.h"

namespace ph5 {

enum class Kind { Int, Uint, Float, Bool, Bytes };

struct Dtype {
  Kind kind = Kind::Int;
  size_t size = 0;
  bool bigEndian = false;  // always false for 1-byte types, bool and bytes
  std::string Name() const;
};

// Reads and validates a JS NativeDtype; throws PH5_ERR_ARGUMENT.
Dtype ToDtype(Napi::Env env, const Napi::Value& v, const std::string& what);
Napi::Object FromDtype(Napi::Env env, const Dtype& d);

// A new HDF5 type for `d`:
//   int/uint 1..8 bytes -> H5T_STD_I8LE .. H5T_STD_U64BE; float 4/8 -> H5T_IEEE_F32LE ..;
//   float 2 -> IEEE half built like h5py's float16; bool -> h5py's enum of int8 FALSE=0,
//   TRUE=1; bytes n -> fixed-length n-byte null-padded ASCII string.
Hid MakeType(const Dtype& d);
// The dtype of an HDF5 type; PH5_ERR_TYPE when it has none (compound, vlen, ...).
Dtype DescribeType(hid_t type);

}  // namespace ph5
