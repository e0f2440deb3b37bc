// Entry point of the ph5 native addon: registers the MPI, HDF5 and staging I/O functions.
#include "common.h"

namespace ph5 {

static Napi::Value SetErrorClassExport(const Napi::CallbackInfo& info) {
  SetErrorClass(info);
  return info.Env().Undefined();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // One Node environment owns the addon at a time; its teardown closes what it can
  // (env_lifecycle.cc says what, and why not parallel files).
  ClaimEnvironment(env);
  exports.Set("setErrorClass", Export(env, "setErrorClass", SetErrorClassExport));
  InitMpi(env, exports);
  InitH5(env, exports);
  InitStagingIo(env, exports);
  return exports;
}

}  // namespace ph5

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return ph5::Init(env, exports); }

NODE_API_MODULE(ph5_native, InitAddon)
