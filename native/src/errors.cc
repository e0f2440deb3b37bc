// Errors: HDF5's stack captured as text, MPI error strings, the JS error class, and the
// wrapper that keeps every C++ exception out of Node.
#include <cstring>
#include <memory>

#include "common.h"

namespace ph5 {

namespace {

struct Exported {
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};

// What the addon keeps per Node environment, owned by the environment (instance data):
// freed when that environment is torn down, while N-API still works. A static
// FunctionReference would instead be destroyed by a C++ exit handler after Node has freed
// the environment (valgrind: invalid write at exit).
struct AddonData {
  Napi::FunctionReference errorClass;               // Ph5NativeError, from setErrorClass
  std::vector<std::unique_ptr<Exported>> exported;  // the data of each exported function
};

// JS thread only.
AddonData& Data(Napi::Env env) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data == nullptr) {
    data = new AddonData();
    env.SetInstanceData(data);  // deleted by node-addon-api's default finalizer
  }
  return *data;
}

struct StackWalk {
  std::string text;
  std::string innermost;
  const char* code = nullptr;  // refined code, when a minor error number says more
};

herr_t WalkOne(unsigned n, const H5E_error2_t* e, void* data) {
  auto* walk = static_cast<StackWalk*>(data);
  char major[128] = "", minor[128] = "";
  H5Eget_msg(e->maj_num, nullptr, major, sizeof major);
  H5Eget_msg(e->min_num, nullptr, minor, sizeof minor);
  const char* desc = e->desc ? e->desc : "";
  std::string line = "#" + std::to_string(n) + " " + (e->func_name ? e->func_name : "?") + "() " + (e->file_name ? e->file_name : "?") +
                     ":" + std::to_string(e->line) + ": " + desc + " [" + major + ": " + minor + "]";
  if (!walk->text.empty()) walk->text += "\n";
  walk->text += line;
  if (*desc) walk->innermost = std::string(desc) + " (" + minor + ")";
  // Error numbers are HDF5 ids, set once the library is open (it is: it just failed). The
  // _g globals are read directly: the H5E_* macros would call H5open() inside the walk.
  if (e->min_num == H5E_NOTFOUND_g) {
    walk->code = code::kNotFound;
  } else if (e->min_num == H5E_EXISTS_g || e->min_num == H5E_ALREADYEXISTS_g) {
    walk->code = code::kExists;
  } else if (e->min_num == H5E_CANTCONVERT_g || e->min_num == H5E_UNSUPPORTED_g) {
    if (!walk->code && e->maj_num == H5E_DATATYPE_g) walk->code = code::kType;
  } else if (e->min_num == H5E_CANTOPENFILE_g && std::strstr(desc, "errno = 2,") != nullptr) {
    walk->code = code::kNotFound;  // ENOENT from the file driver
  }
  return 0;
}

}  // namespace

void SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) ThrowArgument(info.Env(), "setErrorClass expects a constructor");
  Data(info.Env()).errorClass = Napi::Persistent(info[0].As<Napi::Function>());
}

Napi::Error MakeError(Napi::Env env, const Failure& f) {
  Napi::FunctionReference& cls = Data(env).errorClass;
  if (!cls.IsEmpty()) {
    Napi::Object err = cls.New({Napi::String::New(env, f.message), Napi::String::New(env, f.code), Napi::String::New(env, f.stack)});
    return Napi::Error(env, err);
  }
  Napi::Error err = Napi::Error::New(env, f.message);
  err.Set("code", Napi::String::New(env, f.code));
  err.Set("hdf5Stack", Napi::String::New(env, f.stack));
  return err;
}

[[noreturn]] void ThrowArgument(Napi::Env env, const std::string& message) { throw MakeError(env, Failure{code::kArgument, message, ""}); }

[[noreturn]] void Fail(const char* code, const std::string& message) { throw Failure{code, message, ""}; }

[[noreturn]] void FailHdf5(const char* code, const std::string& what) {
  StackWalk walk;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, WalkOne, &walk);
  H5Eclear2(H5E_DEFAULT);
  const char* refined = code;
  if (std::strcmp(code, code::kHdf5) == 0 && walk.code) refined = walk.code;
  std::string message = what;
  if (!walk.innermost.empty()) message += ": " + walk.innermost;
  throw Failure{refined, message, walk.text};
}

[[noreturn]] void FailMpi(int err, const std::string& what) {
  char text[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  if (MPI_Error_string(err, text, &len) != MPI_SUCCESS) len = 0;
  throw Failure{code::kMpi, what + " failed: " + (len > 0 ? std::string(text, len) : "MPI error " + std::to_string(err)), ""};
}

void EnsureHdf5() {
  // Errors reach JS with their stack; HDF5 must not print them on stderr as well. Set on
  // every call (it is cheap): H5close() at MPI_Finalize resets it.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

namespace {
Napi::Value CallExported(const Napi::CallbackInfo& info) {
  auto* e = static_cast<Exported*>(info.Data());
  Napi::Env env = info.Env();
  try {
    return e->fn(info);
  } catch (const Napi::Error&) {
    throw;  // node-addon-api turns it into a JS exception
  } catch (const Failure& f) {
    throw MakeError(env, f);
  } catch (const std::exception& x) {
    throw MakeError(env, Failure{code::kHdf5, std::string("internal error: ") + x.what(), ""});
  } catch (...) {
    throw MakeError(env, Failure{code::kHdf5, "internal error", ""});
  }
}
}  // namespace

Napi::Function Export(Napi::Env env, const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  // One small allocation per exported function, owned by the environment's AddonData.
  AddonData& data = Data(env);
  data.exported.push_back(std::make_unique<Exported>(Exported{fn}));
  return Napi::Function::New(env, CallExported, name, data.exported.back().get());
}

}  // namespace ph5
