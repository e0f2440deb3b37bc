#include "dtype.h"

#include <cstring>

namespace ph5 {

std::string Dtype::Name() const {
  switch (kind) {
    case Kind::Bool: return "bool";
    case Kind::Bytes: return "S" + std::to_string(size);
    default: break;
  }
  std::string k = kind == Kind::Int ? "int" : kind == Kind::Uint ? "uint" : "float";
  return (bigEndian ? ">" : "") + k + std::to_string(size * 8);
}

Dtype ToDtype(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsObject()) ThrowArgument(env, what + " must be an object {kind, size, order}");
  Napi::Object o = v.As<Napi::Object>();
  std::string kind = ToString(env, o.Get("kind"), what + ".kind");
  Napi::Value sizeValue = o.Get("size");
  if (!sizeValue.IsNumber()) ThrowArgument(env, what + ".size must be a number");
  double s = sizeValue.As<Napi::Number>().DoubleValue();
  if (!(s >= 1 && s <= 1e9) || s != static_cast<double>(static_cast<size_t>(s)))
    ThrowArgument(env, what + ".size must be a positive integer");
  Napi::Value orderValue = o.Get("order");
  std::string order = orderValue.IsUndefined() ? "le" : ToString(env, orderValue, what + ".order");
  if (order != "le" && order != "be") ThrowArgument(env, what + ".order must be 'le' or 'be'");

  Dtype d;
  d.size = static_cast<size_t>(s);
  bool ok;
  if (kind == "int" || kind == "uint") {
    d.kind = kind == "int" ? Kind::Int : Kind::Uint;
    ok = d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8;
  } else if (kind == "float") {
    d.kind = Kind::Float;
    ok = d.size == 2 || d.size == 4 || d.size == 8;
  } else if (kind == "bool") {
    d.kind = Kind::Bool;
    ok = d.size == 1;
  } else if (kind == "bytes") {
    d.kind = Kind::Bytes;
    ok = true;
  } else {
    ThrowArgument(env, what + ".kind must be one of int, uint, float, bool, bytes");
  }
  if (!ok) ThrowArgument(env, what + ": " + kind + " of " + std::to_string(d.size) + " bytes is not supported");
  // Byte order means nothing for single bytes and strings: normalise so types compare equal.
  d.bigEndian = order == "be" && d.size > 1 && (d.kind == Kind::Int || d.kind == Kind::Uint || d.kind == Kind::Float);
  return d;
}

Napi::Object FromDtype(Napi::Env env, const Dtype& d) {
  Napi::Object o = Napi::Object::New(env);
  const char* kind = d.kind == Kind::Int ? "int" : d.kind == Kind::Uint ? "uint" : d.kind == Kind::Float ? "float" : d.kind == Kind::Bool ? "bool" : "bytes";
  o.Set("kind", kind);
  o.Set("size", static_cast<double>(d.size));
  o.Set("order", d.bigEndian ? "be" : "le");
  return o;
}

namespace {
hid_t IntegerBase(const Dtype& d) {
  bool s = d.kind == Kind::Int, be = d.bigEndian;
  switch (d.size) {
    case 1: return s ? H5T_STD_I8LE : H5T_STD_U8LE;
    case 2: return s ? (be ? H5T_STD_I16BE : H5T_STD_I16LE) : (be ? H5T_STD_U16BE : H5T_STD_U16LE);
    case 4: return s ? (be ? H5T_STD_I32BE : H5T_STD_I32LE) : (be ? H5T_STD_U32BE : H5T_STD_U32LE);
    default: return s ? (be ? H5T_STD_I64BE : H5T_STD_I64LE) : (be ? H5T_STD_U64BE : H5T_STD_U64LE);
  }
}

struct FloatFields {
  size_t spos, epos, esize, mpos, msize, ebias;
};
constexpr FloatFields kHalf{15, 10, 5, 0, 10, 15};
constexpr FloatFields kSingle{31, 23, 8, 0, 23, 127};
constexpr FloatFields kDouble{63, 52, 11, 0, 52, 1023};

bool HasFields(hid_t type, const FloatFields& f) {
  size_t spos, epos, esize, mpos, msize;
  if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0) return false;
  return spos == f.spos && epos == f.epos && esize == f.esize && mpos == f.mpos && msize == f.msize &&
         H5Tget_ebias(type) == f.ebias;
}
}  // namespace

Hid MakeType(const Dtype& d) {
  switch (d.kind) {
    case Kind::Bool: {
      // Exactly what h5py writes for numpy's bool.
      Hid t(Check(H5Tenum_create(H5T_NATIVE_INT8), "creating the bool enum type"));
      int8_t no = 0, yes = 1;
      CheckErr(H5Tenum_insert(t, "FALSE", &no), "inserting FALSE into the bool enum");
      CheckErr(H5Tenum_insert(t, "TRUE", &yes), "inserting TRUE into the bool enum");
      return t;
    }
    case Kind::Bytes: {
      Hid t(Check(H5Tcopy(H5T_C_S1), "copying H5T_C_S1"));
      CheckErr(H5Tset_size(t, d.size), "setting the string size");
      CheckErr(H5Tset_strpad(t, H5T_STR_NULLPAD), "setting the string padding");
      CheckErr(H5Tset_cset(t, H5T_CSET_ASCII), "setting the string character set");
      return t;
    }
    case Kind::Float: {
      if (d.size == 2) {
        // IEEE 754 half precision, built the way h5py builds numpy's float16: a copy of
        // the 32-bit type with half's fields, size and exponent bias.
        Hid t(Check(H5Tcopy(d.bigEndian ? H5T_IEEE_F32BE : H5T_IEEE_F32LE), "copying H5T_IEEE_F32"));
        CheckErr(H5Tset_fields(t, kHalf.spos, kHalf.epos, kHalf.esize, kHalf.mpos, kHalf.msize), "setting float16 fields");
        CheckErr(H5Tset_size(t, 2), "setting float16 size");
        CheckErr(H5Tset_ebias(t, kHalf.ebias), "setting float16 exponent bias");
        return t;
      }
      hid_t base = d.size == 4 ? (d.bigEndian ? H5T_IEEE_F32BE : H5T_IEEE_F32LE) : (d.bigEndian ? H5T_IEEE_F64BE : H5T_IEEE_F64LE);
      return Hid(Check(H5Tcopy(base), "copying a float type"));
    }
    default:
      return Hid(Check(H5Tcopy(IntegerBase(d)), "copying an integer type"));
  }
}

Dtype DescribeType(hid_t type) {
  Dtype d;
  H5T_class_t cls = H5Tget_class(type);
  d.size = H5Tget_size(type);
  std::string why;
  switch (cls) {
    case H5T_INTEGER:
      if (d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8) {
        d.kind = H5Tget_sign(type) == H5T_SGN_NONE ? Kind::Uint : Kind::Int;
        d.bigEndian = d.size > 1 && H5Tget_order(type) == H5T_ORDER_BE;
        return d;
      }
      why = "integer of " + std::to_string(d.size) + " bytes";
      break;
    case H5T_FLOAT:
      if ((d.size == 2 && HasFields(type, kHalf)) || (d.size == 4 && HasFields(type, kSingle)) ||
          (d.size == 8 && HasFields(type, kDouble))) {
        d.kind = Kind::Float;
        d.bigEndian = H5Tget_order(type) == H5T_ORDER_BE;
        return d;
      }
      why = "non-IEEE float of " + std::to_string(d.size) + " bytes";
      break;
    case H5T_ENUM: {
      // h5py's bool: an enum over a 1-byte integer with members FALSE=0 and TRUE=1.
      why = "enum";
      if (d.size != 1 || H5Tget_nmembers(type) != 2) break;
      bool isBool = true;
      for (unsigned i = 0; i < 2; i++) {
        char* name = H5Tget_member_name(type, i);
        int8_t value = -1;
        if (H5Tget_member_value(type, i, &value) < 0) isBool = false;
        const char* expected = value == 0 ? "FALSE" : "TRUE";
        if (!name || std::strcmp(name, expected) != 0 || (value != 0 && value != 1)) isBool = false;
        if (name) H5free_memory(name);
      }
      if (!isBool) break;
      d.kind = Kind::Bool;
      return d;
    }
    case H5T_STRING:
      if (H5Tis_variable_str(type) > 0) {
        why = "variable-length string";
        break;
      }
      d.kind = Kind::Bytes;
      return d;
    case H5T_COMPOUND: why = "compound"; break;
    case H5T_VLEN: why = "variable-length sequence"; break;
    case H5T_ARRAY: why = "array"; break;
    case H5T_OPAQUE: why = "opaque"; break;
    case H5T_REFERENCE: why = "reference"; break;
    case H5T_BITFIELD: why = "bitfield"; break;
    case H5T_TIME: why = "time"; break;
    default:
      H5Eclear2(H5E_DEFAULT);
      why = "unknown class";
      break;
  }
  Fail(code::kType, "the HDF5 type (" + why + ") has no ph5 dtype");
}

}  // namespace ph5
