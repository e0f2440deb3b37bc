// Entry point of the ph5 native addon: registers the MPI and HDF5 functions.
#include "common.h"

namespace ph5 {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  InitMpi(env, exports);
  InitH5(env, exports);
  return exports;
}

}  // namespace ph5

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return ph5::Init(env, exports); }

NODE_API_MODULE(ph5_native, InitAddon)
