// Shared pieces of the ph5 addon: the process-wide lock, the failure type every call
// throws, and the base class of every asynchronous call.
#pragma once

#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <hdf5.h>
#include <napi.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace ph5 {

// Debian's parallel HDF5 is not thread-safe, and MPI is initialised with
// MPI_THREAD_SERIALIZED: every HDF5 and MPI call in the process happens under this lock.
std::mutex& ApiLock();

// What a failed call reports to JavaScript: a stable code, a message, and HDF5's error
// stack when HDF5 was the one that failed.
struct Failure {
  std::string code;
  std::string message;
  std::string stack;
};

[[noreturn]] void Fail(const std::string& code, const std::string& message);
// Captures (and clears) HDF5's error stack, then throws. `code` is refined from the stack
// where it says more (e.g. a missing object is PH5_ERR_NOT_FOUND).
[[noreturn]] void FailHdf5(const std::string& code, const std::string& what);
[[noreturn]] void FailMpi(int err, const std::string& what);

// Throws a JS error of the class registered with setErrorClass.
Napi::Error MakeError(Napi::Env env, const Failure& f);
void SetErrorClass(const Napi::CallbackInfo& info);

// An HDF5 id that closes itself: every id opened inside a call is closed before it returns.
class Hid {
 public:
  Hid() = default;
  explicit Hid(hid_t id) : id_(id) {}
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  Hid(Hid&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      Close();
      id_ = o.id_;
      o.id_ = -1;
    }
    return *this;
  }
  ~Hid() { Close(); }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void Close();

 private:
  hid_t id_ = -1;
};

// Checks an HDF5 return value; throws with the HDF5 stack when it signals failure.
inline hid_t Check(hid_t id, const char* what, const char* code = "PH5_ERR_HDF5") {
  if (id < 0) FailHdf5(code, what);
  return id;
}
inline herr_t CheckErr(herr_t err, const char* what, const char* code = "PH5_ERR_HDF5") {
  if (err < 0) FailHdf5(code, what);
  return err;
}

// Base of every asynchronous call: Execute() runs Run() on a libuv pool thread, and any
// Failure or C++ exception becomes a rejected Promise with a ph5 error, never a crash.
class AsyncCall : public Napi::AsyncWorker {
 public:
  explicit AsyncCall(Napi::Env env, const char* name);
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  // Runs on a worker thread. Must not touch JS values.
  virtual void Run() = 0;
  // Runs on the JS thread after success.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

 private:
  void Execute() final;
  void OnOK() final;
  void OnError(const Napi::Error& e) final;

  Napi::Promise::Deferred deferred_;
  Failure failure_;
};

// Helpers for reading JS arguments; they throw a PH5_ERR_ARGUMENT error synchronously.
std::vector<hsize_t> ToDims(Napi::Env env, const Napi::Value& v, const char* what);
std::string ToString(Napi::Env env, const Napi::Value& v, const char* what);
[[noreturn]] void ThrowArgument(Napi::Env env, const std::string& message);

// Registration of each part's functions.
void InitMpi(Napi::Env env, Napi::Object exports);
void InitH5(Napi::Env env, Napi::Object exports);

}  // namespace ph5
