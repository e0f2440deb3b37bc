// Attributes on files (the root group "/"), groups and datasets: numeric scalars and
// arrays in any fixed-size ph5 dtype (numbers, bool, bytes, complex, enum, compound), strings
// fixed- or variable-length, UTF-8 or ASCII; write (create or replace), read, list, delete.
//
// On a parallel file, HDF5 requires every rank to make the same attribute calls with the
// same values (metadata is written collectively), like every other ph5 call there.
#include <cstring>
#include <numeric>
#include <utility>

#include "dtype.h"
#include "h5_common.h"

namespace ph5 {

namespace {

struct AttributeValue {
  bool isString = false;
  // numeric (also bool and bytes dtypes)
  Dtype dtype;
  std::vector<hsize_t> shape;  // empty: scalar
  std::vector<uint8_t> data;
  // strings
  std::vector<std::string> strings;
  size_t fixedLength = 0;  // 0: variable-length
  std::string cset = "utf8";
};

hsize_t Elements(const std::vector<hsize_t>& shape) {
  hsize_t n = 1;
  for (hsize_t d : shape) n *= d;
  return n;
}

void CheckName(Napi::Env env, const std::string& name) {
  if (name.empty()) ThrowArgument(env, "an attribute name must not be empty");
  if (name == ".") ThrowArgument(env, "'.' is not an attribute name");
}

void CheckObjectPath(Napi::Env env, const std::string& path) {
  if (path.empty()) ThrowArgument(env, "an object path must not be empty (the file's root group is '/')");
}

// {kind: 'numeric', dtype, shape, data} or {kind: 'string', value, length?} (JS thread).
AttributeValue ToValue(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject()) ThrowArgument(env, "an attribute value must be an object {kind, ...}");
  Napi::Object o = v.As<Napi::Object>();
  std::string kind = ToString(env, o.Get("kind"), "value.kind");
  AttributeValue a;
  if (kind == "numeric") {
    a.dtype = ToDtype(env, o.Get("dtype"), "value.dtype");
    if (a.dtype.VariableLength()) ThrowArgument(env, "a numeric attribute has a fixed-size dtype: write strings with kind 'string'");
    a.shape = ToDims(env, o.Get("shape"), "value.shape", false);
    Napi::Value data = o.Get("data");
    if (!data.IsBuffer()) ThrowArgument(env, "value.data must be a Buffer");
    auto b = data.As<Napi::Buffer<uint8_t>>();
    double need = static_cast<double>(a.dtype.size);
    for (hsize_t d : a.shape) need *= static_cast<double>(d);
    if (need != static_cast<double>(b.Length()))
      ThrowArgument(env, "value.data has " + std::to_string(b.Length()) + " bytes, the shape and dtype need " +
                             std::to_string(static_cast<uint64_t>(need)));
    // Attributes are small: a copy keeps the call independent of the JS Buffer.
    a.data.assign(b.Data(), b.Data() + b.Length());
    return a;
  }
  if (kind != "string") ThrowArgument(env, "value.kind must be 'numeric' or 'string'");
  a.isString = true;
  Napi::Value value = o.Get("value");
  if (value.IsArray()) {
    Napi::Array arr = value.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) a.strings.push_back(ToString(env, arr.Get(i), "value.value[" + std::to_string(i) + "]"));
    a.shape = {arr.Length()};
  } else {
    a.strings.push_back(ToString(env, value, "value.value"));
  }
  Napi::Value cset = o.Get("cset");
  if (!cset.IsUndefined() && !cset.IsNull()) {
    a.cset = ToString(env, cset, "value.cset");
    if (a.cset != "utf8" && a.cset != "ascii") ThrowArgument(env, "value.cset must be 'utf8' or 'ascii'");
  }
  Napi::Value length = o.Get("length");
  if (!length.IsUndefined() && !length.IsNull()) {
    if (!length.IsNumber()) ThrowArgument(env, "value.length must be a positive integer (bytes) or null");
    double l = length.As<Napi::Number>().DoubleValue();
    if (!(l >= 1 && l <= 1e9) || l != static_cast<double>(static_cast<size_t>(l)))
      ThrowArgument(env, "value.length must be a positive integer (bytes) or null");
    a.fixedLength = static_cast<size_t>(l);
    for (auto& s : a.strings)
      if (s.size() > a.fixedLength)
        ThrowArgument(env, "the string '" + s.substr(0, 40) + "' has " + std::to_string(s.size()) + " UTF-8 bytes, more than length " +
                               std::to_string(a.fixedLength));
  }
  return a;
}

Hid StringType(size_t fixedLength, H5T_cset_t cset) {
  Hid t(Check(H5Tcopy(H5T_C_S1), "copying H5T_C_S1"));
  if (fixedLength == 0) {
    CheckErr(H5Tset_size(t, H5T_VARIABLE), "making the string type variable-length");
    CheckErr(H5Tset_strpad(t, H5T_STR_NULLTERM), "setting the string padding");
  } else {
    CheckErr(H5Tset_size(t, fixedLength), "setting the string size");
    CheckErr(H5Tset_strpad(t, H5T_STR_NULLPAD), "setting the string padding");
  }
  CheckErr(H5Tset_cset(t, cset), "setting the character set");
  return t;
}

Hid AttributeSpace(const std::vector<hsize_t>& shape) {
  if (shape.empty()) return Hid(Check(H5Screate(H5S_SCALAR), "creating a scalar dataspace"));
  return Hid(Check(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr), "creating the dataspace"));
}

void RequireAttribute(hid_t object, const std::string& path, const std::string& name) {
  htri_t e = H5Aexists(object, name.c_str());
  if (e < 0) FailHdf5(code::kHdf5, "looking up attribute " + name + " of " + path);
  if (e == 0) Fail(code::kNotFound, path + " has no attribute " + name);
}

class AttributeWriteCall : public FileCall {
 public:
  AttributeWriteCall(Napi::Env env, uint32_t handle, std::string path, std::string name, AttributeValue value)
      : FileCall(env, "ph5.attributeWrite", handle), path_(std::move(path)), name_(std::move(name)), value_(std::move(value)) {}

 protected:
  void RunOnFile(const OpenFile& f) override {
    RequireWritable(f, "write attribute " + name_ + " of " + path_);
    Hid object = OpenObject(f.id, path_);
    // Replace: the new value may have another type or shape, which H5Awrite cannot change.
    htri_t e = H5Aexists(object, name_.c_str());
    if (e < 0) FailHdf5(code::kHdf5, "looking up attribute " + name_ + " of " + path_);
    if (e > 0) CheckErr(H5Adelete(object, name_.c_str()), "replacing attribute " + name_ + " of " + path_);
    Hid type =
        value_.isString ? StringType(value_.fixedLength, value_.cset == "ascii" ? H5T_CSET_ASCII : H5T_CSET_UTF8) : MakeType(value_.dtype);
    Hid space = AttributeSpace(value_.shape);
    Hid acpl(Check(H5Pcreate(H5P_ATTRIBUTE_CREATE), "creating the attribute creation list"));
    CheckErr(H5Pset_char_encoding(acpl, H5T_CSET_UTF8), "setting the name encoding");  // as h5py does
    Hid attr(Check(H5Acreate2(object, name_.c_str(), type, space, acpl, H5P_DEFAULT), "creating attribute " + name_ + " of " + path_));
    if (!value_.isString) {
      CheckErr(H5Awrite(attr, type, value_.data.data()), "writing attribute " + name_);
    } else if (value_.fixedLength == 0) {
      std::vector<const char*> pointers;
      for (auto& s : value_.strings) pointers.push_back(s.c_str());
      CheckErr(H5Awrite(attr, type, pointers.data()), "writing attribute " + name_);
    } else {
      std::vector<char> bytes(value_.strings.size() * value_.fixedLength, '\0');
      for (size_t i = 0; i < value_.strings.size(); i++)
        std::memcpy(bytes.data() + i * value_.fixedLength, value_.strings[i].data(), value_.strings[i].size());
      CheckErr(H5Awrite(attr, type, bytes.data()), "writing attribute " + name_);
    }
  }

 private:
  std::string path_, name_;
  AttributeValue value_;
};

class AttributeReadCall : public FileCall {
 public:
  AttributeReadCall(Napi::Env env, uint32_t handle, std::string path, std::string name)
      : FileCall(env, "ph5.attributeRead", handle), path_(std::move(path)), name_(std::move(name)) {}

 protected:
  void RunOnFile(const OpenFile& f) override {
    Hid object = OpenObject(f.id, path_);
    RequireAttribute(object, path_, name_);
    Hid attr(Check(H5Aopen(object, name_.c_str(), H5P_DEFAULT), "opening attribute " + name_));
    Hid type(Check(H5Aget_type(attr), "reading the attribute type"));
    Hid space(Check(H5Aget_space(attr), "reading the attribute dataspace"));
    H5S_class_t spaceClass = H5Sget_simple_extent_type(space);
    if (spaceClass == H5S_NULL) Fail(code::kType, "attribute " + name_ + " of " + path_ + " is empty (null dataspace)");
    value_.shape = Extent(space);
    hsize_t n = Elements(value_.shape);
    if (H5Tget_class(type) == H5T_STRING) {
      value_.isString = true;
      H5T_cset_t cset = H5Tget_cset(type);
      value_.cset = cset == H5T_CSET_UTF8 ? "utf8" : "ascii";
      htri_t variable = H5Tis_variable_str(type);
      if (variable < 0) FailHdf5(code::kHdf5, "reading the string type");
      if (variable) {
        Hid mem = StringType(0, cset);
        std::vector<char*> pointers(n, nullptr);
        CheckErr(H5Aread(attr, mem, pointers.data()), "reading attribute " + name_);
        for (char* p : pointers) value_.strings.emplace_back(p ? p : "");
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, pointers.data());
      } else {
        size_t size = H5Tget_size(type);
        value_.fixedLength = size;
        std::vector<char> bytes(n * size);
        CheckErr(H5Aread(attr, type, bytes.data()), "reading attribute " + name_);
        for (hsize_t i = 0; i < n; i++) {
          const char* s = bytes.data() + i * size;
          value_.strings.emplace_back(s, strnlen(s, size));  // null-padded or null-terminated
        }
      }
      return;
    }
    value_.dtype = DescribeType(type);  // PH5_ERR_TYPE for references, vlen sequences, ...
    value_.data.resize(n * value_.dtype.size);
    if (n > 0) CheckErr(H5Aread(attr, type, value_.data.data()), "reading attribute " + name_);
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("shape", ToArray(env, value_.shape));
    if (!value_.isString) {
      o.Set("kind", "numeric");
      o.Set("dtype", FromDtype(env, value_.dtype));
      o.Set("data", Napi::Buffer<uint8_t>::Copy(env, value_.data.data(), value_.data.size()));
      return o;
    }
    o.Set("kind", "string");
    if (value_.shape.empty()) {
      o.Set("value", value_.strings.empty() ? std::string() : value_.strings[0]);
    } else {
      Napi::Array a = Napi::Array::New(env, value_.strings.size());
      for (size_t i = 0; i < value_.strings.size(); i++) a.Set(static_cast<uint32_t>(i), value_.strings[i]);
      o.Set("value", a);
    }
    o.Set("length", value_.fixedLength == 0 ? env.Null() : Napi::Value(Napi::Number::New(env, static_cast<double>(value_.fixedLength))));
    o.Set("cset", value_.cset);
    return o;
  }

 private:
  std::string path_, name_;
  AttributeValue value_;
};

class AttributeListCall : public FileCall {
 public:
  AttributeListCall(Napi::Env env, uint32_t handle, std::string path)
      : FileCall(env, "ph5.attributeList", handle), path_(std::move(path)) {}

 protected:
  void RunOnFile(const OpenFile& f) override {
    Hid object = OpenObject(f.id, path_);
    hsize_t index = 0;
    auto collect = [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
      try {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      } catch (...) {
        return -1;
      }
    };
    CheckErr(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, collect, &names_), "listing the attributes of " + path_);
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array a = Napi::Array::New(env, names_.size());
    for (size_t i = 0; i < names_.size(); i++) a.Set(static_cast<uint32_t>(i), names_[i]);
    return a;
  }

 private:
  std::string path_;
  std::vector<std::string> names_;
};

class AttributeDeleteCall : public FileCall {
 public:
  AttributeDeleteCall(Napi::Env env, uint32_t handle, std::string path, std::string name)
      : FileCall(env, "ph5.attributeDelete", handle), path_(std::move(path)), name_(std::move(name)) {}

 protected:
  void RunOnFile(const OpenFile& f) override {
    RequireWritable(f, "delete attribute " + name_ + " of " + path_);
    Hid object = OpenObject(f.id, path_);
    RequireAttribute(object, path_, name_);
    CheckErr(H5Adelete(object, name_.c_str()), "deleting attribute " + name_ + " of " + path_);
  }

 private:
  std::string path_, name_;
};

// The (handle, object path[, attribute name]) every attribute call starts with, checked.
struct Target {
  uint32_t handle;
  std::string path;
  std::string name;
};

Target ParseTarget(const Napi::CallbackInfo& info, bool withName) {
  Napi::Env env = info.Env();
  Target t{HandleArg(info), ToString(env, info[1], "path"), {}};
  CheckObjectPath(env, t.path);
  if (withName) {
    t.name = ToString(env, info[2], "name");
    CheckName(env, t.name);
  }
  return t;
}

Napi::Value AttributeWrite(const Napi::CallbackInfo& info) {
  Target t = ParseTarget(info, true);
  return (new AttributeWriteCall(info.Env(), t.handle, t.path, t.name, ToValue(info.Env(), info[3])))->Start();
}

Napi::Value AttributeRead(const Napi::CallbackInfo& info) {
  Target t = ParseTarget(info, true);
  return (new AttributeReadCall(info.Env(), t.handle, t.path, t.name))->Start();
}

Napi::Value AttributeList(const Napi::CallbackInfo& info) {
  Target t = ParseTarget(info, false);
  return (new AttributeListCall(info.Env(), t.handle, t.path))->Start();
}

Napi::Value AttributeDelete(const Napi::CallbackInfo& info) {
  Target t = ParseTarget(info, true);
  return (new AttributeDeleteCall(info.Env(), t.handle, t.path, t.name))->Start();
}

}  // namespace

void InitAttributes(Napi::Env env, Napi::Object exports) {
  exports.Set("attributeWrite", Export(env, "attributeWrite", AttributeWrite));
  exports.Set("attributeRead", Export(env, "attributeRead", AttributeRead));
  exports.Set("attributeList", Export(env, "attributeList", AttributeList));
  exports.Set("attributeDelete", Export(env, "attributeDelete", AttributeDelete));
}

}  // namespace ph5
