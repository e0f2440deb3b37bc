#include "dtype.h"
#include "h5_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

namespace ph5 {

namespace {

constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1: JS numbers hold integers exactly up to here

std::string IntegerName(bool isSigned, size_t size, bool be) {
  return (be ? ">" : "") + std::string(isSigned ? "int" : "uint") + std::to_string(size * 8);
}

std::string ShapeText(const std::vector<hsize_t>& s) {
  std::string t = "(";
  for (size_t i = 0; i < s.size(); i++) t += (i ? "," : "") + std::to_string(s[i]);
  return t + ")";
}

[[noreturn]] void ThrowType(Napi::Env env, const std::string& message) { throw MakeError(env, Failure{code::kType, message, ""}); }

size_t ToSize(Napi::Env env, const Napi::Value& v, const std::string& what, double min) {
  if (!v.IsNumber()) ThrowArgument(env, what + " must be a number");
  double s = v.As<Napi::Number>().DoubleValue();
  if (!(s >= min && s <= 1e9) || s != std::floor(s))
    ThrowArgument(env, what + " must be an integer from " + std::to_string(static_cast<int>(min)) + " to 1e9");
  return static_cast<size_t>(s);
}

bool Fits(int64_t v, bool isSigned, size_t size) {
  if (size >= 8) return isSigned || v >= 0;  // |v| < 2^53 is checked before
  int bits = static_cast<int>(size * 8);
  if (isSigned) return v >= -(int64_t{1} << (bits - 1)) && v < (int64_t{1} << (bits - 1));
  return v >= 0 && v < (int64_t{1} << bits);
}

Dtype Parse(Napi::Env env, const Napi::Value& v, const std::string& what, int depth, bool asField) {
  if (!v.IsObject() || v.IsArray()) ThrowArgument(env, what + " must be an object {kind, size, order, ...}");
  if (depth > kMaxNesting) ThrowArgument(env, what + ": compounds and arrays nest at most " + std::to_string(kMaxNesting) + " levels deep");
  Napi::Object o = v.As<Napi::Object>();
  std::string kind = ToString(env, o.Get("kind"), what + ".kind");
  Napi::Value orderValue = o.Get("order");
  std::string order = orderValue.IsUndefined() ? "le" : ToString(env, orderValue, what + ".order");
  if (order != "le" && order != "be") ThrowArgument(env, what + ".order must be 'le' or 'be'");

  Dtype d;
  if (kind == "string") {
    d.kind = Kind::String;
    Napi::Value size = o.Get("size");
    if (!size.IsUndefined() && !(size.IsNumber() && size.As<Napi::Number>().DoubleValue() == 0))
      ThrowArgument(env, what + ".size must be 0 for a variable-length string");
    Napi::Value cs = o.Get("charset");
    std::string charset = cs.IsUndefined() || cs.IsNull() ? "utf-8" : ToString(env, cs, what + ".charset");
    if (charset != "utf-8" && charset != "ascii") ThrowArgument(env, what + ".charset must be 'utf-8' or 'ascii'");
    d.utf8 = charset == "utf-8";
    if (asField) ThrowType(env, what + ": compounds holding variable-length strings are not supported (use a fixed-length bytes field)");
    return d;
  }
  d.size = ToSize(env, o.Get("size"), what + ".size", 1);
  bool ok = true;
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
  } else if (kind == "complex") {
    d.kind = Kind::Complex;
    ok = d.size == 8 || d.size == 16;
  } else if (kind == "enum") {
    d.kind = Kind::Enum;
    ok = d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8;
    if (!ok) ThrowArgument(env, what + ": an enum's base integer has 1, 2, 4 or 8 bytes");
    std::string base = ToString(env, o.Get("base"), what + ".base");
    if (base != "int" && base != "uint") ThrowArgument(env, what + ".base must be 'int' or 'uint'");
    d.enumSigned = base == "int";
    Napi::Value members = o.Get("members");
    if (!members.IsArray()) ThrowArgument(env, what + ".members must be an array of {name, value}");
    Napi::Array a = members.As<Napi::Array>();
    if (a.Length() == 0 || a.Length() > kMaxEnumMembers)
      ThrowArgument(env, what + ".members must have 1 to " + std::to_string(kMaxEnumMembers) + " members");
    std::set<std::string> names;
    std::set<int64_t> values;
    for (uint32_t i = 0; i < a.Length(); i++) {
      std::string w = what + ".members[" + std::to_string(i) + "]";
      Napi::Value m = a.Get(i);
      if (!m.IsObject()) ThrowArgument(env, w + " must be {name, value}");
      Napi::Object mo = m.As<Napi::Object>();
      EnumMember em;
      em.name = ToString(env, mo.Get("name"), w + ".name");
      if (em.name.empty() || em.name.find('\0') != std::string::npos)
        ThrowArgument(env, w + ".name must be a non-empty string without NUL");
      Napi::Value value = mo.Get("value");
      if (!value.IsNumber()) ThrowArgument(env, w + ".value must be an integer");
      double x = value.As<Napi::Number>().DoubleValue();
      if (!(std::fabs(x) <= kMaxSafe) || x != std::floor(x)) ThrowArgument(env, w + ".value must be an integer within ±(2^53-1)");
      em.value = static_cast<int64_t>(x);
      if (!Fits(em.value, d.enumSigned, d.size))
        ThrowArgument(env, w + ".value " + std::to_string(em.value) + " does not fit the base " + IntegerName(d.enumSigned, d.size, false));
      if (!names.insert(em.name).second) ThrowArgument(env, what + ": the member name '" + em.name + "' appears twice");
      if (!values.insert(em.value).second) ThrowArgument(env, what + ": the member value " + std::to_string(em.value) + " appears twice");
      d.members.push_back(std::move(em));
    }
  } else if (kind == "compound") {
    d.kind = Kind::Compound;
    Napi::Value fields = o.Get("fields");
    if (!fields.IsArray()) ThrowArgument(env, what + ".fields must be an array of {name, offset, dtype}");
    Napi::Array a = fields.As<Napi::Array>();
    if (a.Length() == 0 || a.Length() > kMaxFields)
      ThrowArgument(env, what + ".fields must have 1 to " + std::to_string(kMaxFields) + " fields");
    std::set<std::string> names;
    for (uint32_t i = 0; i < a.Length(); i++) {
      std::string w = what + ".fields[" + std::to_string(i) + "]";
      Napi::Value fv = a.Get(i);
      if (!fv.IsObject() || fv.IsArray()) ThrowArgument(env, w + " must be {name, offset, dtype}");
      Napi::Object fo = fv.As<Napi::Object>();
      Field f;
      f.name = ToString(env, fo.Get("name"), w + ".name");
      if (f.name.empty() || f.name.find('\0') != std::string::npos) ThrowArgument(env, w + ".name must be a non-empty string without NUL");
      if (!names.insert(f.name).second) ThrowArgument(env, what + ": the field name '" + f.name + "' appears twice");
      f.offset = ToSize(env, fo.Get("offset"), w + ".offset", 0);
      f.dtype = Parse(env, fo.Get("dtype"), w + ".dtype", depth + 1, true);
      if (f.offset + f.dtype.size > d.size)
        ThrowArgument(env, w + " ('" + f.name + "', " + std::to_string(f.dtype.size) + " bytes at offset " + std::to_string(f.offset) +
                               ") reaches past the itemsize " + std::to_string(d.size));
      d.fields.push_back(std::move(f));
    }
    std::vector<const Field*> sorted;
    for (const Field& f : d.fields) sorted.push_back(&f);
    std::sort(sorted.begin(), sorted.end(), [](const Field* x, const Field* y) { return x->offset < y->offset; });
    for (size_t i = 1; i < sorted.size(); i++)
      if (sorted[i - 1]->offset + sorted[i - 1]->dtype.size > sorted[i]->offset)
        ThrowArgument(env, what + ": the fields '" + sorted[i - 1]->name + "' and '" + sorted[i]->name + "' overlap");
  } else if (kind == "array") {
    d.kind = Kind::Array;
    if (!asField) ThrowArgument(env, what + ": an array dtype exists only as a compound field's dtype");
    d.shape = ToDims(env, o.Get("shape"), what + ".shape", false);
    if (d.shape.empty() || d.shape.size() > kMaxArrayRank)
      ThrowArgument(env, what + ".shape must have 1 to " + std::to_string(kMaxArrayRank) + " dimensions");
    double elements = 1;
    for (hsize_t n : d.shape) {
      if (n == 0) ThrowArgument(env, what + ".shape dimensions must be at least 1");
      elements *= static_cast<double>(n);
    }
    Dtype base = Parse(env, o.Get("base"), what + ".base", depth + 1, true);
    if (base.kind == Kind::Array) ThrowArgument(env, what + ".base must not be an array (give the whole shape instead)");
    if (elements * static_cast<double>(base.size) != static_cast<double>(d.size))
      ThrowArgument(env, what + ".size must be the base's size times the shape's elements (" +
                             std::to_string(static_cast<uint64_t>(elements * static_cast<double>(base.size))) + ")");
    d.base.push_back(std::move(base));
  } else {
    ThrowArgument(env, what + ".kind must be one of int, uint, float, bool, bytes, complex, string, enum, compound, array");
  }
  if (!ok) ThrowArgument(env, what + ": " + kind + " of " + std::to_string(d.size) + " bytes is not supported");
  // Byte order means nothing for single bytes, strings and containers: normalise so types compare equal.
  bool ordered = d.kind == Kind::Int || d.kind == Kind::Uint || d.kind == Kind::Float || d.kind == Kind::Complex || d.kind == Kind::Enum;
  d.bigEndian = order == "be" && d.size > 1 && ordered;
  return d;
}

}  // namespace

std::string Dtype::Name() const {
  switch (kind) {
    case Kind::Bool: return "bool";
    case Kind::Bytes: return "S" + std::to_string(size);
    case Kind::Complex: return (bigEndian ? ">" : "") + std::string("complex") + std::to_string(size * 8);
    case Kind::String: return utf8 ? "str" : "str:ascii";
    case Kind::Enum: return "enum(" + IntegerName(enumSigned, size, bigEndian) + ")";
    case Kind::Compound: return "compound(" + std::to_string(fields.size()) + " fields, " + std::to_string(size) + " bytes)";
    case Kind::Array: return (base.empty() ? std::string("?") : base[0].Name()) + ShapeText(shape);
    default: break;
  }
  std::string k = kind == Kind::Int ? "int" : kind == Kind::Uint ? "uint" : "float";
  return (bigEndian ? ">" : "") + k + std::to_string(size * 8);
}

Dtype ToDtype(Napi::Env env, const Napi::Value& v, const std::string& what) { return Parse(env, v, what, 0, false); }

Napi::Object FromDtype(Napi::Env env, const Dtype& d) {
  Napi::Object o = Napi::Object::New(env);
  static const char* const kNames[] = {"int", "uint", "float", "bool", "bytes", "complex", "string", "enum", "compound", "array"};
  o.Set("kind", kNames[static_cast<int>(d.kind)]);
  o.Set("size", static_cast<double>(d.size));
  o.Set("order", d.bigEndian ? "be" : "le");
  switch (d.kind) {
    case Kind::String: o.Set("charset", d.utf8 ? "utf-8" : "ascii"); break;
    case Kind::Enum: {
      o.Set("base", d.enumSigned ? "int" : "uint");
      Napi::Array a = Napi::Array::New(env, d.members.size());
      for (size_t i = 0; i < d.members.size(); i++) {
        Napi::Object m = Napi::Object::New(env);
        m.Set("name", d.members[i].name);
        m.Set("value", static_cast<double>(d.members[i].value));
        a.Set(static_cast<uint32_t>(i), m);
      }
      o.Set("members", a);
      break;
    }
    case Kind::Compound: {
      Napi::Array a = Napi::Array::New(env, d.fields.size());
      for (size_t i = 0; i < d.fields.size(); i++) {
        Napi::Object f = Napi::Object::New(env);
        f.Set("name", d.fields[i].name);
        f.Set("offset", static_cast<double>(d.fields[i].offset));
        f.Set("dtype", FromDtype(env, d.fields[i].dtype));
        a.Set(static_cast<uint32_t>(i), f);
      }
      o.Set("fields", a);
      break;
    }
    case Kind::Array:
      o.Set("base", FromDtype(env, d.base.at(0)));
      o.Set("shape", ToArray(env, d.shape));
      break;
    default: break;
  }
  return o;
}

namespace {
hid_t IntegerBase(bool isSigned, size_t size, bool be) {
  bool s = isSigned;
  switch (size) {
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
  return spos == f.spos && epos == f.epos && esize == f.esize && mpos == f.mpos && msize == f.msize && H5Tget_ebias(type) == f.ebias;
}

Hid FloatType(size_t size, bool be) {
  if (size == 2) {
    // IEEE 754 half precision, built the way h5py builds numpy's float16: a copy of
    // the 32-bit type with half's fields, size and exponent bias.
    Hid t(Check(H5Tcopy(be ? H5T_IEEE_F32BE : H5T_IEEE_F32LE), "copying H5T_IEEE_F32"));
    CheckErr(H5Tset_fields(t, kHalf.spos, kHalf.epos, kHalf.esize, kHalf.mpos, kHalf.msize), "setting float16 fields");
    CheckErr(H5Tset_size(t, 2), "setting float16 size");
    CheckErr(H5Tset_ebias(t, kHalf.ebias), "setting float16 exponent bias");
    return t;
  }
  hid_t base = size == 4 ? (be ? H5T_IEEE_F32BE : H5T_IEEE_F32LE) : (be ? H5T_IEEE_F64BE : H5T_IEEE_F64LE);
  return Hid(Check(H5Tcopy(base), "copying a float type"));
}

// An enum member value as HDF5 stores it: the base integer's bytes in its byte order.
std::vector<uint8_t> EncodeValue(int64_t v, size_t size, bool be) {
  std::vector<uint8_t> b(size);
  uint64_t u = static_cast<uint64_t>(v);
  for (size_t i = 0; i < size; i++) b[be ? size - 1 - i : i] = static_cast<uint8_t>(u >> (8 * i));
  return b;
}

// The reverse; false when the value is not a JS-safe integer.
bool DecodeValue(const uint8_t* b, size_t size, bool be, bool isSigned, int64_t* out) {
  uint64_t u = 0;
  for (size_t i = 0; i < size; i++) u |= static_cast<uint64_t>(b[be ? size - 1 - i : i]) << (8 * i);
  if (isSigned && size < 8 && (u >> (size * 8 - 1)) & 1) u |= ~uint64_t{0} << (size * 8);  // sign-extend
  constexpr uint64_t kSafe = (uint64_t{1} << 53) - 1;
  if (isSigned) {
    int64_t s = static_cast<int64_t>(u);
    if (s > static_cast<int64_t>(kSafe) || s < -static_cast<int64_t>(kSafe)) return false;
    *out = s;
  } else {
    if (u > kSafe) return false;
    *out = static_cast<int64_t>(u);
  }
  return true;
}

std::string MemberName(hid_t type, unsigned i) {
  char* name = H5Tget_member_name(type, i);
  if (!name) FailHdf5(code::kHdf5, "reading member name " + std::to_string(i));
  std::string s(name);
  H5free_memory(name);
  return s;
}

[[noreturn]] void Refuse(const std::string& why) { Fail(code::kType, "the HDF5 type (" + why + ") has no ph5 dtype"); }

// h5py's complex: a compound of exactly r and i, the same IEEE float, at 0 and size/2.
bool IsComplex(hid_t type, size_t size, bool* bigEndian) {
  if ((size != 8 && size != 16) || H5Tget_nmembers(type) != 2) return false;
  if (MemberName(type, 0) != "r" || MemberName(type, 1) != "i") return false;
  if (H5Tget_member_offset(type, 0) != 0 || H5Tget_member_offset(type, 1) != size / 2) return false;
  Hid r(Check(H5Tget_member_type(type, 0), "reading member r")), i(Check(H5Tget_member_type(type, 1), "reading member i"));
  if (H5Tget_class(r) != H5T_FLOAT || H5Tequal(r, i) <= 0 || H5Tget_size(r) != size / 2) return false;
  if (!HasFields(r, size == 8 ? kSingle : kDouble)) return false;
  *bigEndian = H5Tget_order(r) == H5T_ORDER_BE;
  return true;
}

Dtype Describe(hid_t type, int depth, bool asField) {
  if (depth > kMaxNesting) Refuse("compounds or arrays nested more than " + std::to_string(kMaxNesting) + " levels deep");
  Dtype d;
  H5T_class_t cls = H5Tget_class(type);
  d.size = H5Tget_size(type);
  switch (cls) {
    case H5T_INTEGER:
      if (d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8) {
        d.kind = H5Tget_sign(type) == H5T_SGN_NONE ? Kind::Uint : Kind::Int;
        d.bigEndian = d.size > 1 && H5Tget_order(type) == H5T_ORDER_BE;
        return d;
      }
      Refuse("integer of " + std::to_string(d.size) + " bytes");
    case H5T_FLOAT:
      if ((d.size == 2 && HasFields(type, kHalf)) || (d.size == 4 && HasFields(type, kSingle)) ||
          (d.size == 8 && HasFields(type, kDouble))) {
        d.kind = Kind::Float;
        d.bigEndian = H5Tget_order(type) == H5T_ORDER_BE;
        return d;
      }
      Refuse("non-IEEE float of " + std::to_string(d.size) + " bytes");
    case H5T_ENUM: {
      Hid super(Check(H5Tget_super(type), "reading the enum's base type"));
      if (H5Tget_class(super) != H5T_INTEGER || !(d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8))
        Refuse("enum over a base that is not an integer of 1, 2, 4 or 8 bytes");
      int n = H5Tget_nmembers(type);
      if (n < 0) FailHdf5(code::kHdf5, "counting the enum members");
      if (static_cast<size_t>(n) > kMaxEnumMembers) Refuse("enum of more than " + std::to_string(kMaxEnumMembers) + " members");
      d.enumSigned = H5Tget_sign(super) != H5T_SGN_NONE;
      d.bigEndian = d.size > 1 && H5Tget_order(super) == H5T_ORDER_BE;
      std::vector<uint8_t> raw(d.size);
      for (int i = 0; i < n; i++) {
        EnumMember m;
        m.name = MemberName(type, static_cast<unsigned>(i));
        CheckErr(H5Tget_member_value(type, static_cast<unsigned>(i), raw.data()), "reading an enum member's value");
        if (!DecodeValue(raw.data(), d.size, d.bigEndian, d.enumSigned, &m.value))
          Refuse("enum member " + m.name + " has a value beyond 2^53-1, which JSON numbers cannot hold exactly");
        d.members.push_back(std::move(m));
      }
      // h5py's bool: an enum over a 1-byte integer with exactly FALSE=0 and TRUE=1.
      if (d.size == 1 && n == 2) {
        bool isBool = true;
        for (const EnumMember& m : d.members)
          if (!((m.name == "FALSE" && m.value == 0) || (m.name == "TRUE" && m.value == 1))) isBool = false;
        if (isBool && d.members[0].name != d.members[1].name) {
          Dtype b;
          b.kind = Kind::Bool;
          b.size = 1;
          return b;
        }
      }
      d.kind = Kind::Enum;
      return d;
    }
    case H5T_STRING: {
      htri_t variable = H5Tis_variable_str(type);
      if (variable < 0) FailHdf5(code::kHdf5, "reading the string type");
      if (!variable) {
        d.kind = Kind::Bytes;
        d.bytesUtf8 = H5Tget_cset(type) == H5T_CSET_UTF8;
        return d;
      }
      if (asField) Refuse("compound holding a variable-length string");
      d.kind = Kind::String;
      d.size = 0;
      d.utf8 = H5Tget_cset(type) == H5T_CSET_UTF8;
      return d;
    }
    case H5T_COMPOUND: {
      if (IsComplex(type, d.size, &d.bigEndian)) {
        d.kind = Kind::Complex;
        return d;
      }
      d.bigEndian = false;
      int n = H5Tget_nmembers(type);
      if (n < 0) FailHdf5(code::kHdf5, "counting the compound members");
      if (n == 0) Refuse("compound without members");
      if (static_cast<size_t>(n) > kMaxFields) Refuse("compound of more than " + std::to_string(kMaxFields) + " members");
      d.kind = Kind::Compound;
      for (int i = 0; i < n; i++) {
        Field f;
        f.name = MemberName(type, static_cast<unsigned>(i));
        f.offset = H5Tget_member_offset(type, static_cast<unsigned>(i));
        Hid member(Check(H5Tget_member_type(type, static_cast<unsigned>(i)), "reading a compound member's type"));
        try {
          f.dtype = Describe(member, depth + 1, true);
        } catch (Failure& failure) {
          if (failure.code == code::kType) failure.message = "compound member '" + f.name + "': " + failure.message;
          throw;
        }
        d.fields.push_back(std::move(f));
      }
      return d;
    }
    case H5T_ARRAY: {
      if (!asField) Refuse("array type outside a compound");
      int rank = H5Tget_array_ndims(type);
      if (rank <= 0) FailHdf5(code::kHdf5, "reading the array rank");
      d.kind = Kind::Array;
      d.shape.resize(rank);
      if (H5Tget_array_dims2(type, d.shape.data()) < 0) FailHdf5(code::kHdf5, "reading the array dimensions");
      Hid super(Check(H5Tget_super(type), "reading the array's element type"));
      Dtype base = Describe(super, depth + 1, true);
      if (base.kind == Kind::Array) Refuse("array of arrays");
      d.base.push_back(std::move(base));
      return d;
    }
    case H5T_VLEN: Refuse("variable-length sequence");
    case H5T_OPAQUE: Refuse("opaque");
    case H5T_REFERENCE: Refuse("reference");
    case H5T_BITFIELD: Refuse("bitfield");
    case H5T_TIME: Refuse("time");
    default: H5Eclear2(H5E_DEFAULT); Refuse("unknown class");
  }
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
      CheckErr(H5Tset_cset(t, d.bytesUtf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII), "setting the string character set");
      return t;
    }
    case Kind::String: {
      // h5py.string_dtype(): variable-length, null-terminated.
      Hid t(Check(H5Tcopy(H5T_C_S1), "copying H5T_C_S1"));
      CheckErr(H5Tset_size(t, H5T_VARIABLE), "making the string type variable-length");
      CheckErr(H5Tset_strpad(t, H5T_STR_NULLTERM), "setting the string padding");
      CheckErr(H5Tset_cset(t, d.utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII), "setting the string character set");
      return t;
    }
    case Kind::Float: return FloatType(d.size, d.bigEndian);
    case Kind::Complex: {
      // As h5py stores numpy's complex: compound {r at 0, i at size/2} of one IEEE float.
      Hid part = FloatType(d.size / 2, d.bigEndian);
      Hid t(Check(H5Tcreate(H5T_COMPOUND, d.size), "creating the complex type"));
      CheckErr(H5Tinsert(t, "r", 0, part), "inserting the real part");
      CheckErr(H5Tinsert(t, "i", d.size / 2, part), "inserting the imaginary part");
      return t;
    }
    case Kind::Enum: {
      Hid t(Check(H5Tenum_create(IntegerBase(d.enumSigned, d.size, d.bigEndian)), "creating the enum type"));
      for (const EnumMember& m : d.members) {
        std::vector<uint8_t> value = EncodeValue(m.value, d.size, d.bigEndian);
        CheckErr(H5Tenum_insert(t, m.name.c_str(), value.data()), "inserting enum member " + m.name);
      }
      return t;
    }
    case Kind::Compound: {
      Hid t(Check(H5Tcreate(H5T_COMPOUND, d.size), "creating the compound type"));
      for (const Field& f : d.fields) {
        Hid member = MakeType(f.dtype);
        CheckErr(H5Tinsert(t, f.name.c_str(), f.offset, member), "inserting compound field " + f.name);
      }
      return t;
    }
    case Kind::Array: {
      Hid base = MakeType(d.base.at(0));
      return Hid(Check(H5Tarray_create2(base, static_cast<unsigned>(d.shape.size()), d.shape.data()), "creating the array type"));
    }
    default: return Hid(Check(H5Tcopy(IntegerBase(d.kind == Kind::Int, d.size, d.bigEndian)), "copying an integer type"));
  }
}

Dtype DescribeType(hid_t type) { return Describe(type, 0, false); }

}  // namespace ph5

namespace ph5 {

std::string WriteMismatch(const Dtype& mem, const Dtype& file) {
  auto numeric = [](Kind k) { return k == Kind::Int || k == Kind::Uint || k == Kind::Float; };
  auto no = [&]() { return "cannot write " + mem.Name() + " data into a " + file.Name() + " dataset"; };
  if (mem.kind == Kind::String) return "a variable-length string memDtype cannot describe a buffer: send fixed-width bytes slots (S<n>)";
  if (file.kind == Kind::String)
    return mem.kind == Kind::Bytes ? "" : no() + " (variable-length strings take fixed-width bytes slots, S<n>)";
  if (numeric(file.kind)) return numeric(mem.kind) ? "" : no();
  if (file.kind == Kind::Enum) {
    bool integer = mem.kind == Kind::Enum || mem.kind == Kind::Int || mem.kind == Kind::Uint;
    bool sameSign = mem.kind == Kind::Enum ? mem.enumSigned == file.enumSigned : (mem.kind == Kind::Int) == file.enumSigned;
    return integer && sameSign && mem.size == file.size
               ? ""
               : no() + " (an enum takes its base integers: " + IntegerName(file.enumSigned, file.size, false) + ")";
  }
  if (mem.kind != file.kind) return no();
  if (file.kind == Kind::Compound) {
    if (mem.fields.size() != file.fields.size()) return no() + ": the fields differ";
    for (const Field& mf : mem.fields) {
      auto it = std::find_if(file.fields.begin(), file.fields.end(), [&](const Field& ff) { return ff.name == mf.name; });
      if (it == file.fields.end()) return no() + ": the dataset has no field '" + mf.name + "'";
      std::string why = WriteMismatch(mf.dtype, it->dtype);
      if (!why.empty()) return "field '" + mf.name + "': " + why;
    }
  }
  if (file.kind == Kind::Array) {
    if (mem.shape != file.shape) return no() + ": the array shapes differ";
    return WriteMismatch(mem.base.at(0), file.base.at(0));
  }
  return "";
}

Hid MemoryType(const Dtype& mem, const Dtype& file) {
  switch (file.kind) {
    case Kind::String: {
      Dtype s = file;  // the file's character set: HDF5 1.10 refuses to convert between them
      return MakeType(s);
    }
    case Kind::Bytes: {
      Dtype b = mem;  // the dataset's character set (see Dtype::bytesUtf8)
      b.bytesUtf8 = file.bytesUtf8;
      return MakeType(b);
    }
    case Kind::Enum: {
      // Enum payloads are the base integers: the dataset's own enum in the payload's byte
      // order (the same order: no conversion at all; values that are no member stay as sent).
      Dtype e = file;
      e.bigEndian = mem.bigEndian && file.size > 1;
      return MakeType(e);
    }
    case Kind::Compound: {
      if (mem.kind != Kind::Compound) break;
      Hid t(Check(H5Tcreate(H5T_COMPOUND, mem.size), "creating the memory compound type"));
      for (const Field& mf : mem.fields) {
        auto it = std::find_if(file.fields.begin(), file.fields.end(), [&](const Field& ff) { return ff.name == mf.name; });
        Hid member = it == file.fields.end() ? MakeType(mf.dtype) : MemoryType(mf.dtype, it->dtype);
        CheckErr(H5Tinsert(t, mf.name.c_str(), mf.offset, member), "inserting compound field " + mf.name);
      }
      return t;
    }
    case Kind::Array: {
      if (mem.kind != Kind::Array) break;
      Hid base = MemoryType(mem.base.at(0), file.base.at(0));
      return Hid(Check(H5Tarray_create2(base, static_cast<unsigned>(mem.shape.size()), mem.shape.data()), "creating the array type"));
    }
    default: break;
  }
  return MakeType(mem);
}

}  // namespace ph5
