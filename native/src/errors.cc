// Errors: HDF5's stack captured as text, MPI error strings, and the JS error class.
#include "common.h"

#include <cstring>

namespace ph5 {

std::mutex& ApiLock() {
  static std::mutex lock;
  return lock;
}

static Napi::FunctionReference& ErrorClass() {
  static Napi::FunctionReference ref;
  return ref;
}

void SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) ThrowArgument(info.Env(), "setErrorClass expects a constructor");
  ErrorClass() = Napi::Persistent(info[0].As<Napi::Function>());
}

[[noreturn]] void ThrowArgument(Napi::Env env, const std::string& message) {
  throw MakeError(env, Failure{"PH5_ERR_ARGUMENT", message, ""});
}

Napi::Error MakeError(Napi::Env env, const Failure& f) {
  Napi::FunctionReference& cls = ErrorClass();
  if (!cls.IsEmpty()) {
    Napi::Object err = cls.New({Napi::String::New(env, f.message), Napi::String::New(env, f.code), Napi::String::New(env, f.stack)});
    return Napi::Error(env, err);
  }
  Napi::Error err = Napi::Error::New(env, f.message);
  err.Set("code", Napi::String::New(env, f.code));
  err.Set("hdf5Stack", Napi::String::New(env, f.stack));
  return err;
}

[[noreturn]] void Fail(const std::string& code, const std::string& message) { throw Failure{code, message, ""}; }

namespace {
struct StackWalk {
  std::string text;
  std::string innermost;
  bool notFound = false;
  bool exists = false;
};

herr_t WalkOne(unsigned n, const H5E_error2_t* e, void* data) {
  auto* walk = static_cast<StackWalk*>(data);
  char major[256] = "", minor[256] = "";
  H5Eget_msg(e->maj_num, nullptr, major, sizeof major);
  H5Eget_msg(e->min_num, nullptr, minor, sizeof minor);
  std::string line = "#" + std::to_string(n) + " " + (e->func_name ? e->func_name : "?") + "(): " + (e->desc ? e->desc : "") +
                     " [" + major + " / " + minor + "]";
  if (!walk->text.empty()) walk->text += "\n";
  walk->text += line;
  if (e->desc && *e->desc) walk->innermost = std::string(e->desc) + " (" + minor + ")";
  std::string m = minor;
  if (m.find("not found") != std::string::npos || m.find("doesn't exist") != std::string::npos ||
      m.find("Object not found") != std::string::npos)
    walk->notFound = true;
  if (m.find("already exists") != std::string::npos) walk->exists = true;
  return 0;
}
}  // namespace

[[noreturn]] void FailHdf5(const std::string& code, const std::string& what) {
  StackWalk walk;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, WalkOne, &walk);
  H5Eclear2(H5E_DEFAULT);
  std::string refined = code;
  if (code == "PH5_ERR_HDF5") {
    if (walk.notFound) refined = "PH5_ERR_NOT_FOUND";
    else if (walk.exists) refined = "PH5_ERR_EXISTS";
  }
  std::string message = what;
  if (!walk.innermost.empty()) message += ": " + walk.innermost;
  throw Failure{refined, message, walk.text};
}

[[noreturn]] void FailMpi(int err, const std::string& what) {
  char text[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(err, text, &len);
  throw Failure{"PH5_ERR_MPI", what + ": " + std::string(text, len), ""};
}

void Hid::Close() {
  if (id_ < 0) return;
  // Close by kind: each HDF5 object kind has its own close call.
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: break;
  }
  id_ = -1;
}

AsyncCall::AsyncCall(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}

void AsyncCall::Execute() {
  try {
    Run();
  } catch (const Failure& f) {
    failure_ = f;
    SetError(f.message);
  } catch (const std::exception& e) {
    failure_ = Failure{"PH5_ERR_HDF5", std::string("internal error: ") + e.what(), ""};
    SetError(failure_.message);
  } catch (...) {
    failure_ = Failure{"PH5_ERR_HDF5", "internal error", ""};
    SetError(failure_.message);
  }
}

void AsyncCall::OnOK() {
  Napi::Env env = Env();
  try {
    deferred_.Resolve(Result(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

void AsyncCall::OnError(const Napi::Error&) { deferred_.Reject(MakeError(Env(), failure_).Value()); }

std::vector<hsize_t> ToDims(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) ThrowArgument(env, std::string(what) + " must be an array of non-negative integers");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > H5S_MAX_RANK) ThrowArgument(env, std::string(what) + " has more than 32 dimensions");
  std::vector<hsize_t> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value x = a.Get(i);
    if (!x.IsNumber()) ThrowArgument(env, std::string(what) + " must contain numbers");
    double d = x.As<Napi::Number>().DoubleValue();
    if (d == -1) {
      out.push_back(H5S_UNLIMITED);
      continue;
    }
    if (!(d >= 0) || d != static_cast<double>(static_cast<uint64_t>(d)) || d > 9007199254740991.0)
      ThrowArgument(env, std::string(what) + " must contain non-negative integers");
    out.push_back(static_cast<hsize_t>(d));
  }
  return out;
}

std::string ToString(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsString()) ThrowArgument(env, std::string(what) + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) ThrowArgument(env, std::string(what) + " must not contain NUL");
  return s;
}

}  // namespace ph5
