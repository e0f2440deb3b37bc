// numpy-style dtypes (as {kind, size, order}) <-> HDF5 datatypes, the h5py way.
#pragma once
#include "common.h"

namespace ph5 {

struct Dtype {
  std::string kind;  // int | uint | float | bool | bytes
  size_t size = 0;
  bool bigEndian = false;
};

Dtype ToDtype(Napi::Env env, const Napi::Value& v);
Napi::Object FromDtype(Napi::Env env, const Dtype& d);

// A new HDF5 type for `d` (the caller owns it). bool is h5py's enum of int8 FALSE/TRUE,
// bytes are fixed-length, null-padded ASCII strings, float16 is IEEE half like h5py's.
Hid MakeType(const Dtype& d);
// The dtype of an HDF5 type, or PH5_ERR_TYPE when ph5 has no name for it.
Dtype DescribeType(hid_t type);

}  // namespace ph5
