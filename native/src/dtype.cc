#include "dtype.h"

#include <cstring>

namespace ph5 {

Dtype ToDtype(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject()) ThrowArgument(env, "dtype must be an object {kind, size, order}");
  Napi::Object o = v.As<Napi::Object>();
  Dtype d;
  d.kind = ToString(env, o.Get("kind"), "dtype.kind");
  Napi::Value size = o.Get("size");
  if (!size.IsNumber()) ThrowArgument(env, "dtype.size must be a number");
  double s = size.As<Napi::Number>().DoubleValue();
  if (!(s >= 1 && s <= 65536) || s != static_cast<double>(static_cast<size_t>(s))) ThrowArgument(env, "dtype.size is out of range");
  d.size = static_cast<size_t>(s);
  Napi::Value order = o.Get("order");
  d.bigEndian = order.IsString() && order.As<Napi::String>().Utf8Value() == "be";
  bool ok = false;
  if (d.kind == "int" || d.kind == "uint") ok = d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8;
  else if (d.kind == "float") ok = d.size == 2 || d.size == 4 || d.size == 8;
  else if (d.kind == "bool") ok = d.size == 1;
  else if (d.kind == "bytes") ok = true;
  if (!ok) ThrowArgument(env, "unsupported dtype " + d.kind + std::to_string(d.size));
  return d;
}

Napi::Object FromDtype(Napi::Env env, const Dtype& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", d.kind);
  o.Set("size", static_cast<double>(d.size));
  o.Set("order", d.bigEndian && d.size > 1 && d.kind != "bytes" && d.kind != "bool" ? "be" : "le");
  return o;
}

Hid MakeType(const Dtype& d) {
  if (d.kind == "bool") {
    Hid t(Check(H5Tenum_create(H5T_NATIVE_INT8), "creating the bool enum type"));
    int8_t f = 0, tr = 1;
    CheckErr(H5Tenum_insert(t, "FALSE", &f), "inserting FALSE");
    CheckErr(H5Tenum_insert(t, "TRUE", &tr), "inserting TRUE");
    return t;
  }
  if (d.kind == "bytes") {
    Hid t(Check(H5Tcopy(H5T_C_S1), "copying H5T_C_S1"));
    CheckErr(H5Tset_size(t, d.size), "setting the string size");
    CheckErr(H5Tset_strpad(t, H5T_STR_NULLPAD), "setting the string padding");
    CheckErr(H5Tset_cset(t, H5T_CSET_ASCII), "setting the string character set");
    return t;
  }
  hid_t base = -1;
  if (d.kind == "int") {
    base = d.size == 1 ? H5T_STD_I8LE : d.size == 2 ? H5T_STD_I16LE : d.size == 4 ? H5T_STD_I32LE : H5T_STD_I64LE;
  } else if (d.kind == "uint") {
    base = d.size == 1 ? H5T_STD_U8LE : d.size == 2 ? H5T_STD_U16LE : d.size == 4 ? H5T_STD_U32LE : H5T_STD_U64LE;
  } else if (d.kind == "float") {
    base = d.size == 8 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE;
  } else {
    Fail("PH5_ERR_TYPE", "unsupported dtype kind " + d.kind);
  }
  Hid t(Check(H5Tcopy(base), "copying a predefined type"));
  if (d.kind == "float" && d.size == 2) {
    // IEEE 754 half precision, built the way h5py builds numpy's float16.
    CheckErr(H5Tset_fields(t, 15, 10, 5, 0, 10), "setting float16 fields");
    CheckErr(H5Tset_size(t, 2), "setting float16 size");
    CheckErr(H5Tset_ebias(t, 15), "setting float16 exponent bias");
  }
  if (d.size > 1) CheckErr(H5Tset_order(t, d.bigEndian ? H5T_ORDER_BE : H5T_ORDER_LE), "setting the byte order");
  return t;
}

Dtype DescribeType(hid_t type) {
  Dtype d;
  H5T_class_t cls = H5Tget_class(type);
  d.size = H5Tget_size(type);
  switch (cls) {
    case H5T_INTEGER:
      d.kind = H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int";
      d.bigEndian = H5Tget_order(type) == H5T_ORDER_BE;
      return d;
    case H5T_FLOAT:
      if (d.size != 2 && d.size != 4 && d.size != 8) break;
      d.kind = "float";
      d.bigEndian = H5Tget_order(type) == H5T_ORDER_BE;
      return d;
    case H5T_ENUM: {
      // h5py's bool: an enum over a 1-byte integer with members FALSE=0 and TRUE=1.
      if (d.size != 1 || H5Tget_nmembers(type) != 2) break;
      Hid super(H5Tget_super(type));
      bool names = true;
      for (unsigned i = 0; i < 2; i++) {
        char* name = H5Tget_member_name(type, i);
        int8_t value = -1;
        H5Tget_member_value(type, i, &value);
        const char* expected = i == 0 ? "FALSE" : "TRUE";
        if (!name || std::strcmp(name, expected) != 0 || value != static_cast<int8_t>(i)) names = false;
        if (name) H5free_memory(name);
      }
      if (!names) break;
      d.kind = "bool";
      return d;
    }
    case H5T_STRING:
      if (H5Tis_variable_str(type) > 0) break;
      d.kind = "bytes";
      return d;
    default:
      break;
  }
  Fail("PH5_ERR_TYPE", "the dataset's HDF5 type has no ph5 dtype (class " + std::to_string(static_cast<int>(cls)) + ", size " +
                           std::to_string(d.size) + ")");
}

}  // namespace ph5
